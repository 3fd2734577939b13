"""Stage-two datasets: VOC / COCO images with pseudo labels (and COCO GT)."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

import mmseg_sipe.datasets.pseudo_label  # noqa: F401  (registers)
from mmseg_sipe.datasets.metainfo import COCO_CLASSES, VOC_CLASSES
from mmseg_sipe.datasets.pseudo_label import (COCO2014SegDataset,
                                              COCOPseudoLabelDataset,
                                              VOCPseudoLabelDataset)
from mmseg_sipe.registry import DATASETS


def _png(path, value, size=(6, 5)):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, np.uint8)).save(path)


def _jpg(path, size=(6, 5)):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(path)


def _voc(root, names, labelled):
    split = osp.join(root, 'ImageSets', 'Segmentation')
    os.makedirs(split, exist_ok=True)
    with open(osp.join(split, 'train_aug.txt'), 'w') as f:
        f.write(''.join(n + '\n' for n in names))
    for i, n in enumerate(names):
        _jpg(osp.join(root, 'JPEGImages', n + '.jpg'))
        if n in labelled:
            _png(osp.join(root, 'pseudo', n + '.png'), i % 21)


def test_voc_pseudo_dataset_loads_pseudo_labels(tmp_path):
    root = str(tmp_path / 'voc')
    names = ['a', 'b', 'c']
    _voc(root, names, labelled=names)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
    ds = DATASETS.build(
        dict(type='VOCPseudoLabelDataset', data_root=root,
             data_prefix=dict(img_path='JPEGImages', seg_map_path='pseudo'),
             pipeline=pipeline))
    assert isinstance(ds, VOCPseudoLabelDataset)
    assert len(ds) == 3
    assert ds.metainfo['classes'] == VOC_CLASSES
    info = ds.get_data_info(1)
    assert info['img_path'] == osp.join(root, 'JPEGImages', 'b.jpg')
    assert info['seg_map_path'] == osp.join(root, 'pseudo', 'b.png')
    assert np.all(ds[1]['gt_seg_map'] == 1)


def test_voc_pseudo_dataset_absolute_label_dir(tmp_path):
    root = str(tmp_path / 'voc')
    _voc(root, ['a'], labelled=['a'])
    abs_dir = osp.join(root, 'pseudo')
    ds = VOCPseudoLabelDataset(
        data_root=str(tmp_path / 'voc'),
        data_prefix=dict(img_path='JPEGImages', seg_map_path=abs_dir))
    assert ds.get_data_info(0)['seg_map_path'] == osp.join(abs_dir, 'a.png')


def test_voc_pseudo_dataset_missing_labels_error(tmp_path):
    root = str(tmp_path / 'voc')
    names = [f'img{i}' for i in range(9)]
    _voc(root, names, labelled=names[:2])
    with pytest.raises(FileNotFoundError) as e:
        VOCPseudoLabelDataset(
            data_root=root,
            data_prefix=dict(img_path='JPEGImages', seg_map_path='pseudo'))
    msg = str(e.value)
    assert '7 of 9 images have no pseudo label' in msg
    assert osp.join(root, 'pseudo', 'img2.png') in msg
    assert osp.join(root, 'JPEGImages', 'img2.jpg') in msg
    assert 'img6.png' in msg and 'img7.png' not in msg  # first 5 named
    assert '... and 2 more' in msg
    # the check can be switched off
    ds = VOCPseudoLabelDataset(
        data_root=root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='pseudo'),
        check_labels=False)
    assert len(ds) == 9


def test_voc_pseudo_dataset_needs_label_dir(tmp_path):
    root = str(tmp_path / 'voc')
    _voc(root, ['a'], labelled=['a'])
    with pytest.raises(ValueError, match='seg_map_path'):
        VOCPseudoLabelDataset(
            data_root=root, data_prefix=dict(img_path='JPEGImages'))


def _coco(root, stems, label_dir, labelled):
    for i, s in enumerate(stems):
        _jpg(osp.join(root, 'train2014', s + '.jpg'))
        if s in labelled:
            _png(osp.join(root, label_dir, s + '.png'), 80 - i)


def test_coco_pseudo_dataset_lists_label_folder(tmp_path):
    root = str(tmp_path / 'coco')
    stems = [f'COCO_train2014_{i:012d}' for i in (9, 25, 30)]
    _coco(root, stems, 'pseudo', labelled=stems[:2])  # third: no label
    ds = DATASETS.build(
        dict(type='COCOPseudoLabelDataset', data_root=root,
             data_prefix=dict(img_path='train2014', seg_map_path='pseudo'),
             pipeline=[dict(type='LoadAnnotations')]))
    assert isinstance(ds, COCOPseudoLabelDataset)
    assert len(ds.metainfo['classes']) == 81
    assert ds.metainfo['classes'] == COCO_CLASSES
    assert [osp.basename(ds.get_data_info(i)['img_path'])
            for i in range(len(ds))] == [s + '.jpg' for s in stems[:2]]
    assert np.all(ds[0]['gt_seg_map'] == 80)


def test_coco_pseudo_dataset_split_file_checks_labels(tmp_path):
    root = str(tmp_path / 'coco')
    stems = [f'COCO_train2014_{i:012d}' for i in (9, 25, 30)]
    _coco(root, stems, 'pseudo', labelled=stems[:1])
    with open(osp.join(root, 'train.txt'), 'w') as f:
        f.write('\n'.join(stems) + '\n')
    with pytest.raises(FileNotFoundError, match='2 of 3 images') as e:
        COCOPseudoLabelDataset(
            data_root=root, ann_file='train.txt',
            data_prefix=dict(img_path='train2014', seg_map_path='pseudo'))
    assert stems[1] + '.jpg' in str(e.value)


def test_coco_gt_dataset(tmp_path):
    root = str(tmp_path / 'coco')
    stems = ['COCO_val2014_000000000042', 'COCO_val2014_000000000073']
    for s in stems:
        _jpg(osp.join(root, 'val2014', s + '.jpg'))
        _png(osp.join(root, 'SegmentationClass', 'val2014', s + '.png'), 3)
    ds = COCO2014SegDataset(data_root=root)
    assert len(ds) == 2
    assert ds.get_data_info(0)['seg_map_path'].endswith(
        osp.join('SegmentationClass', 'val2014', stems[0] + '.png'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        COCO2014SegDataset(
            data_root=root,
            data_prefix=dict(img_path='val2014', seg_map_path='nope'))
