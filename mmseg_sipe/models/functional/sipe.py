"""SIPE's math as small pure functions (tensor in, tensor out).

Notation: ``N`` batch, ``K`` foreground classes, channel 0 = background, so
maps with a background have ``K+1`` channels; ``h x w`` is the stride-16 grid
and ``C`` a feature's channels.  Section numbers refer to the method spec
(the reference code, chenqi1126/SIPE ``network/resnet50_SIPE.py``).

The seed / prototype / normalisation math always runs in float32, whatever
the dtype of its inputs (bf16/fp16 autocast at the network is safe).
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def _f32(x: Tensor) -> Tensor:
    return x.float() if x.dtype != torch.float32 else x


def l2_normalize(x: Tensor, dim: int = 1, eps: float = 1e-5) -> Tensor:
    """``x / (||x||_2 + eps)`` along ``dim`` (reference feature norm)."""
    x = _f32(x)
    return x / (torch.norm(x, p=2, dim=dim, keepdim=True) + eps)


def hierarchical_feature(side_feats: Sequence[Tensor],
                         size: Optional[Tuple[int, int]] = None) -> Tensor:
    """Hierarchical feature from side features (§2.2).

    Each side feature is L2-normalised per pixel, *then* resized bilinearly
    (``align_corners=False``, no antialias) to ``size``, and all are
    concatenated on channels.

    Args:
        side_feats: ``[N, C_k, h_k, w_k]`` side-conv outputs (reference:
            128/128/256/256 channels at strides 4/8/16/16).
        size: output grid; default the size of ``side_feats[2]`` (stride 16).

    Returns:
        ``[N, sum C_k, h, w]`` (768 channels in the reference).
    """
    if size is None:
        size = side_feats[2].shape[-2:]
    size = tuple(int(s) for s in size)
    out = []
    for f in side_feats:
        n = l2_normalize(f)
        if tuple(n.shape[-2:]) != size:
            n = F.interpolate(
                n, size=size, mode='bilinear', align_corners=False)
        out.append(n)
    return torch.cat(out, dim=1)


def background_cam(cam_logits: Tensor, eps: float = 1e-5) -> Tensor:
    """Normalised CAM with a background channel in front (§3.1).

    ``A = ReLU(cam)``, ``M_f = A / (max_hw A + eps)`` per image and class,
    ``M_b = 1 - max_k M_f`` over **all** K classes (absent ones included),
    ``M = [M_b, M_f]``.  Masking by labels/valid area is the caller's job.

    Args:
        cam_logits: ``[N, K, h, w]`` raw CAM logits.

    Returns:
        ``[N, K+1, h, w]`` float32.
    """
    a = F.relu(_f32(cam_logits))
    m_f = a / (a.amax(dim=(2, 3), keepdim=True) + eps)
    if m_f.shape[1] == 0:  # no foreground classes at all
        m_b = a.new_ones(a.shape[0], 1, *a.shape[2:])
    else:
        m_b = 1 - m_f.amax(dim=1, keepdim=True)
    return torch.cat([m_b, m_f], dim=1)


def structure_similarity(norm_cam: Tensor,
                         feature: Tensor,
                         bg_weight: float = 0.5,
                         chunk_size: Optional[int] = None) -> Tensor:
    """Soft IoU between each pixel's structure map and each class map (§3.2).

    With ``f^_i = f_i / (||f_i|| + 1e-5)`` and ``S(i, j) = ReLU(<f^_i, f^_j>)``:
    ``inter_k(i) = sum_j S(i, j) M_k(j)`` (computed as ``M @ S``, never as a
    ``[N, K+1, hw, hw]`` tensor), ``union_k(i) = sum_j S(i, j) + sum_j M_k(j)
    - inter_k(i)``, ``C_k(i) = inter_k(i) / union_k(i)``, then
    ``C_0 *= bg_weight``.

    The only deviation from the reference: where ``union == 0`` (an
    all-zero feature row with an all-zero class map) ``C = 0`` instead of
    ``0/0 = NaN``.

    Args:
        norm_cam: ``[N, K+1, h, w]`` normalised (possibly masked) CAM.
        feature: ``[N, C, h, w]`` feature defining the structure map.
        bg_weight: factor on the background score (reference 0.5).
        chunk_size: process ``S`` in row blocks of this many pixels to
            bound memory (``None`` = all at once; ``S`` is ``[hw, hw]``).

    Returns:
        ``[N, K+1, h, w]`` float32.
    """
    n, k1, h, w = norm_cam.shape
    m = _f32(norm_cam).flatten(2)  # [N, K+1, hw]
    f = l2_normalize(feature).flatten(2)  # [N, C, hw]
    hw = f.shape[-1]
    if f.shape[-1] != m.shape[-1]:
        raise ValueError(f'feature grid {tuple(feature.shape[-2:])} != CAM '
                         f'grid {(h, w)}')
    step = hw if not chunk_size else int(chunk_size)
    inter = m.new_empty(n, k1, hw)
    s_sum = m.new_empty(n, 1, hw)
    ft = f.transpose(1, 2)  # [N, hw, C]
    for start in range(0, hw, step):
        stop = min(hw, start + step)
        # S[:, :, start:stop] = relu(f^T f) columns; S is symmetric
        s = F.relu(torch.bmm(ft, f[:, :, start:stop]))  # [N, hw, blk]
        inter[:, :, start:stop] = torch.bmm(m, s)
        s_sum[:, :, start:stop] = s.sum(dim=1, keepdim=True)
    union = s_sum + m.sum(dim=2, keepdim=True) - inter
    c = torch.where(union != 0, inter / torch.where(
        union != 0, union, torch.ones_like(union)), torch.zeros_like(inter))
    c = c.view(n, k1, h, w)
    if bg_weight != 1.0:
        c = torch.cat([c[:, :1] * bg_weight, c[:, 1:]], dim=1)
    return c


@torch.no_grad()
def structure_seeds(norm_cam: Tensor,
                    feature: Tensor,
                    label_mask: Tensor,
                    bg_weight: float = 0.5,
                    chunk_size: Optional[int] = None) -> Tensor:
    """Structure-aware seeds (§3.2): one-hot argmax of the structure
    similarity (ties -> lowest index), times ``label_mask``.  No gradient.

    Args:
        norm_cam: ``[N, K+1, h, w]``.
        feature: ``[N, C, h, w]``.
        label_mask: broadcastable to ``[N, K+1, h, w]`` (e.g. ``[N, K+1, 1,
            1]`` labels with background 1, or the full valid mask).

    Returns:
        ``[N, K+1, h, w]`` float32 in {0, 1}, at most one 1 per pixel.
    """
    c = structure_similarity(norm_cam, feature, bg_weight, chunk_size)
    idx = c.argmax(dim=1, keepdim=True)
    seeds = torch.zeros_like(c).scatter_(1, idx, 1.0)
    return seeds * _f32(label_mask)


def seed_prototypes(seeds: Tensor,
                    feature: Tensor,
                    denominator: str = 'area') -> Tensor:
    """Background-aware prototypes (§3.3).

    ``'area'`` (reference): ``P_k = sum_i R_k(i) F(i) / (h*w)``;
    ``'count'`` (paper): mean over the seed pixels of class k.  A class
    without seeds gets ``P_k = 0``.

    Args:
        seeds: ``[N, K+1, h, w]``.
        feature: ``[N, C, h, w]`` (the hierarchical feature).

    Returns:
        ``[N, K+1, C]`` float32.
    """
    r = _f32(seeds).flatten(2)  # [N, K+1, hw]
    f = _f32(feature).flatten(2)  # [N, C, hw]
    total = torch.bmm(r, f.transpose(1, 2))  # [N, K+1, C]
    if denominator == 'area':
        return total / r.shape[-1]
    if denominator == 'count':
        count = r.sum(dim=2, keepdim=True)
        return total / count.clamp(min=1)
    raise ValueError(
        f"denominator must be 'area' or 'count', got {denominator!r}")


def instance_cam(prototypes: Tensor, feature: Tensor,
                 eps: float = 1e-8) -> Tensor:
    """IS-CAM (§3.4): ``ReLU(cos(F(i), P_k))``.

    Same semantics as :func:`torch.nn.functional.cosine_similarity`
    (``x.y / sqrt(clamp(|x|^2 |y|^2, eps^2))``) but as one batched matrix
    product instead of a ``[N, K+1, C, h, w]`` broadcast.

    Args:
        prototypes: ``[N, K+1, C]``.
        feature: ``[N, C, h, w]``.

    Returns:
        ``[N, K+1, h, w]`` float32 in [0, 1]; exactly 0 for zero prototypes.
    """
    p = _f32(prototypes)
    f = _f32(feature)
    n, c, h, w = f.shape
    ff = f.flatten(2)  # [N, C, hw]
    dot = torch.bmm(p, ff)  # [N, K+1, hw]
    pn2 = (p * p).sum(dim=2, keepdim=True)  # [N, K+1, 1]
    fn2 = (ff * ff).sum(dim=1, keepdim=True)  # [N, 1, hw]
    cos = dot / torch.sqrt(torch.clamp(pn2 * fn2, min=eps * eps))
    return F.relu(cos).view(n, -1, h, w)


def max_normalize(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-channel spatial max normalisation ``x / (max_hw x + eps)``.

    Accepts ``[N, C, h, w]`` or ``[C, h, w]``.
    """
    x = _f32(x)
    return x / (x.amax(dim=(-2, -1), keepdim=True) + eps)


