"""SIPE's math as small pure functions (tensor in, tensor out).

Notation: ``N`` batch, ``K`` foreground classes, channel 0 = background, so
maps with a background have ``K+1`` channels; ``h x w`` is the stride-16 grid
and ``C`` a feature's channels.  Section numbers (``§``) refer to
``docs/method.md``, which describes the reference code
(chenqi1126/SIPE ``network/resnet50_SIPE.py``, ``make_cam.py``,
``train_resnet50_SIPE.py``).  See ``docs/functional.md`` for the formulas.

The structure-aware seeds (§3) live in :mod:`.structure_seeds`, the shared
epsilons, float32 helpers and the feature norm in :mod:`.common`; both are
re-exported here.  Every function except :func:`flip_fuse` computes in
float32 with autocast off (:func:`.common.float32_math`); outputs are
float32 on the inputs' device.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .common import (COSINE_EPS, NORM_EPS, check_4d, check_grid, f32,
                     float32_math, l2_normalize)
from .structure_seeds import (CHUNK_MB_ENV, DEFAULT_MAX_CHUNK_MB,
                              seed_chunk_size, structure_seeds,
                              structure_similarity)

__all__ = [
    'l2_normalize', 'hierarchical_feature', 'background_cam',
    'structure_similarity', 'structure_seeds', 'seed_prototypes',
    'instance_cam', 'max_normalize', 'gsc_loss', 'flip_fuse',
    'fuse_multiscale', 'is_cam_from_features', 'seed_chunk_size',
    'CHUNK_MB_ENV', 'DEFAULT_MAX_CHUNK_MB', 'NORM_EPS', 'COSINE_EPS'
]


# ---------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------
@float32_math
def hierarchical_feature(side_feats: Sequence[Tensor],
                         size: Optional[Tuple[int, int]] = None,
                         eps: float = NORM_EPS) -> Tensor:
    """Hierarchical feature from the side features (§1.2).

    Each side feature is L2-normalised per pixel (:func:`l2_normalize`),
    *then* resized bilinearly (``align_corners=False``, no antialias) to
    ``size``, and the results are concatenated on channels.  A stride-4 map
    resized to stride 16 therefore samples between pixels ``4j+1`` and
    ``4j+2`` (weight 0.5 each); at the target size the resize is skipped
    (it would be the identity).

    Args:
        side_feats: ``[N, C_k, h_k, w_k]`` side-conv outputs (reference:
            128/128/256/256 channels at strides 4/8/16/16).
        size: output ``(h, w)``; default the size of ``side_feats[2]``
            (the stride-16 map).

    Returns:
        ``[N, sum_k C_k, h, w]`` float32 (768 channels in the reference).
    """
    if len(side_feats) == 0:
        raise ValueError('hierarchical_feature needs at least one side '
                         'feature')
    for i, f in enumerate(side_feats):
        check_4d(f'side_feats[{i}]', f)
        if f.shape[0] != side_feats[0].shape[0]:
            raise ValueError(
                f'side_feats[{i}] has batch {f.shape[0]}, side_feats[0] has '
                f'{side_feats[0].shape[0]}')
    if size is None:
        if len(side_feats) < 3:
            raise ValueError('hierarchical_feature: size=None uses '
                             'side_feats[2] (stride 16); pass size= when '
                             f'giving {len(side_feats)} side features')
        size = side_feats[2].shape[-2:]
    size = tuple(int(s) for s in size)
    out = []
    for f in side_feats:
        n = l2_normalize(f, dim=1, eps=eps)
        if tuple(n.shape[-2:]) != size:
            n = F.interpolate(
                n, size=size, mode='bilinear', align_corners=False)
        out.append(n)
    return torch.cat(out, dim=1)


# ---------------------------------------------------------------------------
# IPE (§2-§5)
# ---------------------------------------------------------------------------
@float32_math
def background_cam(cam_logits: Tensor, eps: float = NORM_EPS) -> Tensor:
    """Normalised CAM with a background channel in front (§2).

    ``A = ReLU(cam)``; ``M_f = A / (max_hw A + eps)`` per image and class;
    ``M_b = 1 - max_k M_f[k]`` over **all** K classes (absent ones
    included); ``M = [M_b, M_f]``.  Masking by labels / valid area is the
    caller's job (a separate multiply).

    Args:
        cam_logits: ``[N, K, h, w]`` raw CAM logits.

    Returns:
        ``[N, K+1, h, w]`` float32; ``M_f`` in ``[0, 1)``, channel maxima
        ``a / (a + eps)``; ``M_b == 1 - max_k M_f`` exactly.
    """
    check_4d('cam_logits', cam_logits)
    a = F.relu(f32(cam_logits))
    m_f = a / (a.amax(dim=(2, 3), keepdim=True) + eps)
    if m_f.shape[1] == 0:  # no foreground channel at all
        m_b = a.new_ones(a.shape[0], 1, *a.shape[2:])
    else:
        m_b = 1 - m_f.amax(dim=1, keepdim=True)
    return torch.cat([m_b, m_f], dim=1)


# ---------------------------------------------------------------------------
# IPE (§4-§5)
# ---------------------------------------------------------------------------

@float32_math
def seed_prototypes(seeds: Tensor,
                    feature: Tensor,
                    denominator: str = 'area') -> Tensor:
    """Background-aware prototypes (§4, reference ``Net.get_prototype``).

    * ``'area'`` (reference): ``P_k = sum_i R_k(i) F(i) / (h*w)`` (an
      ``adaptive_avg_pool2d`` of ``seeds * feature``);
    * ``'count'`` (paper): mean of ``F`` over the seed pixels of class k.

    A class without seeds gets ``P_k = 0`` (no NaN).  The two choices differ
    by a positive per-class factor only, so :func:`instance_cam` is the same.

    Args:
        seeds: ``[N, K+1, h, w]`` (0/1; soft weights also work).
        feature: ``[N, C, h, w]`` (the hierarchical feature).

    Returns:
        ``[N, K+1, C]`` float32 (differentiable w.r.t. ``feature``).
    """
    if denominator not in ('area', 'count'):
        raise ValueError(
            f"denominator must be 'area' or 'count', got {denominator!r}")
    check_4d('seeds', seeds)
    check_4d('feature', feature)
    check_grid('seeds', seeds, 'feature', feature)
    r = f32(seeds).flatten(2)  # [N, K+1, hw]
    f = f32(feature).flatten(2)  # [N, C, hw]
    total = torch.bmm(r, f.transpose(1, 2))  # [N, K+1, C]
    if denominator == 'area':
        return total / r.shape[-1]
    count = r.sum(dim=2, keepdim=True)  # [N, K+1, 1]
    return total / torch.where(count > 0, count, torch.ones_like(count))


@float32_math
def instance_cam(prototypes: Tensor,
                 feature: Tensor,
                 eps: float = COSINE_EPS) -> Tensor:
    """IS-CAM (§5, reference ``Net.reactivate``): ``ReLU(cos(F(i), P_k))``.

    Same semantics as :func:`torch.nn.functional.cosine_similarity` in the
    installed torch (>= 1.12): ``<x / max(|x|, eps), y / max(|y|, eps)>``,
    computed as one batched product of the normalised prototypes and
    features instead of a ``[N, K+1, C, h, w]`` broadcast.  (torch < 1.12
    used ``x.y / max(|x||y|, eps)``; the two agree unless ``|x||y| <
    1e-8``.)  A zero prototype gives exactly 0.

    Args:
        prototypes: ``[N, K+1, C]`` (or ``[N, K+1, C, 1, 1]`` as the
            reference stores them).
        feature: ``[N, C, h, w]``.

    Returns:
        ``[N, K+1, h, w]`` float32 in ``[0, 1]`` (up to rounding, <= 1e-6);
        not max-normalised and not masked.
    """
    check_4d('feature', feature)
    p = f32(prototypes)
    if p.dim() == 5 and p.shape[-2:] == (1, 1):
        p = p.flatten(2)
    if p.dim() != 3 or p.shape[0] != feature.shape[0] \
            or p.shape[2] != feature.shape[1]:
        raise ValueError(f'prototypes {tuple(prototypes.shape)} must be '
                         f'[N, K+1, C] matching feature '
                         f'{tuple(feature.shape)}')
    f = f32(feature)
    n, _, h, w = f.shape
    ff = f.flatten(2)  # [N, C, hw]
    p_hat = p / torch.linalg.vector_norm(
        p, dim=2, keepdim=True).clamp_min(eps)
    f_hat = ff / torch.linalg.vector_norm(
        ff, dim=1, keepdim=True).clamp_min(eps)
    cos = torch.bmm(p_hat, f_hat)  # [N, K+1, hw]
    return F.relu(cos).view(n, -1, h, w)


# ---------------------------------------------------------------------------
# normalisation, loss, inference fusion (§6, §8)
# ---------------------------------------------------------------------------
@float32_math
def max_normalize(x: Tensor, eps: float = NORM_EPS) -> Tensor:
    """Per-channel spatial max normalisation ``x / (max_hw x + eps)``
    (``adaptive_max_pool2d(x, 1)`` in the reference).

    Args:
        x: ``[N, C, h, w]`` or ``[C, h, w]``.

    Returns:
        float32, same shape; channel maxima ``m / (m + eps)``.
    """
    if x.dim() not in (3, 4):
        raise ValueError('max_normalize expects [N, C, h, w] or [C, h, w], '
                         f'got {tuple(x.shape)}')
    x = f32(x)
    return x / (x.amax(dim=(-2, -1), keepdim=True) + eps)


@float32_math
def gsc_loss(norm_cam: Tensor, is_cam: Tensor,
             eps: float = NORM_EPS) -> Tensor:
    """General-Specific Consistency loss (§6)::

        L_gsc = mean_{n, k, i} | M(n, k, i) - IS(n, k, i) / (max_i IS + eps) |

    over all ``N (K+1) h w`` elements (absent channels and padding
    included).  Symmetric: no detach on either side.

    Args:
        norm_cam: ``[N, K+1, h, w]`` masked normalised CAM ``M``.
        is_cam: ``[N, K+1, h, w]`` IS-CAM (not max-normalised).

    Returns:
        float32 scalar.
    """
    if norm_cam.shape != is_cam.shape:
        raise ValueError(f'gsc_loss: norm_cam {tuple(norm_cam.shape)} and '
                         f'is_cam {tuple(is_cam.shape)} differ in shape')
    return torch.mean(torch.abs(f32(norm_cam) - max_normalize(is_cam, eps)))


def flip_fuse(x: Tensor) -> Tensor:
    """``x[0] + flip_w(x[1])`` for an (image, flipped image) pair (§8);
    summed, not averaged, and not re-normalised (``CAM.forward`` does this
    for both the CAM logits and the hierarchical feature).

    Args:
        x: ``[2, C, h, w]``.

    Returns:
        ``[C, h, w]``, dtype of ``x``.
    """
    if x.dim() != 4 or x.shape[0] != 2:
        raise ValueError('flip_fuse expects [2, C, h, w] (image, flipped '
                         f'image), got {tuple(x.shape)}')
    return x[0] + x[1].flip(-1)


@float32_math
def fuse_multiscale(maps: Sequence[Tensor],
                    size: Tuple[int, int],
                    eps: float = NORM_EPS) -> Tensor:
    """Multi-scale fusion (§8, reference ``make_cam.py``): sum of bilinear
    (``align_corners=False``) resizes straight to the image size, then
    per-channel max normalisation (:func:`max_normalize`)::

        IS = sum_s interp(IS_s, (H, W));   IS = IS / (max_hw IS + eps)

    Args:
        maps: per scale ``[C, h_s, w_s]``.
        size: image ``(H, W)``.

    Returns:
        ``[C, H, W]`` float32.
    """
    if len(maps) == 0:
        raise ValueError('fuse_multiscale needs at least one map')
    size = tuple(int(s) for s in size)
    total = None
    for i, m in enumerate(maps):
        if m.dim() != 3 or m.shape[0] != maps[0].shape[0]:
            raise ValueError(f'maps[{i}] must be [C, h, w] with C = '
                             f'{maps[0].shape[0]}, got {tuple(m.shape)}')
        up = f32(m)[None]
        if tuple(up.shape[-2:]) != size:
            up = F.interpolate(
                up, size=size, mode='bilinear', align_corners=False)
        total = up[0] if total is None else total + up[0]
    return max_normalize(total, eps)


def is_cam_from_features(cam_logits: Tensor,
                         hie_feature: Tensor,
                         seed_feature: Tensor,
                         label_mask: Tensor,
                         bg_weight: float = 0.5,
                         denominator: str = 'area',
                         mask_cam: bool = True,
                         chunk_size: Optional[int] = None
                         ) -> Dict[str, Tensor]:
    """The reference IPE chain (§2-§5, training ``Net.forward``)::

        M = background_cam(cam) * label_mask          # if mask_cam
        R = structure_seeds(M, seed_feature, label_mask, bg_weight)
        P = seed_prototypes(R, hie_feature, denominator)
        IS = instance_cam(P, hie_feature)             # not masked

    Pass ``x4`` as ``seed_feature`` for training / in-training validation
    and ``hie`` for make_cam (with ``mask_cam=False``: reference
    ``CAM.forward`` masks only the seeds).

    Args:
        cam_logits: ``[N, K, h, w]``.
        hie_feature: ``[N, C_hie, h, w]`` (prototypes and IS-CAM).
        seed_feature: ``[N, C, h, w]`` (structure map for the seeds).
        label_mask: broadcastable to ``[N, K+1, h, w]``.
        bg_weight, chunk_size: see :func:`structure_similarity`.
        denominator: see :func:`seed_prototypes`.
        mask_cam: multiply the normalised CAM by ``label_mask`` first.

    Returns:
        dict ``norm_cam`` ``[N, K+1, h, w]``, ``seeds`` ``[N, K+1, h, w]``,
        ``prototypes`` ``[N, K+1, C_hie]``, ``is_cam`` ``[N, K+1, h, w]``;
        all float32.
    """
    norm_cam = background_cam(cam_logits)
    if mask_cam:
        norm_cam = norm_cam * f32(label_mask)
    seeds = structure_seeds(
        norm_cam, seed_feature, label_mask, bg_weight, chunk_size=chunk_size)
    prototypes = seed_prototypes(seeds, hie_feature, denominator)
    return dict(
        norm_cam=norm_cam,
        seeds=seeds,
        prototypes=prototypes,
        is_cam=instance_cam(prototypes, hie_feature))
