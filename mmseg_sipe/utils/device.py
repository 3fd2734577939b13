"""Host -> device copies and precision flags that behave the same on every
device.

* :func:`to_device` copies a host tensor to a CUDA device through pinned
  memory with ``non_blocking=True``.  A plain ``tensor.to('cuda')`` from
  pageable memory ends with a stream synchronisation: the host waits for all
  queued GPU work, once per copy (per scale in IS-CAM inference, per step in
  a loss).  Elsewhere (CPU, ``meta``, a tensor already on a device) it is
  ``tensor.to(device)``.
* :func:`tf32` sets TensorFloat-32 for cuDNN convolutions and cuBLAS matrix
  products inside a block and restores the previous settings; it touches
  nothing for a non-CUDA device.  The exact (float32) paths use it with
  ``enabled=False`` so that their numbers do not depend on the process-wide
  flags (PyTorch's defaults: TF32 convolutions on, TF32 matmuls off).
"""
import contextlib
from typing import Iterator, Union

import torch

DeviceLike = Union[str, torch.device]


def to_device(tensor: torch.Tensor, device: DeviceLike) -> torch.Tensor:
    """``tensor`` on ``device``; CUDA copies from the host do not block.

    The pinned staging buffer comes from PyTorch's caching host allocator,
    which keeps it alive until the copy has finished, so the source may be
    freed or overwritten right after the call.  Values are unchanged (no
    dtype conversion happens here).
    """
    device = torch.device(device)
    if device.type == 'cuda' and tensor.device.type == 'cpu':
        if not tensor.is_pinned():
            tensor = tensor.pin_memory()
        return tensor.to(device, non_blocking=True)
    return tensor.to(device)


@contextlib.contextmanager
def tf32(device: DeviceLike, enabled: bool) -> Iterator[None]:
    """TF32 for cuDNN convolutions and CUDA matmuls set to ``enabled``
    inside the block when ``device`` is a CUDA device (previous settings
    restored on exit); a no-op for any other device."""
    if torch.device(device).type != 'cuda':
        yield
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    old = (cudnn.allow_tf32, matmul.allow_tf32)
    cudnn.allow_tf32 = bool(enabled)
    matmul.allow_tf32 = bool(enabled)
    try:
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = old
