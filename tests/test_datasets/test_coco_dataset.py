import json

import numpy as np
import pytest
from PIL import Image

from mmseg_sipe.datasets import SIPECOCODataset
from mmseg_sipe.datasets.metainfo import COCO_CLASSES
from mmseg_sipe.registry import DATASETS
from sipe_testing import load_tool

# the real COCO 2014 category ids (1..90 with gaps)
CAT_IDS = (
    list(range(1, 12)) + list(range(13, 26)) + [27, 28] + list(range(31, 45)) +
    list(range(46, 66)) + [67, 70] + list(range(72, 83)) + list(range(84, 91)))


def _stem(i):
    return f'COCO_train2014_{i:012d}'


def make_coco(root, anns, n_images=4, categories=None):
    """Tiny COCO layout: train2014/*.jpg, annotations JSON, seg maps."""
    (root / 'train2014').mkdir(parents=True)
    (root / 'annotations').mkdir()
    (root / 'seg').mkdir()
    images = []
    for i in range(1, n_images + 1):
        Image.fromarray(np.full(
            (20, 30, 3), 10 * i,
            np.uint8)).save(root / 'train2014' / f'{_stem(i)}.jpg')
        seg = np.zeros((20, 30), np.uint8)
        Image.fromarray(seg).save(root / 'seg' / f'{_stem(i)}.png')
        images.append(
            dict(id=i, file_name=f'{_stem(i)}.jpg', height=20, width=30))
    if categories is None:
        categories = [
            dict(id=c, name=n) for c, n in zip(CAT_IDS, COCO_CLASSES[1:])
        ]
    data = dict(
        images=images,
        categories=categories[::-1],  # order in the file must not matter
        annotations=[
            dict(id=k, image_id=img, category_id=cat, iscrowd=crowd)
            for k, (img, cat, crowd) in enumerate(anns)
        ])
    path = root / 'annotations' / 'instances_train2014.json'
    path.write_text(json.dumps(data))
    return path


ANNS = [(1, 1, 0), (1, 90, 0), (2, 18, 0), (2, 18, 0), (3, 44, 1)]


def test_coco_metainfo():
    assert len(CAT_IDS) == 80 and len(COCO_CLASSES) == 81
    assert COCO_CLASSES[1] == 'person' and COCO_CLASSES[80] == 'toothbrush'


def test_coco_labels_from_json(tmp_path):
    make_coco(tmp_path, ANNS)
    ds = DATASETS.build(dict(type='SIPECOCODataset', data_root=str(tmp_path)))
    assert isinstance(ds, SIPECOCODataset)
    # image 4 has no annotation -> filtered
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == \
        [_stem(1), _stem(2), _stem(3)]
    lab = [ds.get_data_info(i)['img_labels'] for i in range(3)]
    assert all(x.dtype == np.float32 and x.shape == (80, ) for x in lab)
    assert np.flatnonzero(lab[0]).tolist() == [0, 79]  # person, toothbrush
    assert np.flatnonzero(lab[1]).tolist() == [16]  # id 18 = dog = class 17
    assert COCO_CLASSES[17] == 'dog'
    assert np.flatnonzero(lab[2]).tolist() == [39]  # id 44 = bottle (crowd)
    assert COCO_CLASSES[40] == 'bottle'
    assert 'seg_map_path' not in ds.get_data_info(0)
    assert ds.metainfo['classes'] == COCO_CLASSES
    assert len(ds.metainfo['palette']) == 81


