"""Structure-aware seeds (``docs/method.md`` §3): the structure similarity
of every feature position to every class map, its arg-max as seeds, and the
memory budget that blocks the quadratic step.

Notation as in :mod:`.sipe`.  The only numerical deviation from the
reference: in :func:`structure_similarity` a zero union (an all-zero feature
vector meeting an all-zero class map) gives ``0`` instead of ``0/0 = NaN``;
:func:`structure_seeds` still picks the seeds the reference picks there.
"""
import os
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .common import (NORM_EPS, check_4d, check_grid, check_label_mask, f32,
                     float32_math, l2_normalize)

__all__ = ['seed_chunk_size', 'structure_similarity', 'structure_seeds']

#: Environment variable: memory budget (MiB) of the quadratic seed step.
CHUNK_MB_ENV = 'SIPE_MAX_CHUNK_MB'
DEFAULT_MAX_CHUNK_MB = 512


def seed_chunk_size(n: int, hw: int,
                    max_mb: Optional[float] = None) -> int:
    """Columns of ``S`` per block that keep the seed step within a budget.

    The structure map ``S`` is ``[N, hw, hw]`` float32: quadratic in the
    feature positions (a 1500x2000 image at scale 2.0 has ``hw = 47000``, so
    all of ``S`` is 8.8 GB).  Building it in blocks of ``b`` columns keeps at
    most three ``[N, hw, b]`` blocks alive (the previous block, the product,
    its ReLU), so ``b = budget / (3 * 4 * N * hw)``.

    Args:
        n: batch size ``N``.
        hw: feature positions ``h * w``.
        max_mb: budget in MiB; default: the ``SIPE_MAX_CHUNK_MB``
            environment variable, else 512.

    Returns:
        int: ``hw`` when all of ``S`` fits (one block: the unchunked
        computation, e.g. every VOC / COCO image at scale 2.0), else the
        largest block width within the budget (at least 1).
    """
    if max_mb is None:
        env = os.environ.get(CHUNK_MB_ENV, '').strip()
        try:
            max_mb = float(env) if env else DEFAULT_MAX_CHUNK_MB
        except ValueError:
            raise ValueError(f'{CHUNK_MB_ENV}={env!r} is not a number of '
                             'MiB') from None
    if not max_mb > 0:
        raise ValueError(f'the seed-step budget must be positive, got '
                         f'{max_mb} MiB ({CHUNK_MB_ENV})')
    per_column = 3 * 4 * max(1, int(n)) * max(1, int(hw))
    return max(1, min(int(hw), int(max_mb * 2**20 // per_column)))


def _structure_parts(norm_cam: Tensor, feature: Tensor, bg_weight: float,
                     eps: float,
                     chunk_size: Optional[int]) -> Tuple[Tensor, Tensor]:
    """Structure similarity ``C`` and the mask where the union is 0.

    Returns ``(C, undefined)``, both ``[N, K+1, h, w]``; ``C`` is 0 where
    ``undefined`` (the reference has ``NaN`` there).
    """
    check_4d('norm_cam', norm_cam)
    check_4d('feature', feature)
    check_grid('norm_cam', norm_cam, 'feature', feature)
    if chunk_size is not None and int(chunk_size) <= 0:
        raise ValueError(f'chunk_size must be positive, got {chunk_size}')
    n, k1, h, w = norm_cam.shape
    m = f32(norm_cam).flatten(2)  # [N, K+1, hw]
    f = l2_normalize(feature, dim=1, eps=eps).flatten(2)  # [N, C, hw]
    hw = h * w
    ft = f.transpose(1, 2)  # [N, hw, C]
    step = seed_chunk_size(n, hw) if chunk_size is None else int(chunk_size)
    inters, s_sums = [], []
    for start in range(0, hw, step):
        stop = min(hw, start + step)
        # columns start:stop of S = relu(F^T F); S is symmetric, so column i
        # is S^i and (M @ S)[:, i] = sum_j M(j) S^i(j).
        s = F.relu(torch.bmm(ft, f[:, :, start:stop]))  # [N, hw, blk]
        inters.append(torch.bmm(m, s))  # [N, K+1, blk]
        s_sums.append(s.sum(dim=1, keepdim=True))  # [N, 1, blk]
    inter = torch.cat(inters, dim=2) if len(inters) > 1 else inters[0]
    s_sum = torch.cat(s_sums, dim=2) if len(s_sums) > 1 else s_sums[0]
    union = s_sum + m.sum(dim=2, keepdim=True) - inter
    undefined = union == 0
    c = inter / torch.where(undefined, torch.ones_like(union), union)
    c = c.masked_fill(undefined, 0.0)
    if bg_weight != 1.0:
        c = torch.cat([c[:, :1] * bg_weight, c[:, 1:]], dim=1)
    return c.view(n, k1, h, w), undefined.view(n, k1, h, w)


@float32_math
def structure_similarity(norm_cam: Tensor,
                         feature: Tensor,
                         bg_weight: float = 0.5,
                         eps: float = NORM_EPS,
                         chunk_size: Optional[int] = None) -> Tensor:
    """Soft IoU between each pixel's structure map and each class map
    (§3, reference ``Net.get_seed``).

    With ``f^_i = f_i / (||f_i|| + eps)`` and ``S(i, j) = ReLU(<f^_i,
    f^_j>)`` (``[hw, hw]`` per image)::

        inter_k(i) = sum_j S(i, j) M_k(j)        # = (M @ S)[k, i]
        union_k(i) = sum_j S(i, j) + sum_j M_k(j) - inter_k(i)
        C_k(i)     = inter_k(i) / union_k(i);   C_0 *= bg_weight

    ``inter`` is computed as the product ``M @ S`` and never as the
    reference's ``[N, K+1, hw, hw]`` broadcast; equal up to summation order.

    Deviation: where ``union == 0`` (only when an all-zero feature vector
    meets an all-zero class map) ``C = 0`` instead of ``NaN``.

    Args:
        norm_cam: ``[N, K+1, h, w]`` normalised (usually masked) CAM.
        feature: ``[N, C, h, w]`` feature defining the structure map.
        bg_weight: factor on the background score (reference 0.5).
        eps: feature-normalisation eps (reference 1e-5).
        chunk_size: build ``S`` in blocks of this many columns to bound
            memory to ``[N, hw, chunk_size]`` (``None``: all of ``S`` at
            once if it fits the ``SIPE_MAX_CHUNK_MB`` budget, else blocks
            within it, see :func:`seed_chunk_size`).  Changes the result by
            float rounding only (``<= 1e-6``).

    Returns:
        ``[N, K+1, h, w]`` float32, finite.
    """
    return _structure_parts(norm_cam, feature, bg_weight, eps, chunk_size)[0]


@float32_math
@torch.no_grad()
def structure_seeds(norm_cam: Tensor,
                    feature: Tensor,
                    label_mask: Tensor,
                    bg_weight: float = 0.5,
                    eps: float = NORM_EPS,
                    chunk_size: Optional[int] = None) -> Tensor:
    """Structure-aware seeds (§3): ``R = onehot(argmax_k C_k) *
    label_mask``, no threshold, no gradient.

    Ties go to the lowest index (``torch.argmax`` + ``scatter_``).  Where the
    reference's score is ``NaN`` (a zero union, see
    :func:`structure_similarity`) ``torch.argmax`` would pick the first
    ``NaN`` channel; this is reproduced, so the seeds equal the reference's
    everywhere (such a channel is an all-zero class map, i.e. usually masked,
    so that pixel gets no seed).

    Args:
        norm_cam: ``[N, K+1, h, w]``.
        feature: ``[N, C, h, w]`` (``x4`` in training, ``hie`` at inference).
        label_mask: broadcastable to ``[N, K+1, h, w]``, e.g. ``[N, K+1, 1,
            1]`` labels with background 1, or the full valid mask.
        bg_weight, eps, chunk_size: as :func:`structure_similarity`.

    Returns:
        ``[N, K+1, h, w]`` float32 in {0, 1}, at most one 1 per pixel.
    """
    c, undefined = _structure_parts(norm_cam, feature, bg_weight, eps,
                                    chunk_size)
    mask = check_label_mask(label_mask, c)
    idx = c.argmax(dim=1, keepdim=True)
    # unconditionally (no ``if has_nan.any()``): a Python branch on a device
    # value would make the host wait for the GPU at every call
    has_nan = undefined.any(dim=1, keepdim=True)
    first_nan = undefined.to(torch.uint8).argmax(dim=1, keepdim=True)
    idx = torch.where(has_nan, first_nan, idx)
    seeds = torch.zeros_like(c).scatter_(1, idx, 1.0)
    return seeds * mask

