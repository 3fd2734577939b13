import os
import pickle

import numpy as np
import pytest
from PIL import Image

from mmseg_sipe.datasets import SIPEVOCDataset
from mmseg_sipe.datasets.labels import (labels_from_xml, lookup_cls_label,
                                        parse_voc_xml, read_split_file)
from mmseg_sipe.datasets.metainfo import VOC_CLASSES
from mmseg_sipe.registry import DATASETS
from sipe_testing import load_tool

FG = VOC_CLASSES[1:]


def _names(root, split='train_aug'):
    return (root / 'ImageSets' / 'Segmentation' /
            f'{split}.txt').read_text().split()


def _xml_labels(root, name):
    names, _ = parse_voc_xml(str(root / 'Annotations' / f'{name}.xml'))
    lab = np.zeros(20, np.float32)
    for n in names:
        lab[FG.index(n)] = 1
    return lab


def test_metainfo_and_registry(demo_root):
    ds = DATASETS.build(dict(type='SIPEVOCDataset', data_root=str(demo_root)))
    assert isinstance(ds, SIPEVOCDataset)
    assert ds.metainfo['classes'] == VOC_CLASSES
    assert len(ds.metainfo['palette']) == 21
    assert ds.metainfo['palette'][0] == [0, 0, 0]
    assert ds.num_fg_classes == 20


def test_xml_labels_include_difficult(demo_root):
    ds = SIPEVOCDataset(data_root=str(demo_root))
    names = _names(demo_root)
    assert len(ds) == len(names)
    n_diff = 0
    for i, name in enumerate(names):
        info = ds.get_data_info(i)
        assert info['img_id'] == name
        assert info['img_path'] == os.path.join(
            str(demo_root), 'JPEGImages', f'{name}.jpg')
        assert info['seg_map_path'] == os.path.join(
            str(demo_root), 'SegmentationClassAug', f'{name}.png')
        assert info['img_labels'].dtype == np.float32
        assert info['img_labels'].shape == (20, )
        np.testing.assert_array_equal(info['img_labels'],
                                      _xml_labels(demo_root, name))
        _, diff = parse_voc_xml(str(demo_root / 'Annotations' / f'{name}.xml'))
        n_diff += sum(diff)
    assert n_diff > 0  # the small demo has difficult objects (seed 0)
    assert ds.has_seg_map


def test_difficult_switch(tmp_path):
    xml = tmp_path / 'a.xml'
    xml.write_text('<annotation><object><name>cat</name>'
                   '<difficult>1</difficult></object><object><name>dog'
                   '</name><difficult>0</difficult></object></annotation>')
    with_d = labels_from_xml(str(xml), FG)
    without = labels_from_xml(str(xml), FG, include_difficult=False)
    assert with_d[FG.index('cat')] == 1 and with_d[FG.index('dog')] == 1
    assert without[FG.index('cat')] == 0 and without.sum() == 1


def test_mask_labels(demo_root):
    ds = SIPEVOCDataset(data_root=str(demo_root), label_source='mask')
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        with Image.open(info['seg_map_path']) as im:
            vals = set(np.unique(np.array(im)).tolist()) - {0, 255}
        expect = np.zeros(20, np.float32)
        expect[[v - 1 for v in vals]] = 1
        np.testing.assert_array_equal(info['img_labels'], expect)
        # mask classes are always among the XML classes
        xml = _xml_labels(demo_root, info['img_id'])
        assert (info['img_labels'] <= xml).all()


