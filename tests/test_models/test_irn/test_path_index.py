"""IRN pixel-pair paths, affinities and pair labels vs brute force."""
import numpy as np
import pytest
import torch

from mmseg_sipe.models.irn.path_index import (affinity_labels,
                                          displacement_targets,
                                          edge_to_affinity, pair_displacement,
                                          path_coords, search_offsets,
                                          source_grid_size)


def test_search_offsets_radius5_hand_count():
    offs = search_offsets(5)
    # (0, 1..4): 4; dy=1: |dx|<=4: 9; dy=2: 9; dy=3: |dx|<=3: 7;
    # dy=4: |dx|<=2: 5  -> 34
    assert len(offs) == 4 + 9 + 9 + 7 + 5 == 34
    assert offs[:4] == ((0, 1), (0, 2), (0, 3), (0, 4))
    assert (4, 2) in offs and (4, 3) not in offs and (3, -3) in offs
    assert len(set(offs)) == 34
    for dy, dx in offs:  # each unordered pair once: the lower half plane
        assert dy > 0 or (dy == 0 and dx > 0)
        assert dy * dy + dx * dx < 25
    assert len(search_offsets(10)) == 152
    with pytest.raises(ValueError):
        search_offsets(1)


def test_path_coords_hand_examples():
    assert path_coords((0, 3)) == ((0, 3), (0, 2), (0, 1), (0, 0))
    assert set(path_coords((1, 1))) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert path_coords((1, 1))[0] == (1, 1)
    # (2, -1): points of the box within 1 px of the line
    assert set(path_coords((2, -1))) == {(0, 0), (0, -1), (1, 0), (1, -1),
                                         (2, 0), (2, -1)}
    p = path_coords((3, 0))
    assert p[0] == (3, 0) and set(p) == {(0, 0), (1, 0), (2, 0), (3, 0)}


def _brute_affinity(edge, radius, layout):
    """Direct loops: 1 - max edge on the path; outside the map = edge 1."""
    h, w = edge.shape
    rf = radius - 1
    offs = search_offsets(radius)
    hs, ws = source_grid_size(h, w, radius, layout)
    y0, x0 = (0, rf) if layout == 'valid' else (0, 0)
    out = np.zeros((len(offs), hs, ws), np.float32)
    for d, o in enumerate(offs):
        for i in range(hs):
            for j in range(ws):
                y, x = y0 + i, x0 + j
                vals = []
                for py, px in path_coords(o):
                    yy, xx = y + py, x + px
                    inside = 0 <= yy < h and 0 <= xx < w
                    vals.append(edge[yy, xx] if inside else 1.0)
                out[d, i, j] = 1 - max(vals)
    return out


@pytest.mark.parametrize('layout', ['valid', 'full'])
def test_edge_to_affinity_matches_brute_force(layout):
    rng = np.random.RandomState(0)
    edge = rng.rand(9, 11).astype(np.float32)
    got = edge_to_affinity(torch.from_numpy(edge)[None, None], 4, layout)
    want = _brute_affinity(edge, 4, layout)
    assert got.shape == (1, ) + want.shape
    np.testing.assert_allclose(got[0].numpy(), want, atol=1e-6)


def test_affinity_zero_edge_is_one_and_wall_is_zero():
    h, w = 12, 14
    aff = edge_to_affinity(torch.zeros(2, 1, h, w), 5, 'valid')
    assert aff.shape == (2, 34, h - 4, w - 8)
    assert torch.all(aff == 1)
    # full layout: 1 when the destination is inside, else 0
    full = edge_to_affinity(torch.zeros(1, 1, h, w), 5, 'full')[0]
    for d, (dy, dx) in enumerate(search_offsets(5)):
        ys = torch.arange(h)[:, None] + dy
        xs = torch.arange(w)[None, :] + dx
        inside = (ys < h) & (xs >= 0) & (xs < w)
        assert torch.equal(full[d], inside.float())
    # a vertical wall of edge 1 at column 7
    edge = torch.zeros(1, 1, h, w)
    edge[..., 7] = 1
    aff = edge_to_affinity(edge, 5, 'full')[0]
    for d, (dy, dx) in enumerate(search_offsets(5)):
        for x in range(w):
            x2 = x + dx
            if not 0 <= x2 < w:
                continue
            crosses = min(x, x2) <= 7 <= max(x, x2)
            col = aff[d, :h - dy, x]
            assert torch.all(col == (0.0 if crosses else 1.0)), (d, x)


def test_edge_to_affinity_gradient_and_errors():
    edge = torch.rand(1, 1, 10, 12, requires_grad=True)
    edge_to_affinity(edge, 3, 'valid').sum().backward()
    assert edge.grad is not None and edge.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='too small'):
        edge_to_affinity(torch.zeros(1, 1, 3, 20), 5, 'valid')
    with pytest.raises(ValueError, match=r'\[N, 1, H, W\]'):
        edge_to_affinity(torch.zeros(1, 2, 10, 10), 5)


def test_affinity_labels_match_brute_force():
    rng = np.random.RandomState(3)
    lab = rng.choice([0, 0, 3, 5, 255, 30], size=(2, 10, 13))
    radius, ncls = 4, 21
    bg, fg, neg = affinity_labels(torch.from_numpy(lab), radius, ncls)
    rf = radius - 1
    offs = search_offsets(radius)
    assert bg.shape == (2, len(offs), 10 - rf, 13 - 2 * rf)
    for n in range(2):
        for d, (dy, dx) in enumerate(offs):
            for i in range(10 - rf):
                for j in range(13 - 2 * rf):
                    a = lab[n, i, j + rf]
                    b = lab[n, i + dy, j + rf + dx]
                    valid = a < ncls and b < ncls
                    assert bg[n, d, i, j] == (valid and a == b == 0)
                    assert fg[n, d, i, j] == (valid and a == b and a > 0)
                    assert neg[n, d, i, j] == (valid and a != b)
    # the three sets are disjoint
    assert torch.all(bg + fg + neg <= 1)


def test_pair_displacement_and_targets():
    radius = 4
    h, w = 9, 12
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(),
                            indexing='ij')
    # a field pointing every pixel at one centroid: disp(p) = c - p
    disp = torch.stack([5.0 - ys, 6.0 - xs])[None]
    pair = pair_displacement(disp, radius)
    tgt = displacement_targets(radius)
    assert tgt.shape == (1, 2, len(search_offsets(radius)), 1)
    assert pair.shape == (1, 2, len(search_offsets(radius)),
                          (h - 3) * (w - 6))
    torch.testing.assert_close(pair, tgt.expand_as(pair))
    # a constant field: zero differences
    assert torch.all(pair_displacement(torch.ones(1, 2, h, w), radius) == 0)
