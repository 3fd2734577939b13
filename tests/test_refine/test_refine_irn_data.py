"""IRN training data: transforms and the IR label dataset."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmseg_sipe.refine.irn_data import (MEAN_BGR, IRLabelDataset,
                                        IRNRandomCrop, IRNRandomRescale,
                                        IRNReduceLabel, pil_rescale,
                                        random_crop_box)


def write_ir_dataset(root, names, size=(40, 56), seed=0):
    """Images (JPEG), IR labels (PNG, values 0/7/255) and a split file."""
    rng = np.random.RandomState(seed)
    os.makedirs(osp.join(root, 'JPEGImages'), exist_ok=True)
    os.makedirs(osp.join(root, 'ir_label'), exist_ok=True)
    os.makedirs(osp.join(root, 'ImageSets'), exist_ok=True)
    h, w = size
    for name in names:
        img = rng.randint(0, 255, (h, w, 3)).astype(np.uint8)
        Image.fromarray(img).save(osp.join(root, 'JPEGImages', name + '.jpg'))
        lab = np.zeros((h, w), np.uint8)
        lab[h // 4:3 * h // 4, w // 4:w // 2] = 7
        lab[:, -6:] = 255
        Image.fromarray(lab).save(osp.join(root, 'ir_label', name + '.png'))
    with open(osp.join(root, 'ImageSets', 'train.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n\n')
    return root


def test_pil_rescale_sizes_and_nearest():
    lab = np.random.RandomState(0).choice([0, 4, 255], (30, 45)).astype(
        np.uint8)
    out = pil_rescale(lab, 0.25, 0)
    assert out.shape == (8, 11)  # round(7.5), round(11.25)
    assert set(np.unique(out)) <= {0, 4, 255}
    img = np.zeros((30, 45, 3), np.uint8)
    assert pil_rescale(img, 1.5, 3).shape == (45, 68, 3)


def test_random_crop_box_small_and_large():
    rng = np.random.RandomState(0)
    for _ in range(20):
        cr, cc, ir, ic = random_crop_box(30, 80, 50, rng)
        # rows: whole image at a random place; cols: a random window
        assert (ir.start, ir.stop) == (0, 30) and cr.stop - cr.start == 30
        assert 0 <= cr.start <= 20
        assert (cc.start, cc.stop) == (0, 50) and ic.stop - ic.start == 50
        assert 0 <= ic.start <= 30


def test_irn_random_crop_pads_with_mean_and_ignore():
    img = np.full((20, 70, 3), 9, np.uint8)
    lab = np.full((20, 70), 3, np.uint8)
    res = IRNRandomCrop(crop_size=32)(dict(
        img=img, gt_seg_map=lab, seg_fields=['gt_seg_map']))
    out, seg = res['img'], res['gt_seg_map']
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    assert seg.shape == (32, 32) and res['img_shape'] == (32, 32)
    inside = seg == 3
    assert inside.sum() == 20 * 32 and (seg[~inside] == 255).all()
    assert (out[inside] == 9).all()
    np.testing.assert_allclose(out[~inside], np.broadcast_to(
        np.float32(MEAN_BGR), out[~inside].shape))


def test_irn_rescale_and_reduce_label():
    rng = np.random.RandomState(0)
    np.random.seed(0)
    img = rng.randint(0, 255, (40, 60, 3)).astype(np.uint8)
    lab = rng.choice([0, 2, 255], (40, 60)).astype(np.uint8)
    res = IRNRandomRescale((0.5, 1.5))(dict(img=img, gt_seg_map=lab.copy()))
    h, w = res['img'].shape[:2]
    assert res['gt_seg_map'].shape == (h, w) and res['img_shape'] == (h, w)
    assert 20 <= h <= 60 and abs(w / h - 1.5) < 0.1
    assert set(np.unique(res['gt_seg_map'])) <= {0, 2, 255}
    red = IRNReduceLabel(0.25)(dict(gt_seg_map=np.zeros((64, 64), np.uint8)))
    assert red['gt_seg_map'].shape == (16, 16)
    with pytest.raises(KeyError, match='LoadAnnotations'):
        IRNReduceLabel()(dict(img=img))


def _pipeline(crop):
    return [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='IRNRandomRescale', scale_range=(0.5, 1.5)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='IRNRandomCrop', crop_size=crop),
        dict(type='IRNReduceLabel', scale=0.25),
        dict(type='PackSegInputs'),
    ]


def test_ir_label_dataset_pipeline(tmp_path):
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    root = write_ir_dataset(str(tmp_path / 'voc'), ['a1', 'b2', 'c3'])
    ds = IRLabelDataset(
        data_root=root,
        ann_file='ImageSets/train.txt',
        data_prefix=dict(img_path='JPEGImages'),
        ir_label_dir=osp.join(root, 'ir_label'),
        pipeline=_pipeline(32))
    assert len(ds) == 3
    assert ds.metainfo['classes'][0] == 'background'
    assert len(ds.metainfo['classes']) == 21
    item = ds[0]
    assert tuple(item['inputs'].shape) == (3, 32, 32)
    gt = item['data_samples'].gt_sem_seg.data
    assert tuple(gt.shape) == (1, 8, 8)
    assert set(gt.unique().tolist()) <= {0, 7, 255}
    # '' split: every png of the IR label directory
    ds2 = IRLabelDataset(
        data_root=root,
        ann_file='',
        data_prefix=dict(img_path='JPEGImages'),
        ir_label_dir=osp.join(root, 'ir_label'))
    assert [osp.basename(d['img_path']) for d in ds2.load_data_list()] == [
        'a1.jpg', 'b2.jpg', 'c3.jpg']


def test_ir_label_dataset_errors(tmp_path):
    root = write_ir_dataset(str(tmp_path / 'voc'), ['a1', 'b2'])
    kw = dict(data_root=root, data_prefix=dict(img_path='JPEGImages'))
    os.remove(osp.join(root, 'ir_label', 'b2.png'))
    with pytest.raises(FileNotFoundError, match='b2.png'):
        IRLabelDataset(ann_file='ImageSets/train.txt',
                       ir_label_dir=osp.join(root, 'ir_label'), **kw)
    with pytest.raises(FileNotFoundError, match='IR label directory'):
        IRLabelDataset(ann_file='ImageSets/train.txt',
                       ir_label_dir=osp.join(root, 'nope'), **kw)
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        IRLabelDataset(ann_file='ImageSets/missing.txt',
                       ir_label_dir=osp.join(root, 'ir_label'), **kw)