def test_cls_labels(demo_root, tmp_path):
    names = _names(demo_root)
    table = {n: _xml_labels(demo_root, n) for n in names}
    table[names[0]] = np.eye(20, dtype=np.float32)[5]  # distinguishable
    path = tmp_path / 'cls_labels.npy'
    np.save(path, table)
    ds = SIPEVOCDataset(
        data_root=str(demo_root),
        label_source='cls_labels',
        cls_label_file=str(path))
    np.testing.assert_array_equal(
        ds.get_data_info(0)['img_labels'], table[names[0]])
    for i, n in enumerate(names):
        np.testing.assert_array_equal(
            ds.get_data_info(i)['img_labels'], table[n])
    # relative to data_root
    np.save(demo_root / 'tmp_cls.npy', table)
    try:
        ds = SIPEVOCDataset(
            data_root=str(demo_root),
            label_source='cls_labels',
            cls_label_file='tmp_cls.npy')
        assert len(ds) == len(names)
    finally:
        os.remove(demo_root / 'tmp_cls.npy')


def test_cls_labels_irn_int_keys():
    table = {2007000032: np.ones(20, np.float32)}
    out = lookup_cls_label(table, '2007_000032', 'x.npy', 20)
    assert out.dtype == np.float32 and out.sum() == 20
    with pytest.raises(ValueError, match="'2007_000033'.*x.npy"):
        lookup_cls_label(table, '2007_000033', 'x.npy', 20)