def test_coco_options(tmp_path):
    make_coco(tmp_path, ANNS)
    ds = SIPECOCODataset(
        data_root=str(tmp_path), include_crowd=False, filter_empty=False)
    assert len(ds) == 4
    assert ds.get_data_info(2)['img_labels'].sum() == 0
    (tmp_path / 'split.txt').write_text(f'{_stem(4)}\n{_stem(2)}\n')
    # image 4 has no label: an error unless asked for
    with pytest.raises(ValueError, match=f'instances_train2014.json: no '
                       f"foreground class for image '{_stem(4)}'"):
        SIPECOCODataset(data_root=str(tmp_path), split_file='split.txt')
    ds = SIPECOCODataset(
        data_root=str(tmp_path),
        split_file='split.txt',
        empty_labels='keep',
        data_prefix=dict(img_path='train2014', seg_map_path='seg'))
    assert [ds.get_data_info(i)['img_id'] for i in range(2)] == \
        [_stem(4), _stem(2)]
    assert ds.has_seg_map
    assert ds.get_data_info(0)['seg_map_path'].endswith(f'seg/{_stem(4)}.png')
    ds = SIPECOCODataset(
        data_root=str(tmp_path),
        label_source='mask',
        empty_labels='keep',
        data_prefix=dict(img_path='train2014', seg_map_path='seg'))
    assert len(ds) == 3 and ds.get_data_info(0)['img_labels'].sum() == 0
    table = {_stem(2): np.eye(80, dtype=np.float32)[3]}
    np.save(tmp_path / 'cls.npy', table)
    (tmp_path / 'split2.txt').write_text(f'{_stem(2)}\n')
    ds = SIPECOCODataset(
        data_root=str(tmp_path),
        ann_file='',
        split_file='split2.txt',
        label_source='cls_labels',
        cls_label_file='cls.npy')
    assert np.flatnonzero(ds.get_data_info(0)['img_labels']).tolist() == [3]


def test_coco_errors(tmp_path):
    path = make_coco(tmp_path, ANNS)
    with pytest.raises(FileNotFoundError, match='nope.json'):
        SIPECOCODataset(data_root=str(tmp_path), ann_file='nope.json')
    (tmp_path / 'train2014' / f'{_stem(2)}.jpg').unlink()
    with pytest.raises(FileNotFoundError, match=f'{_stem(2)}.jpg'):
        SIPECOCODataset(data_root=str(tmp_path))
    (tmp_path / 'split.txt').write_text('COCO_train2014_000000000077\n')
    with pytest.raises(
            FileNotFoundError, match='COCO_train2014_000000000077.jpg'):
        SIPECOCODataset(data_root=str(tmp_path), split_file='split.txt')
    (tmp_path / 'seg' / f'{_stem(1)}.png').unlink()
    with pytest.raises(FileNotFoundError, match=f'seg.*{_stem(1)}.png'):
        SIPECOCODataset(
            data_root=str(tmp_path),
            split_file=None,
            with_seg_map=True,
            data_prefix=dict(img_path='train2014', seg_map_path='seg'))
    data = json.loads(path.read_text())
    data['annotations'].append(
        dict(id=99, image_id=1, category_id=12, iscrowd=0))
    path.write_text(json.dumps(data))
    with pytest.raises(
            ValueError,
            match='instances_train2014.json.*'
            'unknown category id 12'):
        SIPECOCODataset(data_root=str(tmp_path))


def test_coco_bad_categories(tmp_path):
    cats = [dict(id=c, name=n) for c, n in zip(CAT_IDS, COCO_CLASSES[1:])]
    cats[5]['name'] = 'spaceship'
    make_coco(tmp_path, ANNS, categories=cats)
    with pytest.raises(
            ValueError, match="instances_train2014.json is 'spaceship'"):
        SIPECOCODataset(data_root=str(tmp_path))


def test_coco_missing_keys(tmp_path):
    make_coco(tmp_path, ANNS)
    (tmp_path / 'annotations' / 'bad.json').write_text('{"images": []}')
    with pytest.raises(ValueError, match='bad.json'):
        SIPECOCODataset(
            data_root=str(tmp_path), ann_file='annotations/'
            'bad.json')
    (tmp_path / 'annotations' / 'bad2.json').write_text('{not json')
    with pytest.raises(ValueError, match='bad2.json'):
        SIPECOCODataset(
            data_root=str(tmp_path), ann_file='annotations/'
            'bad2.json')


def test_make_cls_labels_tool_coco(tmp_path):
    mod = load_tool('tools/dataset_converters/make_cls_labels.py')
    json_path = make_coco(tmp_path, ANNS)
    out = tmp_path / 'cls_labels_coco.npy'
    assert mod.main(['coco', str(json_path), str(out)]) == 0
    table = np.load(out, allow_pickle=True).item()
    assert len(table) == 4
    assert np.flatnonzero(table[_stem(1)]).tolist() == [0, 79]
    assert table[_stem(4)].sum() == 0
