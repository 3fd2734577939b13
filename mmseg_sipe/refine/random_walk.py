"""IRN random walk (Ahn et al., CVPR 2019) and SIPE's pseudo-label recipe.

Pure torch, any device, any map size (the reference pads the image to 512 and
so fails on larger COCO images; nothing here has a size limit).

The walk (``propagate_to_edge``) on a ``h x w`` map with ``n = h * w``:

1. ``A[i, j] = 1 - max(edge on the path i -> j)`` for pixel pairs closer than
   ``radius`` (both directions), ``A[i, i] = 1``, 0 elsewhere;
2. ``T = colnorm(A ** beta)`` (each column sums to one);
3. ``T <- T ** (2 ** exp_times)`` by repeated squaring;
4. ``rw = vec(x * (1 - edge)) @ T``.

Two ways to compute it, giving the same result up to float rounding:

* ``'dense'`` - exactly the reference's arithmetic: a dense ``n x n`` matrix
  squared ``exp_times`` times.  Memory: two ``n x n`` float32 matrices at peak
  (``8 n^2`` bytes: a 500x375 VOC image at stride 4 is 125x94, n = 11,750,
  about 1.1 GB; a 640x480 COCO image about 3 GB) and ``exp_times`` matrix
  products of ``2 n^3`` flops each (~26 TFLOP for VOC: well under a second on
  a recent GPU, minutes on a CPU).
* ``'sparse'`` - ``T`` is kept sparse (``(2 D + 1)`` entries per column, D the
  number of search offsets) and applied ``2 ** exp_times`` times to ``x``:
  ``O(n D C 2^exp_times)`` flops and ``O(n D)`` memory.  The default on CPU.

``mode='auto'`` (default) picks ``'dense'`` on CUDA and ``'sparse'`` elsewhere.
The dense products run with TF32 switched off (``T ** 256`` compounds a
TF32 rounding 256 times), whatever the process-wide flags say.
"""
import warnings
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..utils.device import tf32, to_device
from ..models.irn.path_index import edge_to_affinity, search_offsets

ArrayLike = Union[np.ndarray, torch.Tensor]


