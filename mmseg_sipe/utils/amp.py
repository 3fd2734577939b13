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
