import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData

from mmseg_sipe.registry import DATASETS

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResizeLong', min_size=320, max_size=640),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCropWithValidMask', crop_size=512),
    dict(type='PackSIPEInputs'),
]


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Configs run with default_scope='mmseg'; do the same here."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


def _dataset(demo_root, seed, **kw):
    """The demo dataset with ``kw``, numpy's random state seeded."""
    np.random.seed(seed)
    return DATASETS.build(
        dict(type='SIPEVOCDataset', data_root=str(demo_root), **kw))


def test_full_stage1_pipeline(demo_root):
    ds = _dataset(
        demo_root, 0, ann_file='ImageSets/Segmentation/train_aug.txt',
        label_source='xml', pipeline=PIPELINE)
    for i in range(3):
        out = ds[i]
        x, sample = out['inputs'], out['data_samples']
        assert x.shape == (3, 512, 512) and x.dtype == torch.uint8
        assert isinstance(sample.valid_mask, PixelData)
        mask = sample.valid_mask.data
        assert mask.shape == (1, 512, 512) and mask.dtype == torch.uint8
        info = ds.get_data_info(i)
        np.testing.assert_array_equal(sample.metainfo['img_labels'],
                                      info['img_labels'])
        assert sample.metainfo['img_labels'].dtype == np.float32
        seg = sample.gt_sem_seg.data
        assert seg.shape == (1, 512, 512)
        # padding is ignore in the label and zero in the image
        assert (seg[mask == 0] == 255).all()
        assert (x[:, mask[0] == 0] == 0).all()
        # the valid area is the resized image clipped to the crop
        oh, ow = sample.metainfo['ori_shape'][:2]
        sw, sh = sample.metainfo['scale_factor']
        nh, nw = round(oh * sh), round(ow * sw)
        assert 320 <= max(nh, nw) <= 640
        assert int(mask.sum()) == min(nh, 512) * min(nw, 512)
        assert sample.metainfo['img_shape'] == (512, 512)
        assert sample.metainfo['img_id'] == info['img_id']


def test_pipeline_without_seg_maps(demo_root):
    ds = _dataset(
        demo_root, 1, with_seg_map=False,
        pipeline=[p for p in PIPELINE if p['type'] != 'LoadAnnotations'])
    out = ds[0]
    assert out['inputs'].shape == (3, 512, 512)
    assert 'gt_sem_seg' not in out['data_samples']
    assert out['data_samples'].valid_mask.data.sum() > 0