def _pair_index(height: int, width: int, radius: int,
                device) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flat source/destination indices of every pair, ``'full'`` layout.

    Returns:
        tuple[Tensor]: ``src`` and ``dst`` (``[D, h, w]`` long, flat pixel
        indices) and ``inside`` (``[D, h, w]`` bool, destination in the map).
    """
    offsets = torch.tensor(search_offsets(radius), device=device)  # [D, 2]
    ys = torch.arange(height, device=device).view(1, -1, 1)
    xs = torch.arange(width, device=device).view(1, 1, -1)
    ty = ys + offsets[:, 0].view(-1, 1, 1)
    tx = xs + offsets[:, 1].view(-1, 1, 1)
    inside = (ty < height) & (tx >= 0) & (tx < width)
    src = (ys * width + xs).expand_as(inside)
    dst = ty * width + tx
    return src, dst, inside


def edge_to_dense_affinity(edge: torch.Tensor, radius: int) -> torch.Tensor:
    """Dense symmetric affinity matrix of one edge map.

    Args:
        edge (Tensor): ``[1, H, W]`` or ``[H, W]`` edge probabilities.
        radius (int): Search radius.

    Returns:
        Tensor: ``[H*W, H*W]``; ``A[i, j] = A[j, i]`` = path affinity for
        pairs within ``radius``, ``A[i, i] = 1``, 0 otherwise.
    """
    edge = edge.reshape(1, 1, *edge.shape[-2:])
    h, w = edge.shape[-2:]
    aff = edge_to_affinity(edge, radius, layout='full')[0]  # [D, h, w]
    src, dst, inside = _pair_index(h, w, radius, edge.device)
    n = h * w
    dense = edge.new_zeros((n, n))
    s, d, a = src[inside], dst[inside], aff[inside]
    dense[s, d] = a
    dense[d, s] = a
    dense.fill_diagonal_(1.0)
    return dense


def affinity_to_transition(aff: torch.Tensor,
                           beta: float = 10.0,
                           exp_times: int = 8,
                           inplace: bool = False) -> torch.Tensor:
    """``T = colnorm(A ** beta) ** (2 ** exp_times)`` by repeated squaring.

    Args:
        aff (Tensor): ``[n, n]`` non-negative affinity (every column must have
            a positive entry, e.g. a unit diagonal).
        beta (float): Sharpening exponent (IRN: 10).
        exp_times (int): Number of squarings (IRN: 8, i.e. ``T ** 256``).
        inplace (bool): Reuse ``aff``'s memory for ``A ** beta`` (saves one
            ``n x n`` matrix; ``aff`` is overwritten).

    Returns:
        Tensor: ``[n, n]`` column-stochastic transition matrix.
    """
    t = aff.pow_(beta) if inplace else aff.pow(beta)
    t = t.div_(t.sum(dim=0, keepdim=True))
    for _ in range(int(exp_times)):
        t = torch.matmul(t, t)  # the previous matrix is freed on rebinding
    return t


def _sparse_transition_t(edge: torch.Tensor, radius: int,
                         beta: float) -> torch.Tensor:
    """Sparse CSR ``T^T`` (``[n, n]``) of one ``[1, H, W]`` edge map."""
    edge = edge.reshape(1, 1, *edge.shape[-2:])
    h, w = edge.shape[-2:]
    n = h * w
    aff = edge_to_affinity(edge, radius, layout='full')[0]
    src, dst, inside = _pair_index(h, w, radius, edge.device)
    s, d = src[inside], dst[inside]
    a = aff[inside].pow(beta)
    diag = torch.arange(n, device=edge.device)
    rows = torch.cat([s, d, diag])  # A[rows, cols] = vals (symmetric)
    cols = torch.cat([d, s, diag])
    vals = torch.cat([a, a, edge.new_ones(n)])
    colsum = edge.new_zeros(n).index_add_(0, cols, vals)
    vals = vals / colsum[cols]
    # T^T[j, i] = T[i, j]
    tt = torch.sparse_coo_tensor(
        torch.stack([cols, rows]), vals, (n, n),
        check_invariants=False).coalesce()
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter('ignore', UserWarning)
        return tt.to_sparse_csr()


def _resolve_mode(mode: str, device: torch.device) -> str:
    if mode == 'auto':
        return 'dense' if device.type == 'cuda' else 'sparse'
    if mode not in ('dense', 'sparse'):
        raise ValueError(
            f"mode must be 'auto', 'dense' or 'sparse', got {mode!r}")
    return mode


def propagate_to_edge(x: torch.Tensor,
                      edge: torch.Tensor,
                      radius: int = 5,
                      beta: float = 10.0,
                      exp_times: int = 8,
                      mode: str = 'auto') -> torch.Tensor:
    """Random-walk propagation of score maps within edge-bounded regions.

    Args:
        x (Tensor): ``[N, C, H, W]`` non-negative scores (e.g. CAMs).
        edge (Tensor): ``[N, 1, H, W]`` edge probabilities in ``[0, 1]``.
        radius (int): Search radius of the affinity (IRN/SIPE: 5).
        beta (float): Affinity exponent (10).
        exp_times (int): The walk has ``2 ** exp_times`` steps (8).
        mode (str): ``'auto'``, ``'dense'`` or ``'sparse'`` (module doc).

    Returns:
        Tensor: ``[N, C, H, W]``, ``vec(x * (1 - edge)) @ T`` per image.
    """
    if x.dim() != 4 or edge.dim() != 4 or edge.shape[1] != 1:
        raise ValueError(
            f'expected x [N, C, H, W] and edge [N, 1, H, W], got '
            f'{tuple(x.shape)} and {tuple(edge.shape)}')
    if x.shape[0] != edge.shape[0] or x.shape[-2:] != edge.shape[-2:]:
        raise ValueError(
            f'x {tuple(x.shape)} and edge {tuple(edge.shape)} differ in '
            'batch or spatial size')
    mode = _resolve_mode(mode, x.device)
    n, c, h, w = x.shape
    x = x.float()
    edge = edge.float()
    out = []
    for i in range(n):
        v = (x[i] * (1.0 - edge[i])).reshape(c, h * w)
        if mode == 'dense':
            with tf32(x.device, False):
                trans = affinity_to_transition(
                    edge_to_dense_affinity(edge[i], radius), beta,
                    exp_times, inplace=True)
                rw = torch.matmul(v, trans)
            del trans
        else:
            tt = _sparse_transition_t(edge[i], radius, beta)
            y = v.t().contiguous()  # [n, C]
            for _ in range(2**int(exp_times)):
                y = torch.sparse.mm(tt, y)
            rw = y.t()
        out.append(rw.reshape(c, h, w))
    return torch.stack(out, 0)


def _as_tensor(a: ArrayLike, device=None, dtype=torch.float32):
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    if device is not None:  # copy in the stored dtype, convert on arrival
        a = to_device(a, device)
    return a.to(dtype=dtype)


def random_walk_labels(is_cam: ArrayLike,
                       keys: Union[Sequence[int], np.ndarray],
                       edge: ArrayLike,
                       power: float = 1.5,
                       beta: float = 10.0,
                       exp_times: int = 8,
                       radius: int = 5,
                       mode: str = 'auto',
                       device: Optional[Union[str, torch.device]] = None
                       ) -> np.ndarray:
    """SIPE's pseudo label of one image (``make_seg_labels.py`` recipe).

    ``cams = interp(IS-CAM, edge size) ** power`` (background channel
    included), random walk, ``x4`` bilinear upsampling cropped to ``H x W``,
    division by the global max, argmax, class ids through ``keys``.

    Args:
        is_cam (ndarray | Tensor): ``[K+1, H, W]`` IS-CAM at image size,
            channel 0 background.
        keys (Sequence[int]): ``K+1`` class ids of the channels
            (``keys[0] == 0``).
        edge (ndarray | Tensor): ``[1, h4, w4]`` (or ``[h4, w4]``) edge map at
            stride 4, ``h4 >= ceil(H / 4)`` and ``w4 >= ceil(W / 4)``.
        power (float): Exponent applied to the CAMs (1.5).
        beta, exp_times, radius, mode: see :func:`propagate_to_edge`.
        device: Where to compute (default: the edge's device, else CPU).

    Returns:
        ndarray: ``[H, W]`` uint8 class ids.
    """
    keys = np.asarray(keys)
    if is_cam.ndim != 3:
        raise ValueError(
            f'is_cam must be [K+1, H, W], got {tuple(is_cam.shape)}')
    if keys.ndim != 1 or len(keys) != is_cam.shape[0]:
        raise ValueError(f'keys has {keys.size} entries but is_cam has '
                         f'{is_cam.shape[0]} channels')
    if len(keys) and keys[0] != 0:
        raise ValueError(f'keys[0] must be 0 (background), got {keys[0]}')
    if device is None:
        device = edge.device if isinstance(edge, torch.Tensor) else 'cpu'
    cam = _as_tensor(is_cam, device)
    edge = _as_tensor(edge, device)
    edge = edge.reshape(1, 1, *edge.shape[-2:])
    height, width = cam.shape[-2:]
    h4, w4 = edge.shape[-2:]
    if 4 * h4 < height or 4 * w4 < width:
        raise ValueError(
            f'edge map {h4}x{w4} is too small for a {height}x{width} image '
            f'(needs at least {-(-height // 4)}x{-(-width // 4)})')
    cams = F.interpolate(cam[None], size=(h4, w4), mode='bilinear',
                         align_corners=False).clamp_(min=0) ** power
    rw = propagate_to_edge(cams, edge, radius=radius, beta=beta,
                           exp_times=exp_times, mode=mode)
    rw_up = F.interpolate(rw, scale_factor=4, mode='bilinear',
                          align_corners=False)[0, :, :height, :width]
    top = rw_up.max()
    if top > 0:
        rw_up = rw_up / top  # global max (reference); argmax is unaffected
    pred = torch.argmax(rw_up, dim=0).cpu().numpy()
    return keys[pred].astype(np.uint8)
