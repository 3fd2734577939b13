"""What every pure function of :mod:`mmseg_sipe.models.functional` shares:
the reference's epsilons, float32 math with autocast off, input checks and
the reference feature norm.

Precision and devices: the functions decorated with :func:`float32_math`
compute in float32, whatever the dtype of their inputs (bf16/fp16), and
with autocast switched off for the inputs' device, so an AMP region around
the network cannot push the seed / prototype / normalisation math back to
half precision.  Nothing here moves tensors between devices.
"""
import functools
from contextlib import nullcontext
from typing import Callable, Optional

import torch
from torch import Tensor

__all__ = [
    'NORM_EPS', 'COSINE_EPS', 'f32', 'float32_math', 'check_4d',
    'check_grid', 'check_label_mask', 'l2_normalize'
]

# Reference constants.
NORM_EPS = 1e-5  # feature L2 norm and CAM max-normalisation eps
COSINE_EPS = 1e-8  # torch.nn.functional.cosine_similarity default eps


def f32(x: Tensor) -> Tensor:
    """``x`` as float32 (no copy when it already is)."""
    return x if x.dtype == torch.float32 else x.float()


def _first_device(args, kwargs) -> Optional[torch.device]:
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, Tensor):
            return a.device
        if isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, Tensor):
                    return b.device
    return None


def _autocast_off(device: Optional[torch.device]):
    """A context that disables autocast for ``device`` (no-op if unknown)."""
    if device is None:
        return nullcontext()
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except (RuntimeError, ValueError):  # device type without autocast
        return nullcontext()


def float32_math(fn: Callable) -> Callable:
    """Run ``fn`` with autocast disabled on its inputs' device."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _autocast_off(_first_device(args, kwargs)):
            return fn(*args, **kwargs)

    return wrapper


def check_4d(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f'{name} must be a [N, C, h, w] tensor, got {shape}')


def check_grid(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape[0] != b.shape[0] or a.shape[-2:] != b.shape[-2:]:
        raise ValueError(
            f'{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must '
            'share batch size and spatial grid')


def check_label_mask(label_mask: Tensor, like: Tensor) -> Tensor:
    """``label_mask`` as float32, after checking that it broadcasts to the
    seeds ``like`` (``[N, K+1, h, w]``)."""
    mask = f32(label_mask)
    try:
        ok = torch.broadcast_shapes(mask.shape, like.shape) == like.shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f'label_mask {tuple(mask.shape)} does not broadcast to the seeds '
            f'{tuple(like.shape)}')
    return mask


@float32_math
def l2_normalize(x: Tensor, dim: int = 1, eps: float = NORM_EPS) -> Tensor:
    """``x / (||x||_2 + eps)`` along ``dim`` (the reference feature norm).

    Note the eps is *added* to the norm (not a clamp), as in the reference;
    a zero vector maps to zero.

    Args:
        x: any shape, e.g. ``[N, C, h, w]`` with ``dim=1``.

    Returns:
        float32 tensor of the shape of ``x``.
    """
    x = f32(x)
    return x / (torch.norm(x, p=2, dim=dim, keepdim=True) + eps)


