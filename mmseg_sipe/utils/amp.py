"""Mixed precision on any device: ``amp`` names ('bf16', 'fp16'), the
autocast context used by IS-CAM inference, and the check that rejects a
low-precision type the device has no fast kernels for."""
import contextlib
import warnings
from typing import Optional

import torch

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def _fast_half_on_cpu(dtype: torch.dtype) -> bool:
    """Whether oneDNN has native kernels for ``dtype`` on this CPU (private
    torch probes; assume yes when they are missing)."""
    probe = {
        torch.bfloat16: '_is_mkldnn_bf16_supported',
        torch.float16: '_is_mkldnn_fp16_supported'
    }[dtype]
    try:
        return bool(getattr(torch.ops.mkldnn, probe)())
    except (AttributeError, RuntimeError):
        return True


def autocast_context(device: torch.device, amp: Optional[str]):
    """``torch.autocast`` for ``amp`` in {None, 'bf16', 'fp16'}.

    Raises:
        ValueError: unknown ``amp``, or ``'fp16'`` on a CPU without native
            float16 kernels (torch then falls back to a reference path some
            hundreds of times slower than float32; use ``'bf16'`` on CPU).
    """
    if not amp:
        return contextlib.nullcontext()
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    device = torch.device(device)
    dtype = AMP_DTYPES[amp]
    if device.type == 'cpu' and not _fast_half_on_cpu(dtype):
        if dtype == torch.float16:
            raise ValueError(
                "amp='fp16' is not supported on this CPU: it has no native "
                'float16 kernels (oneDNN reports none), so torch would run a '
                "slow reference path. Use amp='bf16' on CPU, or fp16 on a "
                'CUDA device.')
        warnings.warn("amp='bf16': this CPU has no native bfloat16 kernels; "
                      'expect it to be slower than float32')
    return torch.autocast(device_type=device.type, dtype=dtype)


def native_amp(device: Optional[torch.device] = None) -> Optional[str]:
    """The low-precision type ``device`` has fast kernels for, or None.

    ``'fp16'`` on CUDA, ``'bf16'`` on a CPU whose oneDNN reports native
    bfloat16 kernels (AVX512-BF16 or AMX), None on other CPUs (bfloat16
    would run a slower reference path there).  ``device`` None: CUDA when
    available, else the CPU.
    """
    if device is None:
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    device = torch.device(device)
    if device.type == 'cuda':
        return 'fp16'
    if device.type == 'cpu' and _fast_half_on_cpu(torch.bfloat16):
        return 'bf16'
    return None
