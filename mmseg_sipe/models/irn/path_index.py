"""Pixel-pair search paths of IRN (Ahn et al., CVPR 2019), as pure functions.

IRN relates every pixel to the pixels inside a half disc below / to the right
of it (each unordered pair is listed once).  The *affinity* of a pair is one
minus the largest edge score met on the straight path joining the two pixels;
the same pairs carry the affinity labels used to train the edge branch.

Conventions used throughout:

* An offset is ``(dy, dx)`` with ``dy >= 0``; the search set of ``radius`` r is
  ``{(0, dx): 1 <= dx < r} U {(dy, dx): 1 <= dy < r, |dx| < r,
  dy^2 + dx^2 < r^2}`` (34 offsets for r = 5, 152 for r = 10), in that order.
* The path of an offset is every grid point ``(y, x)`` of the box spanned by
  the source ``(0, 0)`` and the destination whose distance to the line through
  them is below one pixel; it contains both end points.
* ``rf = radius - 1`` (IRN's ``radius_floor``) is the largest ``|dy|`` or
  ``|dx|`` of any offset.  In the ``'valid'`` layout the source pixels are
  rows ``[0, H - rf)`` and columns ``[rf, W - rf)``, so that every destination
  lies inside the map (the layout of IRN's training); in the ``'full'`` layout
  every pixel is a source and destinations outside the map get affinity 0 (the
  layout of the random walk).
"""
from functools import lru_cache
from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

Offset = Tuple[int, int]


def _check_radius(radius: int) -> int:
    if int(radius) != radius or radius < 2:
        raise ValueError(f'radius must be an integer >= 2, got {radius!r}')
    return int(radius)


@lru_cache(maxsize=None)
def search_offsets(radius: int) -> Tuple[Offset, ...]:
    """Destination offsets ``(dy, dx)`` searched from each source pixel.

    Args:
        radius (int): Search radius r (exclusive, Euclidean).

    Returns:
        tuple[tuple[int, int]]: The offsets, horizontal ones first, then row
        by row (see the module doc).
    """
    r = _check_radius(radius)
    offsets = [(0, dx) for dx in range(1, r)]
    for dy in range(1, r):
        for dx in range(-r + 1, r):
            if dy * dy + dx * dx < r * r:
                offsets.append((dy, dx))
    return tuple(offsets)


@lru_cache(maxsize=None)
def path_coords(offset: Offset) -> Tuple[Offset, ...]:
    """Grid points on the straight path from ``(0, 0)`` to ``offset``.

    A point of the bounding box belongs to the path when its distance to the
    line through the two end points is below one pixel.  The destination
    comes first, the remaining points follow by decreasing ``|y| + |x|``.

    Args:
        offset (tuple[int, int]): ``(dy, dx)``, not ``(0, 0)``.

    Returns:
        tuple[tuple[int, int]]: Points ``(y, x)`` relative to the source.
    """
    dy, dx = int(offset[0]), int(offset[1])
    if dy == 0 and dx == 0:
        raise ValueError('offset (0, 0) has no path')
    length_sq = dy * dy + dx * dx
    pts = []
    for y in range(min(0, dy), max(0, dy) + 1):
        for x in range(min(0, dx), max(0, dx) + 1):
            cross = dy * x - dx * y
            if cross * cross < length_sq:  # distance^2 = cross^2 / len^2 < 1
                pts.append((y, x))
    pts.sort(key=lambda p: -(abs(p[0]) + abs(p[1])))
    return tuple(pts)


def search_paths(radius: int) -> List[Tuple[Offset, Tuple[Offset, ...]]]:
    """``[(offset, path_coords(offset)), ...]``, :func:`search_offsets` order.
    """
    return [(o, path_coords(o)) for o in search_offsets(radius)]


def _layout(height: int, width: int, radius: int,
            layout: str) -> Tuple[int, int]:
    """Source-grid size for ``layout`` (see module doc)."""
    rf = radius - 1
    if layout == 'full':
        return height, width
    if layout == 'valid':
        h, w = height - rf, width - 2 * rf
        if h <= 0 or w <= 0:
            raise ValueError(
                f'map of size {height}x{width} is too small for radius '
                f'{radius} in the valid layout (needs > {rf}x{2 * rf})')
        return h, w
    raise ValueError(f"layout must be 'full' or 'valid', got {layout!r}")


def source_grid_size(height: int, width: int, radius: int,
                     layout: str = 'valid') -> Tuple[int, int]:
    """``(h_src, w_src)`` of the source grid of a ``height x width`` map."""
    return _layout(height, width, _check_radius(radius), layout)


@lru_cache(maxsize=None)
def _path_table(radius: int):
    """Unique path points and, per path length, offset indices + point ids."""
    paths = search_paths(radius)
    points = sorted({p for _, pts in paths for p in pts})
    point_id = {p: i for i, p in enumerate(points)}
    groups = {}
    for d, (_, pts) in enumerate(paths):
        groups.setdefault(len(pts), []).append(
            (d, [point_id[p] for p in pts]))
    table = []
    for length in sorted(groups):
        ds = [d for d, _ in groups[length]]
        ids = [i for _, i in groups[length]]
        table.append((np.asarray(ds, np.int64), np.asarray(ids, np.int64)))
    return points, table


