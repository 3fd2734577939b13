import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_sipe.datasets.transforms import (PackSIPEInputs,
                                            RandomCropWithValidMask,
                                            RandomResizeLong, apply_crop_box,
                                            random_crop_box, resize_long_size)
from mmseg_sipe.registry import TRANSFORMS


def _results(h, w, seg=True):
    rng = np.random.RandomState(0)
    r = dict(
        img=rng.randint(0, 256, (h, w, 3)).astype(np.uint8),
        img_shape=(h, w),
        ori_shape=(h, w),
        seg_fields=[])
    if seg:
        r['gt_seg_map'] = rng.choice([0, 3, 255], (h, w)).astype(np.uint8)
        r['seg_fields'].append('gt_seg_map')
    return r


# ------------------------------------------------------- RandomResizeLong
def test_resize_long_size_hand_computed():
    assert resize_long_size(375, 500, 320) == (240, 320)  # s = 0.64
    assert resize_long_size(500, 375, 640) == (640, 480)  # s = 1.28
    assert resize_long_size(100, 100, 333) == (333, 333)
    # numpy rounding is half-to-even: 3 * 0.5 = 1.5 -> 2, 5 * 0.5 -> 2
    assert resize_long_size(3, 8, 4) == (2, 4)
    assert resize_long_size(5, 8, 4) == (2, 4)


def test_random_resize_long_range_and_aspect():
    t = RandomResizeLong(min_size=50, max_size=60)
    np.random.seed(0)
    seen = set()
    for h, w in [(30, 40), (40, 30), (37, 91), (64, 64)]:
        for _ in range(20):
            r = t(_results(h, w))
            nh, nw = r['img'].shape[:2]
            assert 50 <= max(nh, nw) <= 60
            assert max(nh, nw) == r['resize_long']
            assert (nh, nw) == resize_long_size(h, w, r['resize_long'])
            assert abs(nh / nw - h / w) < 2.0 / min(nh, nw)
            assert r['img_shape'] == (nh, nw)
            assert r['scale'] == (nw, nh)
            assert r['gt_seg_map'].shape == (nh, nw)
            assert set(np.unique(r['gt_seg_map'])) <= {0, 3, 255}
            seen.add(r['resize_long'])
    assert min(seen) == 50 and max(seen) == 60  # inclusive range


def test_random_resize_long_is_pil_bicubic():
    from PIL import Image
    np.random.seed(1)
    r = _results(20, 30)
    img = r['img'].copy()
    out = RandomResizeLong(40, 40)(r)
    ref = np.array(Image.fromarray(img).resize((40, 27), Image.BICUBIC))
    np.testing.assert_array_equal(out['img'], ref)


def test_random_resize_long_args():
    with pytest.raises(ValueError):
        RandomResizeLong(10, 5)
    r = _results(4, 4)
    r['img'] = r['img'].astype(np.float32)
    r['img_path'] = 'f.jpg'
    with pytest.raises(TypeError, match='f.jpg'):
        RandomResizeLong(8, 8)(r)
    t = TRANSFORMS.build(dict(type='RandomResizeLong'))
    assert repr(t) == ("RandomResizeLong(min_size=320, max_size=640, "
                       "interpolation='bicubic', backend='pillow')")


# ------------------------------------------------ RandomCropWithValidMask
class _FakeRng:

    def __init__(self, values):
        self.values = list(values)
        self.calls = []

    def randint(self, low, high):
        self.calls.append((low, high))
        return self.values.pop(0)


def test_random_crop_box_reference_logic():
    # larger in both axes: offsets into the image, width drawn first
    rng = _FakeRng([7, 3])
    assert random_crop_box((600, 700), (512, 512), rng) == \
        (0, 0, 3, 7, 512, 512)
    assert rng.calls == [(0, 189), (0, 89)]
    # smaller in both axes: offsets into the canvas
    rng = _FakeRng([11, 5])
    assert random_crop_box((300, 200), (512, 512), rng) == \
        (5, 11, 0, 0, 300, 200)
    assert rng.calls == [(0, 313), (0, 213)]
    # equal size: one position
    rng = _FakeRng([0, 0])
    assert random_crop_box((512, 512), (512, 512), rng) == \
        (0, 0, 0, 0, 512, 512)


def test_apply_crop_box():
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = apply_crop_box(arr, (1, 0, 0, 2, 3, 2), (5, 2), 255)
    expect = np.array([[255, 255], [2, 3], [6, 7], [10, 11], [255, 255]])
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize('hw', [(600, 700), (300, 200), (600, 200), (200, 600),
                                (512, 512)])
