"""SFC's math as small pure functions (tensor in, tensor out).

SFC ("Shared Feature Calibration in Weakly Supervised Semantic
Segmentation", Zhao et al., AAAI 2024) is built on SIPE; wherever the
arithmetic is SIPE's, the functions of :mod:`.sipe` are used as they are
(:func:`~.sipe.background_cam`, :func:`~.sipe.seed_prototypes`,
:func:`~.sipe.instance_cam`, :func:`~.sipe.max_normalize`,
:func:`~.sipe.l2_normalize`).  What is new here:

* :func:`pixel_correlation` -- the pixel-correlation module (PCM) that
  refines the normalised CAM with a feature affinity, applied twice;
* :func:`argmax_seeds` -- seeds as the arg-max of the refined CAM with the
  background scaled by 0.3 (SIPE's structure seeds are not used);
* :func:`weighted_gsc_loss`, :func:`cross_scale_consistency` (weights from
  :func:`.class_balance.class_balance_weights`) -- the per-class weighted
  consistency losses;
* :func:`shift_background`, :func:`combine_localization_maps` -- how the
  refined CAM and the prototype CAM become one localisation map.

Notation as in :mod:`.sipe`: ``N`` batch, ``K`` foreground classes, channel
0 = background, ``h x w`` the stride-16 grid, ``hw = h * w``.  The method
is described in ``docs/method.md`` §17, which follows the reference code
(Barrett-python/SFC ``network/resnet50_SFC.py``,
``train_resnet50_SFC.py``, ``make_cam.py``, ``cam2ir.py``).

Precision: like :mod:`.sipe`, every function computes in float32 with
autocast switched off for the inputs' device.
"""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .common import (NORM_EPS, check_4d, check_grid, check_label_mask, f32,
                     float32_math, l2_normalize)
from .sipe import (background_cam, instance_cam, max_normalize,
                   seed_prototypes)
from .class_balance import foreground_weights, class_balance_weights
from .structure_seeds import seed_chunk_size

__all__ = [
    'pixel_correlation', 'argmax_seeds', 'prototype_cam', 'sfc_cams',
    'class_balance_weights', 'weighted_gsc_loss', 'cross_scale_consistency',
    'shift_background', 'combine_localization_maps'
]

# Reference constants.
SEED_BG_SCALE = 0.3  # background factor before the seed arg-max
BG_OFFSET = 0.4  # make_cam: background + 0.4, foreground x 2
CAM2IR_PROTOTYPE_WEIGHT = 0.7  # cam2ir: refined CAM + 0.7 prototype CAM


