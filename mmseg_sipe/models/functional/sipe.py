"""SIPE's math as small pure functions (tensor in, tensor out).

Notation: ``N`` batch, ``K`` foreground classes, channel 0 = background, so
maps with a background have ``K+1`` channels; ``h x w`` is the stride-16 grid
and ``C`` a feature's channels.  Section numbers (``§``) refer to
``docs/method.md``, which describes the reference code
(chenqi1126/SIPE ``network/resnet50_SIPE.py``, ``make_cam.py``,
``train_resnet50_SIPE.py``).  See ``docs/functional.md`` for the formulas.

Precision and devices: every function except :func:`flip_fuse` computes in
float32, whatever the dtype of its inputs (bf16/fp16), and with autocast
switched off for the inputs' device, so an AMP region around the network
cannot push the seed / prototype / normalisation math back to half
precision.  Outputs are float32 on the inputs' device; nothing here moves
tensors between devices.

The only numerical deviation from the reference: in
:func:`structure_similarity` a zero union (an all-zero feature vector meeting
an all-zero class map) gives ``0`` instead of ``0/0 = NaN``.
:func:`structure_seeds` still picks the seeds the reference picks there.
"""
import functools
import os
from contextlib import nullcontext
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'l2_normalize', 'hierarchical_feature', 'background_cam',
    'structure_similarity', 'structure_seeds', 'seed_prototypes',
    'instance_cam', 'max_normalize', 'gsc_loss', 'flip_fuse',
    'fuse_multiscale', 'is_cam_from_features', 'seed_chunk_size'
]

#: Environment variable: memory budget (MiB) of the quadratic seed step.
CHUNK_MB_ENV = 'SIPE_MAX_CHUNK_MB'
DEFAULT_MAX_CHUNK_MB = 512

# Reference constants.
NORM_EPS = 1e-5  # feature L2 norm and CAM max-normalisation eps
COSINE_EPS = 1e-8  # torch.nn.functional.cosine_similarity default eps


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _f32(x: Tensor) -> Tensor:
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


def _float32_math(fn: Callable) -> Callable:
    """Run ``fn`` with autocast disabled on its inputs' device."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _autocast_off(_first_device(args, kwargs)):
            return fn(*args, **kwargs)

    return wrapper


def _check_4d(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f'{name} must be a [N, C, h, w] tensor, got {shape}')


def _check_grid(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape[0] != b.shape[0] or a.shape[-2:] != b.shape[-2:]:
        raise ValueError(
            f'{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must '
            'share batch size and spatial grid')


# ---------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------
@_float32_math
def l2_normalize(x: Tensor, dim: int = 1, eps: float = NORM_EPS) -> Tensor:
    """``x / (||x||_2 + eps)`` along ``dim`` (the reference feature norm).

    Note the eps is *added* to the norm (not a clamp), as in the reference;
    a zero vector maps to zero.

    Args:
        x: any shape, e.g. ``[N, C, h, w]`` with ``dim=1``.

    Returns:
        float32 tensor of the shape of ``x``.
    """
    x = _f32(x)
    return x / (torch.norm(x, p=2, dim=dim, keepdim=True) + eps)


@_float32_math
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
        _check_4d(f'side_feats[{i}]', f)
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
@_float32_math
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
    _check_4d('cam_logits', cam_logits)
    a = F.relu(_f32(cam_logits))
    m_f = a / (a.amax(dim=(2, 3), keepdim=True) + eps)
    if m_f.shape[1] == 0:  # no foreground channel at all
        m_b = a.new_ones(a.shape[0], 1, *a.shape[2:])
    else:
        m_b = 1 - m_f.amax(dim=1, keepdim=True)
    return torch.cat([m_b, m_f], dim=1)


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
    _check_4d('norm_cam', norm_cam)
    _check_4d('feature', feature)
    _check_grid('norm_cam', norm_cam, 'feature', feature)
    if chunk_size is not None and int(chunk_size) <= 0:
        raise ValueError(f'chunk_size must be positive, got {chunk_size}')
    n, k1, h, w = norm_cam.shape
    m = _f32(norm_cam).flatten(2)  # [N, K+1, hw]
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


@_float32_math
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


@_float32_math
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
    mask = _f32(label_mask)
    try:
        ok = torch.broadcast_shapes(mask.shape, c.shape) == c.shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f'label_mask {tuple(mask.shape)} does not broadcast to the seeds '
            f'{tuple(c.shape)}')
    idx = c.argmax(dim=1, keepdim=True)
    # unconditionally (no ``if has_nan.any()``): a Python branch on a device
    # value would make the host wait for the GPU at every call
    has_nan = undefined.any(dim=1, keepdim=True)
    first_nan = undefined.to(torch.uint8).argmax(dim=1, keepdim=True)
    idx = torch.where(has_nan, first_nan, idx)
    seeds = torch.zeros_like(c).scatter_(1, idx, 1.0)
    return seeds * mask


@_float32_math
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
    _check_4d('seeds', seeds)
    _check_4d('feature', feature)
    _check_grid('seeds', seeds, 'feature', feature)
    r = _f32(seeds).flatten(2)  # [N, K+1, hw]
    f = _f32(feature).flatten(2)  # [N, C, hw]
    total = torch.bmm(r, f.transpose(1, 2))  # [N, K+1, C]
    if denominator == 'area':
        return total / r.shape[-1]
    count = r.sum(dim=2, keepdim=True)  # [N, K+1, 1]
    return total / torch.where(count > 0, count, torch.ones_like(count))


@_float32_math
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
    _check_4d('feature', feature)
    p = _f32(prototypes)
    if p.dim() == 5 and p.shape[-2:] == (1, 1):
        p = p.flatten(2)
    if p.dim() != 3 or p.shape[0] != feature.shape[0] \
            or p.shape[2] != feature.shape[1]:
        raise ValueError(f'prototypes {tuple(prototypes.shape)} must be '
                         f'[N, K+1, C] matching feature '
                         f'{tuple(feature.shape)}')
    f = _f32(feature)
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
@_float32_math
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
    x = _f32(x)
    return x / (x.amax(dim=(-2, -1), keepdim=True) + eps)


@_float32_math
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
    return torch.mean(torch.abs(_f32(norm_cam) - max_normalize(is_cam, eps)))


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


@_float32_math
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
        up = _f32(m)[None]
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
        norm_cam = norm_cam * _f32(label_mask)
    seeds = structure_seeds(
        norm_cam, seed_feature, label_mask, bg_weight, chunk_size=chunk_size)
    prototypes = seed_prototypes(seeds, hie_feature, denominator)
    return dict(
        norm_cam=norm_cam,
        seeds=seeds,
        prototypes=prototypes,
        is_cam=instance_cam(prototypes, hie_feature))