def test_crop_with_valid_mask(hw):
    np.random.seed(0)
    h, w = hw
    r = _results(h, w)
    img, seg = r['img'].copy(), r['gt_seg_map'].copy()
    out = RandomCropWithValidMask(512)(r)
    assert out['img'].shape == (512, 512, 3)
    assert out['img'].dtype == np.uint8
    assert out['gt_seg_map'].shape == (512, 512)
    mask = out['valid_mask']
    assert mask.dtype == np.uint8 and mask.shape == (512, 512)
    assert mask.sum() == min(h, 512) * min(w, 512)
    ct, cl, it, il, bh, bw = out['crop_box']
    np.testing.assert_array_equal(out['img'][ct:ct + bh, cl:cl + bw],
                                  img[it:it + bh, il:il + bw])
    np.testing.assert_array_equal(out['gt_seg_map'][ct:ct + bh, cl:cl + bw],
                                  seg[it:it + bh, il:il + bw])
    assert (out['img'][mask == 0] == 0).all()
    assert (out['gt_seg_map'][mask == 0] == 255).all()
    assert mask[ct:ct + bh, cl:cl + bw].all()
    assert out['img_shape'] == (512, 512)


def test_crop_offsets_cover_range():
    np.random.seed(0)
    t = RandomCropWithValidMask(crop_size=(8, 10))
    tops, lefts = set(), set()
    for _ in range(200):
        out = t(_results(5, 13, seg=False))
        ct, cl, it, il, bh, bw = out['crop_box']
        assert (it, cl, bh, bw) == (0, 0, 5, 10)
        tops.add(ct)
        lefts.add(il)
        assert out['valid_mask'].sum() == 50
        assert 'gt_seg_map' not in out
    assert tops == set(range(4)) and lefts == set(range(4))


def test_crop_repr_and_build():
    t = TRANSFORMS.build(dict(type='RandomCropWithValidMask', crop_size=64))
    assert t.crop_size == (64, 64)
    assert repr(t) == ('RandomCropWithValidMask(crop_size=(64, 64), '
                       'img_pad_val=0, seg_pad_val=255)')
    with pytest.raises(ValueError):
        RandomCropWithValidMask(crop_size=0)


# ------------------------------------------------------------- flip
def test_random_flip_flips_seg_map():
    t = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0))
    r = _results(4, 6)
    img, seg = r['img'].copy(), r['gt_seg_map'].copy()
    out = t(r)
    np.testing.assert_array_equal(out['img'], img[:, ::-1])
    np.testing.assert_array_equal(out['gt_seg_map'], seg[:, ::-1])


# ------------------------------------------------------- PackSIPEInputs
def test_pack_sipe_inputs():
    r = _results(6, 5)
    r['img_labels'] = np.array([0, 1] + [0] * 18, np.float64)
    r['valid_mask'] = np.ones((6, 5), np.uint8)
    r['valid_mask'][:, 4] = 0
    r['img_path'] = 'x.jpg'
    r['img_id'] = 'x'
    out = TRANSFORMS.build(dict(type='PackSIPEInputs'))(r)
    x, ds = out['inputs'], out['data_samples']
    assert isinstance(x, torch.Tensor) and x.shape == (3, 6, 5)
    assert x.dtype == torch.uint8
    assert torch.equal(x, torch.from_numpy(r['img']).permute(2, 0, 1))
    assert isinstance(ds, SegDataSample)
    assert ds.gt_sem_seg.data.shape == (1, 6, 5)
    assert ds.gt_sem_seg.data.dtype == torch.int64
    assert isinstance(ds.valid_mask, PixelData)
    assert ds.valid_mask.data.shape == (1, 6, 5)
    assert ds.valid_mask.data.dtype == torch.uint8
    assert ds.valid_mask.data.sum() == 24
    labels = ds.metainfo['img_labels']
    assert isinstance(labels, np.ndarray) and labels.dtype == np.float32
    assert labels.shape == (20, ) and labels[1] == 1
    assert ds.metainfo['img_id'] == 'x' and ds.metainfo['img_path'] == 'x.jpg'


def test_pack_meta_keys_extend_mmseg():
    from mmseg.datasets.transforms import PackSegInputs
    keys = PackSIPEInputs().meta_keys
    assert set(PackSegInputs().meta_keys) <= set(keys)
    assert 'img_labels' in keys and 'img_id' in keys


def test_pack_without_optional_fields():
    r = _results(4, 4, seg=False)
    out = PackSIPEInputs()(r)
    ds = out['data_samples']
    assert 'valid_mask' not in ds
    assert 'gt_sem_seg' not in ds
    assert 'img_labels' not in ds.metainfo
    assert 'img_labels' in repr(PackSIPEInputs())