# ---------------------------------------------------------------------------
# pixel-correlation module (§17.1)
# ---------------------------------------------------------------------------
@float32_math
def pixel_correlation(norm_cam: Tensor,
                      pcm_feature: Tensor,
                      eps: float = NORM_EPS,
                      chunk_size: Optional[int] = None) -> Tensor:
    """Refine a normalised CAM with a feature affinity (§17.1, reference
    ``Net.PCM``).

    With ``f^_i = f_i / (||f_i|| + eps)`` (:func:`~.sipe.l2_normalize`)::

        A(i, j)  = ReLU(<f^_i, f^_j>)                  # [hw, hw]
        A~(i, j) = A(i, j) / (sum_i' A(i', j) + eps)   # each column sums to ~1
        M'       = (M A~) A~                           # two propagations

    ``M`` is first resized bilinearly with ``align_corners=True`` to the
    feature's grid (the identity when the grids agree, as they always do in
    SFC).  Gradients flow into both ``norm_cam`` and ``pcm_feature``.

    Args:
        norm_cam: ``[N, K+1, h', w']`` normalised CAM (masked in training,
            unmasked at inference).
        pcm_feature: ``[N, C, h, w]`` the projected feature (the output of
            the 1x1 convolution over image and ``x4``,
            :meth:`~mmseg_sipe.models.heads.SFCHead.correlation_feature`).
        eps: eps of the feature norm and of the column sums (reference
            1e-5 for both).
        chunk_size: columns of ``A`` per block; ``None``: all of ``A`` at
            once when it fits the ``SIPE_MAX_CHUNK_MB`` budget of
            :func:`~.sipe.seed_chunk_size`, else blocks within it (each
            block is then built once per propagation).  Columns are
            normalised independently, so blocks change the result by float
            rounding only.

    Returns:
        ``[N, K+1, h, w]`` float32.
    """
    check_4d('norm_cam', norm_cam)
    check_4d('pcm_feature', pcm_feature)
    if norm_cam.shape[0] != pcm_feature.shape[0]:
        raise ValueError(f'norm_cam {tuple(norm_cam.shape)} and pcm_feature '
                         f'{tuple(pcm_feature.shape)} differ in batch size')
    if chunk_size is not None and int(chunk_size) <= 0:
        raise ValueError(f'chunk_size must be positive, got {chunk_size}')
    n, _, h, w = pcm_feature.shape
    m = f32(norm_cam)
    if tuple(m.shape[-2:]) != (h, w):
        m = F.interpolate(m, size=(h, w), mode='bilinear', align_corners=True)
    m = m.flatten(2)  # [N, K+1, hw]
    hw = h * w
    f = l2_normalize(pcm_feature, dim=1, eps=eps).flatten(2)  # [N, C, hw]
    ft = f.transpose(1, 2)  # [N, hw, C]
    step = seed_chunk_size(n, hw) if chunk_size is None else int(chunk_size)

    def columns(start: int, stop: int) -> Tensor:
        a = F.relu(torch.bmm(ft, f[:, :, start:stop]))  # [N, hw, blk]
        return a / (a.sum(dim=1, keepdim=True) + eps)

    if step >= hw:  # the whole affinity once, applied twice
        a = columns(0, hw)
        out = torch.bmm(torch.bmm(m, a), a)
    else:
        out = m
        for _ in range(2):
            out = torch.cat([
                torch.bmm(out, columns(s, min(hw, s + step)))
                for s in range(0, hw, step)
            ], dim=2)
    return out.view(n, -1, h, w)


# ---------------------------------------------------------------------------
# seeds, prototypes, prototype CAM (§17.2)
# ---------------------------------------------------------------------------
@float32_math
@torch.no_grad()
def argmax_seeds(refined_cam: Tensor,
                 label_mask: Tensor,
                 bg_scale: float = SEED_BG_SCALE) -> Tensor:
    """Seeds from the refined CAM (§17.2, reference ``Net.prototype``)::

        R = onehot(argmax_k M'_k, with M'_0 scaled by bg_scale) * label_mask

    No threshold, no gradient; ties go to the lowest channel
    (``torch.argmax``), as in the reference.

    Args:
        refined_cam: ``[N, K+1, h, w]`` (:func:`pixel_correlation` output).
        label_mask: broadcastable to ``[N, K+1, h, w]``: the valid mask
            times the labels in training, ``[N, K+1, 1, 1]`` labels (bg 1)
            at inference.
        bg_scale: factor on the background before the arg-max (reference
            0.3).

    Returns:
        ``[N, K+1, h, w]`` float32 in {0, 1}, at most one 1 per pixel.
    """
    check_4d('refined_cam', refined_cam)
    c = f32(refined_cam)
    mask = check_label_mask(label_mask, c)
    c = torch.cat([c[:, :1] * bg_scale, c[:, 1:]], dim=1)
    idx = c.argmax(dim=1, keepdim=True)
    return torch.zeros_like(c).scatter_(1, idx, 1.0) * mask