def gsc_loss(norm_cam: Tensor, is_cam: Tensor, eps: float = 1e-5) -> Tensor:
    """General-Specific Consistency loss (§4):
    ``mean |M - IS / (max_hw IS + eps)|`` over all ``N (K+1) h w`` elements.
    Symmetric: no detach on either side.

    Args:
        norm_cam, is_cam: ``[N, K+1, h, w]``.
    """
    return torch.mean(torch.abs(_f32(norm_cam) - max_normalize(is_cam, eps)))


def flip_fuse(x: Tensor) -> Tensor:
    """``x[0] + flip_w(x[1])`` for an (image, flipped image) pair (§6.1).

    Args:
        x: ``[2, C, h, w]``.

    Returns:
        ``[C, h, w]``.
    """
    if x.shape[0] != 2:
        raise ValueError(f'flip_fuse expects a batch of 2, got {x.shape[0]}')
    return x[0] + x[1].flip(-1)


def fuse_multiscale(maps: Sequence[Tensor], size: Tuple[int, int],
                    eps: float = 1e-5) -> Tensor:
    """Multi-scale fusion (§6.1): sum of bilinear (``align_corners=False``)
    upsamplings straight to the image size, then per-channel max
    normalisation.

    Args:
        maps: per scale ``[C, h_s, w_s]``.
        size: image ``(H, W)``.

    Returns:
        ``[C, H, W]`` float32.
    """
    size = tuple(int(s) for s in size)
    total = None
    for m in maps:
        up = F.interpolate(
            _f32(m)[None], size=size, mode='bilinear',
            align_corners=False)[0]
        total = up if total is None else total + up
    return max_normalize(total, eps)