def test_seg_map_modes(demo_root):
    ds = SIPEVOCDataset(data_root=str(demo_root), with_seg_map=False)
    assert 'seg_map_path' not in ds.get_data_info(0)
    # train_aug images lack SegmentationClass: auto -> no seg maps
    ds = SIPEVOCDataset(
        data_root=str(demo_root),
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'))
    assert not ds.has_seg_map
    assert 'seg_map_path' not in ds.get_data_info(0)
    ds = SIPEVOCDataset(
        data_root=str(demo_root),
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'))
    assert ds.has_seg_map and len(ds) == len(_names(demo_root, 'val'))
    ds = SIPEVOCDataset(
        data_root=str(demo_root),
        data_prefix=dict(img_path='JPEGImages', seg_map_path=None))
    assert not ds.has_seg_map
    with pytest.raises(ValueError, match='seg_map_path'):
        SIPEVOCDataset(
            data_root=str(demo_root),
            with_seg_map=True,
            data_prefix=dict(img_path='JPEGImages'))


def test_serialize_and_pickle(demo_root):
    ds = SIPEVOCDataset(data_root=str(demo_root), serialize_data=False)
    ds2 = pickle.loads(pickle.dumps(ds))
    assert len(ds2) == len(ds)
    sub = ds.get_subset([0, 1])
    assert len(sub) == 2


def test_split_file_formats(tmp_path):
    p = tmp_path / 's.txt'
    p.write_text('a\n\n  b  \n/JPEGImages/c.jpg /SegmentationClassAug/c.png\n')
    assert read_split_file(str(p)) == ['a', 'b', 'c']


# ---------------------------------------------------------------- errors
def test_missing_split_file(demo_root):
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        SIPEVOCDataset(data_root=str(demo_root), ann_file='nope.txt')


def test_empty_split_file(demo_copy):
    (demo_copy / 'empty.txt').write_text('\n')
    with pytest.raises(ValueError, match='empty.txt'):
        SIPEVOCDataset(data_root=str(demo_copy), ann_file='empty.txt')


@pytest.mark.parametrize('index, folder, ext', [(2, 'JPEGImages', 'jpg'),
                                                (1, 'Annotations', 'xml')],
                         ids=['image', 'xml'])
def test_missing_file(demo_copy, index, folder, ext):
    name = _names(demo_copy)[index]
    os.remove(demo_copy / folder / f'{name}.{ext}')
    with pytest.raises(FileNotFoundError, match=f'{name}.{ext}'):
        SIPEVOCDataset(data_root=str(demo_copy))


def test_unknown_class_in_xml(demo_copy):
    name = _names(demo_copy)[0]
    xml = demo_copy / 'Annotations' / f'{name}.xml'
    text = xml.read_text()
    xml.write_text(text.replace('<name>', '<name>x', 1))
    with pytest.raises(ValueError, match=f'unknown class.*{name}.xml'):
        SIPEVOCDataset(data_root=str(demo_copy))


def test_malformed_xml(demo_copy):
    name = _names(demo_copy)[0]
    (demo_copy / 'Annotations' / f'{name}.xml').write_text('<annotation>')
    with pytest.raises(ValueError, match=f'{name}.xml'):
        SIPEVOCDataset(data_root=str(demo_copy))


def test_missing_seg_map_required(demo_copy):
    name = _names(demo_copy)[3]
    os.remove(demo_copy / 'SegmentationClassAug' / f'{name}.png')
    with pytest.raises(FileNotFoundError, match=f'{name}.png'):
        SIPEVOCDataset(data_root=str(demo_copy), with_seg_map=True)
    with pytest.raises(FileNotFoundError, match=f'{name}.png'):
        SIPEVOCDataset(
            data_root=str(demo_copy), label_source='mask', with_seg_map=False)
    ds = SIPEVOCDataset(data_root=str(demo_copy))  # auto: without seg maps
    assert not ds.has_seg_map


def test_missing_cls_label_entry(demo_root, tmp_path):
    names = _names(demo_root)
    table = {n: np.zeros(20, np.float32) for n in names[1:]}
    path = tmp_path / 'cls.npy'
    np.save(path, table)
    with pytest.raises(ValueError, match=f'{names[0]}.*cls.npy'):
        SIPEVOCDataset(
            data_root=str(demo_root),
            label_source='cls_labels',
            cls_label_file=str(path))
    with pytest.raises(FileNotFoundError, match='absent.npy'):
        SIPEVOCDataset(
            data_root=str(demo_root),
            label_source='cls_labels',
            cls_label_file=str(tmp_path / 'absent.npy'))
    np.save(tmp_path / 'arr.npy', np.zeros(3))
    with pytest.raises(ValueError, match='arr.npy'):
        SIPEVOCDataset(
            data_root=str(demo_root),
            label_source='cls_labels',
            cls_label_file=str(tmp_path / 'arr.npy'))


def test_illegal_mask_value(demo_copy):
    name = _names(demo_copy)[0]
    png = demo_copy / 'SegmentationClassAug' / f'{name}.png'
    with Image.open(png) as im:
        arr = np.array(im)
        pal = im.getpalette()
    arr[0, 0] = 42
    im = Image.fromarray(arr)
    im.putpalette(pal)
    im.save(png)
    with pytest.raises(ValueError, match=f'{name}.png.*42'):
        SIPEVOCDataset(data_root=str(demo_copy), label_source='mask')


def test_bad_arguments(demo_root):
    with pytest.raises(ValueError, match='label_source'):
        SIPEVOCDataset(data_root=str(demo_root), label_source='json')
    with pytest.raises(ValueError, match='cls_label_file'):
        SIPEVOCDataset(data_root=str(demo_root), label_source='cls_labels')
    with pytest.raises(ValueError, match='custom class'):
        SIPEVOCDataset(
            data_root=str(demo_root),
            metainfo=dict(classes=('background', 'cat')))


def test_make_cls_labels_tool(demo_root, tmp_path, capsys):
    mod = load_tool('tools/dataset_converters/make_cls_labels.py')
    out = tmp_path / 'cls_labels_demo.npy'
    assert mod.main(['voc', str(demo_root), str(out)]) == 0
    table = np.load(out, allow_pickle=True).item()
    assert set(table) == set(_names(demo_root)) | set(_names(demo_root, 'val'))
    ds_xml = SIPEVOCDataset(data_root=str(demo_root))
    ds_npy = SIPEVOCDataset(
        data_root=str(demo_root),
        label_source='cls_labels',
        cls_label_file=str(out))
    for i in range(len(ds_xml)):
        np.testing.assert_array_equal(
            ds_xml.get_data_info(i)['img_labels'],
            ds_npy.get_data_info(i)['img_labels'])
    assert mod.main(['voc', str(tmp_path / 'nope'), str(out)]) == 1
    assert 'nope' in capsys.readouterr().err