def prototype_cam(refined_cam: Tensor,
                  hie_feature: Tensor,
                  label_mask: Tensor,
                  bg_scale: float = SEED_BG_SCALE,
                  denominator: str = 'area') -> Dict[str, Tensor]:
    """Prototype CAM of SFC (§17.2)::

        R  = argmax_seeds(M', label_mask, bg_scale)
        P  = seed_prototypes(R, F_h)             # SIPE §4, unchanged
        IS = instance_cam(P, F_h)                # SIPE §5, unchanged

    Args:
        refined_cam: ``[N, K+1, h, w]``.
        hie_feature: ``[N, C_hie, h, w]`` hierarchical feature.
        label_mask: broadcastable to ``[N, K+1, h, w]``.

    Returns:
        dict ``seeds`` ``[N, K+1, h, w]``, ``prototypes`` ``[N, K+1,
        C_hie]``, ``is_cam`` ``[N, K+1, h, w]`` (not max-normalised, not
        masked); float32.
    """
    check_grid('refined_cam', refined_cam, 'hie_feature', hie_feature)
    seeds = argmax_seeds(refined_cam, label_mask, bg_scale)
    prototypes = seed_prototypes(seeds, hie_feature, denominator)
    return dict(seeds=seeds, prototypes=prototypes,
                is_cam=instance_cam(prototypes, hie_feature))


def sfc_cams(cam_logits: Tensor,
             hie_feature: Tensor,
             pcm_feature: Tensor,
             label_mask: Tensor,
             mask_cam: bool = True,
             bg_scale: float = SEED_BG_SCALE,
             denominator: str = 'area',
             chunk_size: Optional[int] = None) -> Dict[str, Tensor]:
    """The reference SFC chain on one batch (§17.1-§17.2, ``Net.forward``
    and ``CAM.forward``)::

        M  = background_cam(cam) * label_mask     # if mask_cam (training)
        M' = pixel_correlation(M, pcm_feature)
        R, P, IS = prototype_cam(M', F_h, label_mask, bg_scale)

    Args:
        cam_logits: ``[N, K, h, w]``.
        hie_feature: ``[N, C_hie, h, w]``.
        pcm_feature: ``[N, C, h, w]`` projected image + ``x4`` feature.
        label_mask: broadcastable to ``[N, K+1, h, w]``.
        mask_cam: multiply ``M`` by ``label_mask`` before the refinement
            (training and in-training validation; the reference
            ``CAM.forward`` used by make_cam does not).

    Returns:
        dict ``norm_cam`` (``M``), ``refined_cam`` (``M'``), ``seeds``,
        ``prototypes``, ``is_cam``; all float32, ``[N, K+1, h, w]`` except
        ``prototypes`` ``[N, K+1, C_hie]``.
    """
    norm_cam = background_cam(cam_logits)
    if mask_cam:
        norm_cam = norm_cam * f32(label_mask)
    refined = pixel_correlation(norm_cam, pcm_feature, chunk_size=chunk_size)
    out = prototype_cam(refined, hie_feature, label_mask, bg_scale,
                        denominator)
    return dict(norm_cam=norm_cam, refined_cam=refined, **out)


# ---------------------------------------------------------------------------
# class-weighted losses (§17.3)
# ---------------------------------------------------------------------------
@float32_math
def weighted_gsc_loss(refined_cam: Tensor,
                      is_cam: Tensor,
                      class_weights: Optional[Tensor] = None,
                      eps: float = NORM_EPS) -> Tensor:
    """Class-weighted GSC loss (§17.3)::

        L = mean_{n, k, i} w_k | M'(n, k, i) - IS(n, k, i) / (max_i IS + eps) |

    over all ``N (K+1) h w`` elements, ``w_0 = 1`` for the background and
    ``w_k`` = :func:`class_balance_weights` for the foreground.  With
    ``class_weights=None`` this is SIPE's :func:`~.sipe.gsc_loss` of the
    refined CAM.

    Args:
        refined_cam: ``[N, K+1, h, w]`` PCM-refined CAM ``M'``.
        is_cam: ``[N, K+1, h, w]`` prototype CAM (not max-normalised).
        class_weights: ``[K]`` or None.

    Returns:
        float32 scalar.
    """
    if refined_cam.shape != is_cam.shape:
        raise ValueError(f'refined_cam {tuple(refined_cam.shape)} and '
                         f'is_cam {tuple(is_cam.shape)} differ in shape')
    check_4d('refined_cam', refined_cam)
    d = torch.abs(f32(refined_cam) - max_normalize(is_cam, eps))
    w = foreground_weights(class_weights, d.shape[1] - 1, d)
    w = torch.cat([w.new_ones(1, 1, 1, 1), w], dim=1)
    return torch.mean(d * w)