def shifted_maps(x: torch.Tensor, points, radius: int, layout: str,
                 pad_value: float) -> torch.Tensor:
    """Stack ``x`` shifted to each path point over the source grid.

    Args:
        x (Tensor): ``[N, C, H, W]``.
        points (Sequence[tuple[int, int]]): Relative points ``(y, x)`` with
            ``0 <= y < radius`` and ``|x| < radius``.
        radius (int): Search radius.
        layout (str): ``'valid'`` or ``'full'``.
        pad_value (float): Value outside the map (``'full'`` layout).

    Returns:
        Tensor: ``[N, C, P, h_src, w_src]``; entry ``p`` at source ``(i, j)``
        is ``x`` at the source pixel moved by ``points[p]``.
    """
    n, c, height, width = x.shape
    rf = radius - 1
    h, w = _layout(height, width, radius, layout)
    if layout == 'full':
        # pad left/right/bottom by rf so every path point is addressable
        x = F.pad(x, (rf, rf, 0, rf), mode='constant', value=pad_value)
    # source (i, j) of the grid sits at (i, j + rf) of x in both layouts
    return torch.stack(
        [x[:, :, py:py + h, rf + px:rf + px + w] for py, px in points], 2)


def edge_to_affinity(edge: torch.Tensor, radius: int,
                     layout: str = 'valid') -> torch.Tensor:
    """Pair affinities from an edge map: ``1 - max(edge on the pair's path)``.

    Args:
        edge (Tensor): ``[N, 1, H, W]`` edge probabilities in ``[0, 1]``.
        radius (int): Search radius (IRN: 10 for training, 5 for the walk).
        layout (str): ``'valid'`` (sources whose every destination is inside
            the map; training) or ``'full'`` (every pixel a source; pairs
            leaving the map get 0 since the outside counts as edge 1).

    Returns:
        Tensor: ``[N, D, h_src, w_src]``, ``D = len(search_offsets(radius))``,
        channel ``d`` the affinity between each source pixel and the pixel at
        offset ``search_offsets(radius)[d]``.  Differentiable w.r.t. ``edge``.
    """
    if edge.dim() != 4 or edge.shape[1] != 1:
        raise ValueError(f'edge must be [N, 1, H, W], got {tuple(edge.shape)}')
    radius = _check_radius(radius)
    points, table = _path_table(radius)
    stacked = shifted_maps(edge, points, radius, layout, 1.0)[:, 0]
    n, _, h, w = stacked.shape
    out = edge.new_empty((n, len(search_offsets(radius)), h, w))
    for ds, ids in table:
        idx = torch.from_numpy(ids).to(edge.device)  # [D_L, L]
        vals = stacked[:, idx.reshape(-1)].reshape(n, *idx.shape, h, w)
        d_idx = torch.from_numpy(ds).to(edge.device)
        out = out.index_copy(1, d_idx, 1.0 - vals.amax(dim=2))
    return out


def affinity_labels(label: torch.Tensor, radius: int, num_classes: int,
                    ignore_index: int = 255
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """IRN's pair labels from a (reduced) IR label map, ``'valid'`` layout.

    A pair is *valid* when both labels are ``< num_classes`` (and not
    ``ignore_index``); valid pairs with equal labels are positive, split into
    background (label 0) and foreground; valid pairs with different labels are
    negative.

    Args:
        label (Tensor): ``[N, H, W]`` or ``[N, 1, H, W]`` integer labels.
        radius (int): Search radius (IRN: 10).
        num_classes (int): Classes including background (21 for VOC).
        ignore_index (int): Label of uncertain pixels.

    Returns:
        tuple[Tensor]: ``(bg_pos, fg_pos, neg)``, each float
        ``[N, D, H - rf, W - 2 rf]`` with values in ``{0, 1}``.
    """
    if label.dim() == 4:
        if label.shape[1] != 1:
            raise ValueError(
                f'label must be [N, H, W] or [N, 1, H, W], got '
                f'{tuple(label.shape)}')
        label = label[:, 0]
    if label.dim() != 3:
        raise ValueError(
            f'label must be [N, H, W] or [N, 1, H, W], got '
            f'{tuple(label.shape)}')
    radius = _check_radius(radius)
    label = label.long()
    rf = radius - 1
    h, w = _layout(label.shape[1], label.shape[2], radius, 'valid')
    src = label[:, None, :h, rf:rf + w]  # [N, 1, h, w]
    dst = shifted_maps(label[:, None], search_offsets(radius), radius,
                       'valid', 0)[:, 0]  # [N, D, h, w]

    def _valid(t):
        return (t < num_classes) & (t != ignore_index) & (t >= 0)

    valid = _valid(src) & _valid(dst)
    equal = src == dst
    pos = equal & valid
    bg_pos = (pos & (src == 0)).float()
    fg_pos = (pos & (src > 0)).float()
    neg = (~equal & valid).float()
    return bg_pos, fg_pos, neg


def displacement_targets(radius: int) -> torch.Tensor:
    """Offsets as a ``[1, 2, D, 1]`` float tensor ``(dy, dx)`` per pair."""
    off = torch.tensor(search_offsets(radius), dtype=torch.float32)  # [D, 2]
    return off.t()[None, :, :, None]


def pair_displacement(disp: torch.Tensor, radius: int) -> torch.Tensor:
    """Differences of displacement vectors over the pairs, ``'valid'`` layout.

    Args:
        disp (Tensor): ``[N, 2, H, W]`` displacement field.
        radius (int): Search radius.

    Returns:
        Tensor: ``[N, 2, D, h_src * w_src]``, ``disp(src) - disp(dst)``.
    """
    radius = _check_radius(radius)
    rf = radius - 1
    h, w = _layout(disp.shape[2], disp.shape[3], radius, 'valid')
    src = disp[:, :, None, :h, rf:rf + w]
    dst = shifted_maps(disp, search_offsets(radius), radius, 'valid', 0)
    pair = src - dst
    return pair.reshape(pair.shape[0], pair.shape[1], pair.shape[2], -1)