def is_cam_from_features(cam_logits: Tensor,
                         hie_feature: Tensor,
                         seed_feature: Tensor,
                         label_mask: Tensor,
                         bg_weight: float = 0.5,
                         denominator: str = 'area',
                         mask_cam: bool = True) -> Dict[str, Tensor]:
    """The reference forward chain (§3): normalised CAM -> seeds ->
    prototypes -> IS-CAM.

    Args:
        cam_logits: ``[N, K, h, w]``.
        hie_feature: ``[N, C_hie, h, w]`` (prototypes and IS-CAM).
        seed_feature: ``[N, C, h, w]`` structure-map feature (``x4`` in
            training, ``hie`` at inference, as the reference).
        label_mask: broadcastable to ``[N, K+1, h, w]``.
        mask_cam: multiply the normalised CAM by ``label_mask`` before seed
            locating (training/validation: yes; reference make_cam: no).

    Returns:
        dict ``norm_cam``, ``seeds``, ``prototypes`` ``[N, K+1, C_hie]``,
        ``is_cam`` (not masked).
    """
    norm_cam = background_cam(cam_logits)
    if mask_cam:
        norm_cam = norm_cam * _f32(label_mask)
    seeds = structure_seeds(norm_cam, seed_feature, label_mask, bg_weight)
    prototypes = seed_prototypes(seeds, hie_feature, denominator)
    return dict(
        norm_cam=norm_cam,
        seeds=seeds,
        prototypes=prototypes,
        is_cam=instance_cam(prototypes, hie_feature))