@float32_math
def cross_scale_consistency(refined_cam: Tensor,
                            refined_cam_small: Tensor,
                            label_mask: Tensor,
                            class_weights: Optional[Tensor] = None
                            ) -> Tensor:
    """Cross-scale consistency of the refined CAMs (§17.3)::

        L = mean_{n, k>0, i} w_k | up(M'^1)(n, k, i) y_nk - M'^s(n, k, i) y_nk |

    ``M'^1`` the full-scale refined CAM resized bilinearly
    (``align_corners=True``) to the grid of ``M'^s``, the refined CAM of the
    rescaled image (scale 0.5 in the reference); ``y`` the image labels.
    Only the ``K`` foreground channels enter the mean.

    Args:
        refined_cam: ``[N, K+1, h, w]``.
        refined_cam_small: ``[N, K+1, h_s, w_s]``.
        label_mask: ``[N, K+1, 1, 1]`` labels (background 1), or anything
            broadcastable to both maps.
        class_weights: ``[K]`` or None (all 1).

    Returns:
        float32 scalar.
    """
    check_4d('refined_cam', refined_cam)
    check_4d('refined_cam_small', refined_cam_small)
    if refined_cam.shape[:2] != refined_cam_small.shape[:2]:
        raise ValueError(f'refined_cam {tuple(refined_cam.shape)} and '
                         f'refined_cam_small {tuple(refined_cam_small.shape)}'
                         ' differ in batch or channels')
    mask = f32(label_mask)
    big = F.interpolate(f32(refined_cam), size=refined_cam_small.shape[-2:],
                        mode='bilinear', align_corners=True) * mask
    small = f32(refined_cam_small) * mask
    d = torch.abs(big[:, 1:] - small[:, 1:])
    return torch.mean(d * foreground_weights(class_weights, d.shape[1], d))


# ---------------------------------------------------------------------------
# localisation maps (§17.4)
# ---------------------------------------------------------------------------
@float32_math
def shift_background(maps: Tensor, offset: float = BG_OFFSET) -> Tensor:
    """The reference make_cam's last step on a fused map (§17.4)::

        S_0 = M_0 + offset,   S_k = 2 M_k   (k > 0)

    (the reference writes it as ``M + pad(M[1:], bg=offset)``).

    Args:
        maps: ``[..., K+1, H, W]`` with the background in channel 0.

    Returns:
        float32, same shape.
    """
    if maps.dim() < 3:
        raise ValueError('shift_background expects [..., K+1, H, W], got '
                         f'{tuple(maps.shape)}')
    m = f32(maps)
    return torch.cat([m[..., :1, :, :] + offset, 2 * m[..., 1:, :, :]],
                     dim=-3)


def combine_localization_maps(cam_map: Tensor,
                              prototype_map: Tensor,
                              cam_weight: float = 1.0,
                              prototype_weight: float =
                              CAM2IR_PROTOTYPE_WEIGHT,
                              bg_offset: float = BG_OFFSET) -> Tensor:
    """One localisation map from SFC's two fused maps (§17.4)::

        L = cam_weight * shift(M') + prototype_weight * shift(IS)

    Both inputs are the multi-scale fused, max-normalised maps
    (:func:`~.sipe.fuse_multiscale`); ``shift`` is
    :func:`shift_background`.  The reference's choices: ``(1, 0.7)`` in
    ``cam2ir.py`` (the default here), ``(1, 0.3)`` in
    ``make_seg_labels.py``, and ``(0, 1)`` -- the prototype map alone -- in
    ``eval_cam.py``.

    Args:
        cam_map, prototype_map: ``[K+1, H, W]`` (or with leading dims).

    Returns:
        float32, the shape of the inputs.
    """
    if cam_map.shape != prototype_map.shape:
        raise ValueError(f'cam_map {tuple(cam_map.shape)} and prototype_map '
                         f'{tuple(prototype_map.shape)} differ in shape')
    return (cam_weight * shift_background(cam_map, bg_offset) +
            prototype_weight * shift_background(prototype_map, bg_offset))
