"""IRN random walk and SIPE's random-walk pseudo labels."""
import numpy as np
import pytest
import torch

from mmseg_sipe.models.irn.path_index import search_offsets
from mmseg_sipe.refine.random_walk import (affinity_to_transition,
                                           edge_to_dense_affinity,
                                           propagate_to_edge,
                                           random_walk_labels)


def _wall_edge(h, w, col):
    edge = torch.zeros(1, 1, h, w)
    edge[..., col] = 1.0
    return edge


def test_dense_affinity_structure():
    h, w, r = 6, 7, 3
    dense = edge_to_dense_affinity(torch.zeros(1, h, w), r)
    assert dense.shape == (h * w, h * w)
    assert torch.equal(dense, dense.t())
    assert torch.all(dense.diagonal() == 1)
    # zero edge: A[i, j] = 1 exactly for 0 < |i - j|^2 < r^2, else 0
    ys, xs = np.divmod(np.arange(h * w), w)
    d2 = (ys[:, None] - ys[None]) ** 2 + (xs[:, None] - xs[None]) ** 2
    want = (d2 < r * r).astype(np.float32)
    np.testing.assert_array_equal(dense.numpy(), want)
    # each source has one entry per in-bounds offset, both directions
    assert int((dense > 0).sum()) == h * w + 2 * sum(
        max(0, h - dy) * max(0, w - abs(dx)) for dy, dx in search_offsets(r))


def test_affinity_to_transition():
    torch.manual_seed(0)
    a = torch.rand(5, 5)
    a = (a + a.t()) / 2
    a.fill_diagonal_(1)
    t0 = affinity_to_transition(a, beta=2, exp_times=0)
    torch.testing.assert_close(t0, a**2 / (a**2).sum(0, keepdim=True))
    torch.testing.assert_close(t0.sum(0), torch.ones(5))
    t2 = affinity_to_transition(a, beta=2, exp_times=2)
    torch.testing.assert_close(t2, t0 @ t0 @ t0 @ t0)
    torch.testing.assert_close(t2.sum(0), torch.ones(5))
    a2 = a.clone()
    t_in = affinity_to_transition(a2, beta=2, exp_times=0, inplace=True)
    assert t_in.data_ptr() == a2.data_ptr()  # no extra n x n matrix
    torch.testing.assert_close(t_in, t0)


def test_propagate_dense_equals_sparse_and_batch():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 11, 13)
    edge = torch.rand(2, 1, 11, 13) * 0.5
    dense = propagate_to_edge(x, edge, radius=5, beta=10, exp_times=4,
                              mode='dense')
    sparse = propagate_to_edge(x, edge, radius=5, beta=10, exp_times=4,
                               mode='sparse')
    assert dense.shape == x.shape
    torch.testing.assert_close(dense, sparse, rtol=1e-4, atol=1e-5)
    one = propagate_to_edge(x[1:], edge[1:], exp_times=4, mode='dense')
    torch.testing.assert_close(one[0], dense[1])
    # the reference formula written out: vec(x * (1 - edge)) @ T
    trans = affinity_to_transition(edge_to_dense_affinity(edge[0], 5), 10, 4)
    ref = (x[0] * (1 - edge[0])).reshape(3, -1) @ trans
    torch.testing.assert_close(dense[0], ref.reshape(3, 11, 13))


@pytest.mark.parametrize('mode', ['dense', 'sparse'])
def test_propagate_wall_keeps_mass_on_each_side(mode):
    h, w, col = 10, 15, 7
    edge = _wall_edge(h, w, col)
    x = torch.zeros(1, 2, h, w)
    x[0, 0, 2:5, 1:3] = 1.0  # channel 0 only left of the wall
    x[0, 1, 6:9, 11:14] = 1.0  # channel 1 only right of the wall
    rw = propagate_to_edge(x, edge, radius=5, beta=10, exp_times=8,
                           mode=mode)
    assert torch.all(rw[0, 0, :, col:] == 0)
    assert torch.all(rw[0, 1, :, :col + 1] == 0)
    assert torch.all(rw[0, 0, :, :col] > 0)  # spread over the whole side
    assert torch.all(rw[0, 1, :, col + 1:] > 0)
    # after many steps each side is close to uniform
    left = rw[0, 0, :, :col]
    assert (left.max() - left.min()) / left.max() < 0.05


def test_propagate_errors():
    with pytest.raises(ValueError, match='spatial'):
        propagate_to_edge(torch.zeros(1, 2, 5, 5), torch.zeros(1, 1, 5, 6))
    with pytest.raises(ValueError, match='mode'):
        propagate_to_edge(torch.zeros(1, 2, 5, 5), torch.zeros(1, 1, 5, 5),
                          mode='fast')


def test_random_walk_labels_two_class_toy():
    # 37 x 53 image, edge map at stride 4: 10 x 14, wall at edge column 6
    height, width = 37, 53
    edge = torch.zeros(1, 10, 14)
    edge[:, :, 6] = 1.0
    cam = np.zeros((2, height, width), np.float32)
    cam[0] = 0.2  # background everywhere, weak
    cam[1, :, :24] = 0.0
    cam[1, 4:30, 2:14] = 1.0  # a seed of class 3 left of the wall
    keys = np.array([0, 3])
    pred = random_walk_labels(cam, keys, edge, mode='sparse')
    assert pred.shape == (height, width) and pred.dtype == np.uint8
    assert set(np.unique(pred)) <= {0, 3}
    assert (pred[:, :20] == 3).all()  # the seed's side, wholly
    assert (pred[:, 32:] == 0).all()  # the other side: background
    dense = random_walk_labels(cam, keys, edge, mode='dense')
    np.testing.assert_array_equal(pred, dense)


@pytest.mark.parametrize('size', [(37, 53), (150, 130)])
def test_random_walk_labels_any_size(size):
    # 150 x 130 stands in (downscaled) for 600 x 520, larger than 512 / 4
    h, w = size
    rng = np.random.RandomState(0)
    cam = rng.rand(3, h, w).astype(np.float32)
    h4, w4 = -(-h // 4), -(-w // 4)
    edge = torch.from_numpy(rng.rand(1, h4, w4).astype(np.float32)) * 0.3
    pred = random_walk_labels(cam, [0, 5, 12], edge, mode='sparse',
                              exp_times=6)
    assert pred.shape == (h, w)
    assert set(np.unique(pred)) <= {0, 5, 12}


def test_random_walk_labels_errors():
    cam = np.zeros((2, 16, 16), np.float32)
    edge = torch.zeros(1, 4, 4)
    with pytest.raises(ValueError, match='channels'):
        random_walk_labels(cam, [0, 1, 2], edge)
    with pytest.raises(ValueError, match='background'):
        random_walk_labels(cam, [1, 2], edge)
    with pytest.raises(ValueError, match='too small'):
        random_walk_labels(np.zeros((2, 17, 16), np.float32), [0, 1], edge)
