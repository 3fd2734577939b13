"""SFC's per-class loss weights (``docs/method.md`` §17.3): from class
statistics of the training set (:mod:`mmseg_sipe.datasets.class_stats`) to
the ``[K]`` weights of the consistency losses in :mod:`.sfc`."""
from typing import Optional, Sequence

import torch
from torch import Tensor

from .common import f32

__all__ = ['class_balance_weights', 'foreground_weights']


def class_balance_weights(pixel_counts: Sequence[float],
                          image_counts: Sequence[float],
                          extra_images: float) -> Tensor:
    """Per-class loss weights (§17.3, reference ``train``)::

        a_k = P_k / (I_k + E);   a = a / mean_k(a)

    ``P_k`` the class's pixel count, ``I_k`` its number of training images,
    ``E`` the images the image bank adds per class (the reference's
    ``660 * 4 * 3 / 20``).  The weights average to 1 over the classes that
    have images; a class with ``I_k = 0`` never appears in training and gets
    weight 1, outside the mean (on VOC and COCO every class has images, so
    this is the reference formula; on the 4-class demo it keeps the 16
    unused VOC classes from diluting the mean).

    Args:
        pixel_counts, image_counts: ``K`` non-negative numbers each, in class
            order (foreground class ``k`` first at index 0).
        extra_images: ``E``.

    Returns:
        ``[K]`` float32 (CPU).

    Raises:
        ValueError: lengths differ, a count is negative or not finite, a
            denominator is not positive, or no class has images and
            pixels.
    """
    p = torch.as_tensor(pixel_counts, dtype=torch.float64).flatten()
    i = torch.as_tensor(image_counts, dtype=torch.float64).flatten()
    if p.numel() != i.numel() or p.numel() == 0:
        raise ValueError(f'pixel_counts ({p.numel()}) and image_counts '
                         f'({i.numel()}) must give one number per class')
    for name, x in (('pixel_counts', p), ('image_counts', i)):
        if not torch.isfinite(x).all() or (x < 0).any():
            raise ValueError(f'{name} must be finite and non-negative')
    den = i + float(extra_images)
    if not (den > 0).all():
        raise ValueError('image_counts + extra_images must be positive for '
                         'every class')
    a = p / den
    present = i > 0
    if not present.any() or not a[present].mean() > 0:
        raise ValueError('no class has both images and pixels: no class '
                         'weights')
    return torch.where(present, a / a[present].mean(),
                       torch.ones_like(a)).float()


def foreground_weights(class_weights: Optional[Tensor], k: int,
                ref: Tensor) -> Tensor:
    """``[1, K, 1, 1]`` weights on ``ref``'s device (ones when None)."""
    if class_weights is None:
        return ref.new_ones(1, k, 1, 1)
    w = f32(torch.as_tensor(class_weights)).to(ref.device).flatten()
    if w.numel() != k:
        raise ValueError(f'class_weights has {w.numel()} entries, the maps '
                         f'have {k} foreground channels')
    return w.view(1, k, 1, 1)
