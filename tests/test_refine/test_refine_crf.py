"""Dense CRF helpers (pydensecrf is a required dependency: no skipping)."""
import operator
import pickle
import sys

import numpy as np
import pytest

from mmseg_sipe.refine.crf import (DenseCRF, cam_to_ir_label,
                                   crf_inference_label, crf_inference_labels,
                                   crf_inference_prob, crf_refine_label,
                                   run_in_pool)
from mmseg_sipe.registry import TASK_UTILS
from sipe_testing import ROOT

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# the reference imutils.crf_inference_label / cam2ir.py, transcribed
from benchmarks.naive_sipe import naive_crf_inference_label  # noqa: E402


def _two_region_image(h=40, w=60, seed=0):
    rng = np.random.RandomState(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:, w // 2:] = 200
    img = (img + rng.randint(0, 20, img.shape)).astype(np.uint8)
    gt = np.zeros((h, w), np.int64)
    gt[:, w // 2:] = 1
    return img, gt


def _three_band_example():
    """Bands: confident bg | uncertain | confident class 8 (keys [0, 8])."""
    h, w = 24, 60
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :20] = (20, 20, 20)
    img[:, 20:40] = (120, 30, 200)
    img[:, 40:] = (240, 240, 60)
    cam = np.zeros((2, h, w), np.float32)
    cam[0, :, :20], cam[1, :, :20] = 0.9, 0.1  # bg; bg*0.5 still wins
    cam[0, :, 20:40], cam[1, :, 20:40] = 0.6, 0.4  # bg, but not after *0.5
    cam[0, :, 40:], cam[1, :, 40:] = 0.1, 0.9  # foreground
    expected = np.zeros((h, w), np.uint8)
    expected[:, 20:40] = 255
    expected[:, 40:] = 8
    return img, cam, np.array([0, 8]), expected


def test_pydensecrf_is_installed():
    import pydensecrf.densecrf  # noqa: F401  (required, must not be skipped)


def test_crf_label_denoises_two_regions():
    img, gt = _two_region_image()
    rng = np.random.RandomState(1)
    noisy = gt.copy()
    flip = rng.rand(*gt.shape) < 0.25
    noisy[flip] = 1 - noisy[flip]
    out = crf_inference_label(img, noisy, n_labels=2)
    assert out.shape == gt.shape
    acc_in, acc_out = (noisy == gt).mean(), (out == gt).mean()
    assert acc_in < 0.8
    assert acc_out > 0.98 and acc_out > acc_in


def test_crf_label_single_label_and_errors():
    img, gt = _two_region_image(8, 10)
    assert (crf_inference_label(img, np.zeros_like(gt), 1) == 0).all()
    with pytest.raises(ValueError, match='labels must lie'):
        crf_inference_label(img, gt + 5, 2)
    with pytest.raises(ValueError, match='uint8'):
        crf_inference_label(img.astype(np.float32), gt, 2)
    with pytest.raises(ValueError, match='8x10'):
        crf_inference_label(img[:4], gt, 2)


def test_cam_to_ir_label_handmade():
    img, cam, keys, expected = _three_band_example()
    cam_before = cam.copy()
    out = cam_to_ir_label(img, cam, keys)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(cam, cam_before)  # input untouched
    # the two CRF passes on their own
    np.testing.assert_array_equal(
        crf_refine_label(img, cam, keys), np.where(expected == 8, 8, 0))
    np.testing.assert_array_equal(
        crf_refine_label(img, cam, keys, bg_scale=0.5),
        np.where(expected == 0, 0, 8))


@pytest.mark.parametrize('n_labels', [3, 21])
def test_shared_lattice_equals_separate_crfs(n_labels):
    """Three label maps on one image's lattices == three reference CRFs."""
    rng = np.random.RandomState(n_labels)
    h, w = 36, 52
    img = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
    img[:, : w // 2] //= 4  # some structure for the bilateral kernel
    maps = [rng.randint(0, n_labels, (h, w)) for _ in range(3)]
    maps[1][:12] = 0  # blocks survive the CRF: not all-noise outputs
    maps[2][:, 30:] = n_labels - 1
    shared = crf_inference_labels(img, maps, n_labels)
    assert len(shared) == 3
    for m, out in zip(maps, shared):
        ref = naive_crf_inference_label(img, m, n_labels)
        assert out.dtype == np.int64 and out.shape == (h, w)
        np.testing.assert_array_equal(out, ref)
    # the outputs differ between maps (no state leaks from one to the next)
    assert not np.array_equal(shared[1], shared[2])
    assert crf_inference_labels(img, [], n_labels) == []
    with pytest.raises(ValueError, match='differ in size'):
        crf_inference_labels(img, [maps[0], maps[1][:-1]], n_labels)
    with pytest.raises(ValueError, match=r'\[0, 3\)'):
        crf_inference_labels(img, [maps[0] % 3, maps[1] + 3], 3)


def test_crf_parameters_reach_the_crf():
    rng = np.random.RandomState(2)
    img = rng.randint(0, 256, (30, 40, 3)).astype(np.uint8)
    labels = rng.randint(0, 3, (30, 40))
    ours = crf_inference_label(img, labels, 3, 1, 0.9)  # t, gt_prob
    np.testing.assert_array_equal(
        ours, naive_crf_inference_label(img, labels, 3, t=1, gt_prob=0.9))
    assert not np.array_equal(ours, crf_inference_label(img, labels, 3))
    with pytest.raises(TypeError):
        crf_inference_label(img, labels, 3, sxy=3)


def test_cam_to_ir_label_equals_reference_cam2ir():
    """cam2ir on shared lattices == the reference's two separate CRFs
    (``naive_cam2ir``'s steps, on arrays instead of files)."""
    rng = np.random.RandomState(3)
    h, w = 40, 48
    img = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
    keys = np.array([0, 4, 11, 15])
    cam = rng.rand(4, h // 8, w // 8).astype(np.float32)
    cam = np.kron(cam, np.ones((8, 8), np.float32))  # blocky: CRF keeps it
    cam /= cam.max(axis=(1, 2), keepdims=True)
    cam[0, :16, :16] = 1.0  # confident background there
    cam[1:, :16, :16] *= 0.3
    # reference cam2ir.py step by step (it scales IS_CAM[0] in place)
    cams = cam.copy()
    fg = keys[naive_crf_inference_label(img, np.argmax(cams, 0), len(keys))]
    cams[0] = cams[0] * 0.5
    bg = keys[naive_crf_inference_label(img, np.argmax(cams, 0), len(keys))]
    conf = fg.copy()
    conf[fg == 0] = 255
    conf[bg + fg == 0] = 0
    out = cam_to_ir_label(img, cam, keys)
    np.testing.assert_array_equal(out, conf.astype(np.uint8))
    assert {0, 255} <= set(np.unique(out).tolist())  # all three kinds occur
    assert len(set(np.unique(out).tolist()) - {0, 255}) >= 1


def test_cam_to_ir_label_bad_keys():
    img, cam, keys, _ = _three_band_example()
    with pytest.raises(ValueError, match='keys'):
        cam_to_ir_label(img, cam, np.array([0, 3, 8]))
    with pytest.raises(ValueError, match='background'):
        cam_to_ir_label(img, cam, np.array([3, 8]))


def test_prob_crf_sums_to_one():
    img, gt = _two_region_image()
    rng = np.random.RandomState(0)
    probs = rng.rand(3, *gt.shape).astype(np.float32)
    probs /= probs.sum(0, keepdims=True)
    q = crf_inference_prob(img, probs)
    assert q.shape == probs.shape and q.dtype == np.float32
    np.testing.assert_allclose(q.sum(0), 1.0, atol=1e-4)
    assert (q >= 0).all()


def test_dense_crf_task_util_modes_and_pickle():
    img, cam, keys, expected = _three_band_example()
    crf = TASK_UTILS.build(dict(type='DenseCRF', mode='cam2ir'))
    np.testing.assert_array_equal(crf(img, cam, keys), expected)
    crf2 = pickle.loads(pickle.dumps(crf))
    np.testing.assert_array_equal(crf2(img, cam, keys), expected)
    ref = DenseCRF('refine')(img, cam, keys)
    np.testing.assert_array_equal(ref, np.where(expected == 8, 8, 0))
    lab = DenseCRF('label', t=5)(img, (expected == 8).astype(np.int64),
                                 n_labels=2)
    assert lab.shape == expected.shape
    probs = np.stack([cam[0], cam[1]]) / cam.sum(0)
    np.testing.assert_allclose(DenseCRF('prob')(img, probs).sum(0), 1,
                               atol=1e-4)
    with pytest.raises(ValueError, match='keys'):
        crf(img, cam)
    with pytest.raises(ValueError, match='mode'):
        DenseCRF('nope')


def test_run_in_pool_inline_and_processes():
    items = list(range(7))
    expected = [-i for i in items]
    assert run_in_pool(operator.neg, items, num_workers=0) == expected
    assert run_in_pool(operator.neg, items, num_workers=1) == expected
    assert run_in_pool(operator.neg, items, num_workers=2,
                       chunksize=2) == expected
