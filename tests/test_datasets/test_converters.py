"""Tests of the VOC+SBD and COCO converters (synthetic data in tmp_path)."""
import io
import json
import os

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from PIL import Image

from mmseg_sipe.datasets.checker import check_voc_root
from mmseg_sipe.datasets.converters.coco_masks import (
    polygons_to_mask, rle_counts_to_string, rle_decode, rle_encode,
    rle_string_to_counts, scanline_fill)
from mmseg_sipe.datasets.converters.coco_wsss import (coco_category_mapping,
                                                      convert_coco_wsss,
                                                      rasterize_annotations)
from mmseg_sipe.datasets.converters.voc_aug import (convert_voc_aug,
                                                    make_train_aug_list,
                                                    plan_label_sources,
                                                    read_sbd_mat)
from mmseg_sipe.datasets.labels import load_coco_instances
from mmseg_sipe.datasets.metainfo import COCO_CLASSES
from mmseg_sipe.datasets.label_io import voc_palette
from sipe_testing import load_tool


def _load_tool(name):
    return load_tool(f'tools/dataset_converters/{name}.py', f'_tool_{name}')


def _png(path):
    with Image.open(path) as img:
        assert img.mode == 'P'
        return np.array(img)


def _quiet():
    return io.StringIO()


def _save_marker(path, value):
    marker = np.full((3, 3), value, np.uint8)
    im = Image.fromarray(marker, mode='P')
    im.putpalette(voc_palette())
    im.save(path)
    return marker


# ==========================================================================
# VOC + SBD
# ==========================================================================
V1, V2, V3, V4 = '2007_000032', '2007_000039', '2007_000063', '2007_000068'
S1, S2, S3 = '2008_000002', '2008_000003', '2008_000007'
VOC_TRAIN, VOC_VAL = [V1, V2], [V3, V4]
SBD_TRAIN, SBD_VAL = [V2, V3, S1, S2], [S3, V4]
ALL_IDS = [V1, V2, V3, V4, S1, S2, S3]


def _voc_label(i, h, w):
    """VOC style: class (i % 20) + 1 box, 255 border, void corner."""
    lab = np.zeros((h, w), np.uint8)
    lab[2:h - 2, 3:w - 3] = 255
    lab[3:h - 3, 4:w - 4] = i % 20 + 1
    lab[0, 0] = 255
    return lab


def _sbd_label(i, h, w):
    """SBD style: no 255; a different class from the VOC label."""
    lab = np.zeros((h, w), np.uint8)
    lab[1:h - 1, 1:w // 2] = (i + 7) % 20 + 1
    return lab


def _write_sbd_mat(path, seg):
    bounds = np.empty((20, 1), dtype=object)
    for k in range(20):
        bounds[k, 0] = scipy.sparse.csc_matrix(seg.shape, dtype=np.float64)
    cats = np.unique(seg[(seg > 0) & (seg < 255)]).astype(np.uint8)
    scipy.io.savemat(
        path, {
            'GTcls': {
                'Boundaries': bounds,
                'Segmentation': seg,
                'CategoriesPresent': cats.reshape(-1, 1)
            }
        })


def _size(i):
    return 12 + i, 16 + 2 * i  # h, w


@pytest.fixture
def voc_sbd(tmp_path):
    """(VOCdevkit/VOC2012, benchmark_RELEASE/dataset) with 7 images."""
    voc = tmp_path / 'VOCdevkit' / 'VOC2012'
    sbd = tmp_path / 'benchmark_RELEASE' / 'dataset'
    for d in ('ImageSets/Segmentation', 'SegmentationClass', 'JPEGImages'):
        (voc / d).mkdir(parents=True)
    (sbd / 'cls').mkdir(parents=True)
    (voc /
     'ImageSets/Segmentation/train.txt').write_text('\n'.join(VOC_TRAIN) +
                                                    '\n')
    (voc / 'ImageSets/Segmentation/val.txt').write_text('\n'.join(VOC_VAL) +
                                                        '\n')
    (sbd / 'train.txt').write_text('\n'.join(SBD_TRAIN) + '\n')
    (sbd / 'val.txt').write_text('\n'.join(SBD_VAL) + '\n')
    for i, name in enumerate(ALL_IDS):
        h, w = _size(i)
        Image.new('RGB', (w, h),
                  (i * 30, 80, 120)).save(voc / 'JPEGImages' / f'{name}.jpg')
        if name in VOC_TRAIN + VOC_VAL:
            im = Image.fromarray(_voc_label(i, h, w), mode='P')
            im.putpalette(voc_palette())
            im.save(voc / 'SegmentationClass' / f'{name}.png')
        if name in SBD_TRAIN + SBD_VAL:
            _write_sbd_mat(
                str(sbd / 'cls' / f'{name}.mat'), _sbd_label(i, h, w))
    return voc, sbd


def test_sbd_mat_layout_matches_real_sbd(tmp_path):
    """savemat of a dict gives the 1x1 ``GTcls`` struct of the real files."""
    seg = _sbd_label(3, 9, 11)
    path = str(tmp_path / 'x.mat')
    _write_sbd_mat(path, seg)
    mat = scipy.io.loadmat(path)
    rec = mat['GTcls']
    assert rec.shape == (1, 1)
    assert set(rec.dtype.names) == {
        'Boundaries', 'Segmentation', 'CategoriesPresent'
    }
    assert rec[0, 0]['Segmentation'].dtype == np.uint8
    np.testing.assert_array_equal(rec[0, 0]['Segmentation'], seg)
    # mmseg's own converter indexes it as [0]['Segmentation'][0]
    np.testing.assert_array_equal(mat['GTcls'][0]['Segmentation'][0], seg)
    obj = scipy.io.loadmat(
        path, squeeze_me=True, struct_as_record=False)['GTcls']
    np.testing.assert_array_equal(obj.Segmentation, seg)
    out = read_sbd_mat(path)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, seg)


def test_read_sbd_mat_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.mat'):
        read_sbd_mat(str(tmp_path / 'nope.mat'))
    bad = str(tmp_path / 'bad.mat')
    scipy.io.savemat(bad, {'GTinst': {'Segmentation': np.zeros((3, 3))}})
    with pytest.raises(ValueError, match=r"bad\.mat has no 'GTcls'"):
        read_sbd_mat(bad)
    nofield = str(tmp_path / 'nofield.mat')
    scipy.io.savemat(nofield, {'GTcls': {'Boundaries': np.zeros((3, 3))}})
    with pytest.raises(ValueError, match="nofield.mat.*'Segmentation'"):
        read_sbd_mat(nofield)
    garbage = tmp_path / 'garbage.mat'
    garbage.write_bytes(b'not a mat file')
    with pytest.raises(ValueError, match='garbage.mat'):
        read_sbd_mat(str(garbage))


def test_train_aug_list_and_plan():
    assert make_train_aug_list(VOC_TRAIN, VOC_VAL, SBD_TRAIN,
                               SBD_VAL) == sorted([V1, V2, S1, S2, S3])
    plan = plan_label_sources(VOC_TRAIN + VOC_VAL, SBD_TRAIN + SBD_VAL)
    assert plan == {
        V1: 'voc',
        V2: 'voc',
        V3: 'voc',
        V4: 'voc',
        S1: 'sbd',
        S2: 'sbd',
        S3: 'sbd'
    }


def test_convert_voc_aug(voc_sbd):
    voc, sbd = voc_sbd
    res = convert_voc_aug(str(voc), str(sbd), progress_file=_quiet())
    assert res['num_train_aug'] == 5
    assert (res['num_labels'], res['num_from_voc'], res['num_from_sbd'],
            res['written'], res['skipped']) == (7, 4, 3, 7, 0)
    assert res['missing_images'] == []
    lines = (voc / 'ImageSets/Segmentation/train_aug.txt').read_text()
    assert lines == ''.join(f'{n}\n' for n in sorted([V1, V2, S1, S2, S3]))
    out = voc / 'SegmentationClassAug'
    assert sorted(os.listdir(out)) == sorted(f'{n}.png' for n in ALL_IDS)
    for i, name in enumerate(ALL_IDS):
        h, w = _size(i)
        # VOC's label (with its 255 boundaries) wins where both exist
        want = _voc_label(i, h, w) if name in VOC_TRAIN + VOC_VAL \
            else _sbd_label(i, h, w)
        np.testing.assert_array_equal(_png(out / f'{name}.png'), want)
    with Image.open(out / f'{S1}.png') as img:
        assert img.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]
    assert check_voc_root(
        str(voc), splits=['train_aug'], check_xml=False) == []


def test_convert_voc_aug_resumes_and_overwrites(voc_sbd):
    voc, sbd = voc_sbd
    convert_voc_aug(str(voc), str(sbd), progress_file=_quiet())
    out = voc / 'SegmentationClassAug'
    marker = _save_marker(out / f'{S1}.png', 7)
    os.remove(out / f'{S2}.png')
    res = convert_voc_aug(str(voc), str(sbd), progress_file=_quiet())
    assert (res['written'], res['skipped']) == (1, 6)
    np.testing.assert_array_equal(_png(out / f'{S1}.png'), marker)
    assert _png(out / f'{S2}.png').shape == _size(ALL_IDS.index(S2))
    res = convert_voc_aug(
        str(voc), str(sbd), overwrite=True, progress_file=_quiet())
    assert (res['written'], res['skipped']) == (7, 0)
    i = ALL_IDS.index(S1)
    np.testing.assert_array_equal(
        _png(out / f'{S1}.png'), _sbd_label(i, *_size(i)))
    assert not [f for f in os.listdir(out) if 'tmp' in f]


def test_convert_voc_aug_parallel_and_parent_roots(voc_sbd):
    voc, sbd = voc_sbd
    # a VOCdevkit and a benchmark_RELEASE are accepted too
    res = convert_voc_aug(
        str(voc.parent), str(sbd.parent), nproc=2, progress_file=_quiet())
    assert res['voc_root'] == str(voc) and res['sbd_root'] == str(sbd)
    assert res['written'] == 7
    for i, name in enumerate(ALL_IDS):
        assert _png(voc / 'SegmentationClassAug' /
                    f'{name}.png').shape == _size(i)


def test_convert_voc_aug_errors(voc_sbd, tmp_path):
    voc, sbd = voc_sbd
    with pytest.raises(FileNotFoundError, match='VOC 2012 root not found'):
        convert_voc_aug(str(tmp_path / 'none'), str(sbd))
    with pytest.raises(FileNotFoundError, match='ImageSets'):
        convert_voc_aug(str(tmp_path), str(sbd))
    with pytest.raises(FileNotFoundError, match='cls'):
        convert_voc_aug(str(voc), str(voc))
    os.remove(sbd / 'val.txt')
    with pytest.raises(FileNotFoundError, match='val.txt'):
        convert_voc_aug(str(voc), str(sbd))
    (sbd / 'val.txt').write_text('\n'.join(SBD_VAL) + '\n')
    os.remove(sbd / 'cls' / f'{S2}.mat')
    with pytest.raises(FileNotFoundError, match=f'1 SBD labels.*{S2}.mat'):
        convert_voc_aug(str(voc), str(sbd))
    os.remove(voc / 'SegmentationClass' / f'{V1}.png')
    with pytest.raises(FileNotFoundError, match=f'{V1}.png'):
        convert_voc_aug(str(voc), str(sbd))


def test_convert_voc_aug_illegal_values(voc_sbd):
    voc, sbd = voc_sbd
    _write_sbd_mat(
        str(sbd / 'cls' / f'{S3}.mat'), np.full((4, 4), 21, np.uint8))
    with pytest.raises(ValueError, match=rf'{S3}\.mat has illegal values'):
        convert_voc_aug(str(voc), str(sbd), progress_file=_quiet())


def test_voc_aug_cli(voc_sbd, capsys):
    voc, sbd = voc_sbd
    tool = _load_tool('voc_aug')
    assert tool.main([str(voc), str(sbd), '--nproc', '1']) == 0
    out = capsys.readouterr().out
    assert 'train_aug.txt: 5 images' in out
    assert '10582' in out  # the subset note
    assert tool.main([str(voc), str(voc.parent / 'missing')]) == 1
    assert 'error: SBD root not found' in capsys.readouterr().err


# ==========================================================================
# COCO: RLE
# ==========================================================================
def test_rle_known_strings():
    # hand-verified: runs 3, 2, 6, 1 (the 4th stored as 1 - 2 = -1 -> 'O')
    assert rle_counts_to_string([3, 2, 6, 1]) == '326O'
    assert rle_string_to_counts('326O') == [3, 2, 6, 1]
    np.testing.assert_array_equal(
        rle_decode('326O', 3, 4).astype(int),
        [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    # 40 = 8 + 1 * 32: groups 8 | 0x20 -> 'X', then 1 -> '1'
    assert rle_string_to_counts('2X13') == [2, 40, 3]
    assert rle_counts_to_string([2, 40, 3]) == '2X13'
    # 10 - 50 = -40: groups 24 | 0x20 -> 'h', then 30 (sign bit) -> 'N'
    assert rle_string_to_counts('0b11hN') == [0, 50, 1, 10]
    assert rle_counts_to_string([0, 50, 1, 10]) == '0b11hN'
    row = rle_decode('0b11hN', 1, 61)[0]
    assert row[:50].all() and not row[50] and row[51:].all()
    # strings produced by pycocotools (maskApi.c rleToString) for these masks
    m = np.zeros((7, 9), bool)
    m[1:5, 2:8] = True
    m[6, 0] = m[0, 8] = True
    np.testing.assert_array_equal(rle_decode('6183K000000000OM4', 7, 9), m)
    assert rle_counts_to_string(rle_encode(m)) == '6183K000000000OM4'
    m2 = np.zeros((40, 60), bool)
    m2[3:37, 5:55] = True
    m2[10:20, 20:30] = False
    s2 = ('[6R16' + '0' * 28 + 'UO4' + ':LF4' * 9 + ':La' + '0' * 49 + 'U6')
    np.testing.assert_array_equal(rle_decode(s2, 40, 60), m2)
    assert rle_counts_to_string(rle_encode(m2)) == s2


def test_rle_roundtrip_random():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 25, size=2)
        mask = rng.random((h, w)) < rng.random()
        counts = rle_encode(mask)
        assert sum(counts) == h * w
        np.testing.assert_array_equal(rle_decode(counts, h, w), mask)
        s = rle_counts_to_string(counts)
        assert rle_string_to_counts(s) == counts
        np.testing.assert_array_equal(rle_decode(s, h, w), mask)
        np.testing.assert_array_equal(rle_decode(s.encode(), h, w), mask)
    # column-major, first run counts zeros
    mask = np.array([[1, 0], [1, 1]], bool)
    assert rle_encode(mask) == [0, 2, 1, 1]


def test_rle_errors():
    with pytest.raises(ValueError, match='add up to 5'):
        rle_decode([2, 3], 2, 3)
    with pytest.raises(ValueError, match='truncated'):
        rle_string_to_counts('X')  # continuation bit, then nothing
    with pytest.raises(ValueError, match='illegal character'):
        rle_string_to_counts('3 2')
    with pytest.raises(ValueError, match='negative run'):
        rle_string_to_counts('000O')  # 4th run = 0 - 1


# ==========================================================================
# COCO: polygons
# ==========================================================================
def test_polygon_pixel_centre_rule():
    # integer box (1, 1)-(9, 8): columns 1..8, rows 1..7, like pycocotools
    want = np.zeros((10, 12), bool)
    want[1:8, 1:9] = True
    np.testing.assert_array_equal(
        polygons_to_mask([[1, 1, 9, 1, 9, 8, 1, 8]], 10, 12), want)
    # fractional box: pixel centres x + 0.5 in [1.2, 8.8] -> columns 1..8
    np.testing.assert_array_equal(
        polygons_to_mask([[1.2, 1.2, 8.8, 1.2, 8.8, 7.8, 1.2, 7.8]], 10, 12),
        want)
    # triangle (0,0),(4,0),(0,4): centres with x + y < 4 -> 10 pixels
    tri = polygons_to_mask([[0, 0, 4, 0, 0, 4]], 5, 5)
    yy, xx = np.mgrid[:5, :5]
    np.testing.assert_array_equal(tri, (xx + yy + 1 < 4))
    # parts are united, not XOR-ed; clipped at the border; cv2 is larger
    two = polygons_to_mask([[0, 0, 6, 0, 6, 6, 0, 6], [3, 3, 20, 3, 20, 20]],
                           8, 8)
    assert two[:6, :6].all() and two[3, 7] and not two[7, 0]
    box = [[1, 1, 9, 1, 9, 8, 1, 8]]
    assert polygons_to_mask(box, 10, 12, 'cv2').sum() > want.sum()
    assert not scanline_fill(np.zeros((2, 2)), 4, 4).any()
    with pytest.raises(ValueError, match='odd number'):
        polygons_to_mask([[1, 2, 3]], 4, 4)
    with pytest.raises(ValueError, match='fill method'):
        polygons_to_mask(box, 4, 4, 'magic')


def test_polygon_close_to_pycocotools():
    """pycocotools (frPyObjects + merge) gave this 110-pixel mask."""
    poly = [2.3, 1.7, 17.6, 3.2, 12.4, 9.9, 19.1, 14.6, 4.2, 13.3, 7.7, 7.1]
    ref = rle_decode('b11?1O1HOO2N110M136001O00000JNN21OO101OO03O7010a0', 16,
                     21)
    assert ref.sum() == 110
    assert (polygons_to_mask([poly], 16, 21) != ref).sum() <= 2


# ==========================================================================
# COCO: whole conversion
# ==========================================================================
#: The 80 real COCO category ids (1..90 with gaps).
COCO_IDS = [
    i for i in range(1, 91)
    if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
]


def _coco_json(path, anns, images=None, categories=None):
    images = images if images is not None else [
        dict(id=i, file_name=f'COCO_train2014_{i:012d}.jpg', height=h,
             width=w) for i, h, w in ((9, 10, 12), (25, 6, 5), (30, 8, 8))
    ]
    if categories is None:
        # listed out of id order on purpose
        categories = [
            dict(id=cid, name=name, supercategory='x')
            for cid, name in zip(COCO_IDS, COCO_CLASSES[1:])
        ][::-1]
    with open(path, 'w') as f:
        json.dump(
            dict(images=images, annotations=anns, categories=categories), f)


def _box_rle(h, w, rows, cols):
    m = np.zeros((h, w), bool)
    m[rows, cols] = True
    return m


def _ann(ann_id, image_id, category_id, segmentation, area=None,
         iscrowd=0):
    """A COCO annotation; without ``area`` the key is left out."""
    ann = dict(id=ann_id, image_id=image_id, category_id=category_id,
               iscrowd=iscrowd)
    if area is not None:
        ann['area'] = area
    ann['segmentation'] = segmentation
    return ann


def _anns():
    car = _box_rle(10, 12, slice(2, 4), slice(3, 6))
    dog = _box_rle(10, 12, slice(6, 9), slice(7, 11))
    crowd = _box_rle(10, 12, slice(0, 10), slice(9, 12))
    return [
        # image 9: small car listed first, no 'area' (computed: 6)
        _ann(101, 9, 3, dict(size=[10, 12], counts=rle_encode(car))),
        _ann(102, 9, 1, [[1, 1, 9, 1, 9, 8, 1, 8]], area=56.0),
        _ann(103, 9, 18,
             dict(size=[10, 12],
                  counts=rle_counts_to_string(rle_encode(dog))),
             area=12.0),
        _ann(104, 9, 90, dict(size=[10, 12], counts=rle_encode(crowd)),
             area=30.0, iscrowd=1),
        # image 30: a two-part airplane under a bus
        _ann(105, 30, 5, [[0, 0, 3, 0, 3, 3, 0, 3], [5, 5, 8, 5, 8, 8, 5, 8]],
             area=18.0),
        _ann(106, 30, 6, [[2, 2, 6, 2, 6, 6, 2, 6]], area=16.0),
    ]


def _expected(crowd_value):
    a = np.zeros((10, 12), np.uint8)
    a[1:8, 1:9] = 1  # person, area 56, painted first
    a[:, 9:12] = crowd_value  # crowd toothbrush (class 80), area 30
    a[6:9, 7:11] = 17  # dog (category 18 -> class 17), area 12
    a[2:4, 3:6] = 3  # car, area 6, on top
    c = np.zeros((8, 8), np.uint8)
    c[0:3, 0:3] = 5
    c[5:8, 5:8] = 5
    c[2:6, 2:6] = 6
    return {
        'COCO_train2014_000000000009': a,
        'COCO_train2014_000000000025': np.zeros((6, 5), np.uint8),
        'COCO_train2014_000000000030': c,
    }


@pytest.fixture
def coco_root(tmp_path):
    root = tmp_path / 'coco2014'
    (root / 'annotations').mkdir(parents=True)
    _coco_json(root / 'annotations' / 'instances_train2014.json', _anns())
    return root


def test_category_mapping_agrees_with_dataset(coco_root):
    ann = str(coco_root / 'annotations' / 'instances_train2014.json')
    with open(ann) as f:
        cats = json.load(f)['categories']
    mapping = coco_category_mapping(cats)
    _, ref = load_coco_instances(ann, COCO_CLASSES[1:])
    assert mapping == ref
    assert len(COCO_IDS) == 80
    assert mapping[1] == 1 and mapping[18] == 17 and mapping[90] == 80
    with pytest.raises(ValueError, match='81 categories; expected 80'):
        coco_category_mapping(cats + [dict(id=91, name='x')])
    bad = [dict(c) for c in cats]
    bad[0]['name'] = 'brush'
    with pytest.raises(ValueError, match="category id 90 .* 'brush'"):
        coco_category_mapping(bad, source='f.json')


def test_rasterize_exact_pixels(coco_root):
    res = convert_coco_wsss(str(coco_root), progress_file=_quiet())
    assert (res['num_images'], res['num_annotations'], res['num_crowd'],
            res['num_empty'], res['written'], res['skipped']) == (3, 6, 1, 1,
                                                                  3, 0)
    out = coco_root / 'SegmentationClass' / 'train2014'
    assert res['out_dir'] == str(out)
    for stem, want in _expected(255).items():
        np.testing.assert_array_equal(_png(out / f'{stem}.png'), want)
    # every class in the maps is an image-level label of the JSON
    labels, _ = load_coco_instances(
        str(coco_root / 'annotations' / 'instances_train2014.json'),
        COCO_CLASSES[1:])
    for stem in labels:
        vals = set(np.unique(_png(out / f'{stem}.png')).tolist()) - {0, 255}
        assert vals == {i + 1 for i in np.flatnonzero(labels[stem])} - {80}


def test_crowd_as_class_and_parallel(coco_root, tmp_path):
    out = tmp_path / 'out'
    res = convert_coco_wsss(
        str(coco_root),
        out_dir=str(out),
        nproc=2,
        crowd_as_class=True,
        progress_file=_quiet())
    assert res['written'] == 3
    for stem, want in _expected(80).items():
        np.testing.assert_array_equal(_png(out / f'{stem}.png'), want)


def test_rasterize_annotations_ties_keep_json_order():
    box = [[0, 0, 2, 0, 2, 2, 0, 2]]
    lab = rasterize_annotations([(1, 4, 0, 4.0, box), (2, 7, 0, 4.0, box)], 3,
                                3)
    assert lab[0, 0] == 7 and lab[2, 2] == 0


def test_coco_resume_and_overwrite(coco_root):
    convert_coco_wsss(str(coco_root), progress_file=_quiet())
    out = coco_root / 'SegmentationClass' / 'train2014'
    marker = _save_marker(out / 'COCO_train2014_000000000009.png', 9)
    os.remove(out / 'COCO_train2014_000000000025.png')
    res = convert_coco_wsss(str(coco_root), progress_file=_quiet())
    assert (res['written'], res['skipped']) == (1, 2)
    np.testing.assert_array_equal(
        _png(out / 'COCO_train2014_000000000009.png'), marker)
    res = convert_coco_wsss(
        str(coco_root), overwrite=True, progress_file=_quiet())
    assert (res['written'], res['skipped']) == (3, 0)
    np.testing.assert_array_equal(
        _png(out / 'COCO_train2014_000000000009.png'),
        _expected(255)['COCO_train2014_000000000009'])


def test_coco_errors(coco_root, tmp_path):
    ann = coco_root / 'annotations' / 'instances_train2014.json'
    with pytest.raises(FileNotFoundError, match='COCO root not found'):
        convert_coco_wsss(str(tmp_path / 'none'))
    with pytest.raises(FileNotFoundError, match='instances_val2014.json'):
        convert_coco_wsss(str(coco_root), split='val2014')
    anns = _anns()
    anns[1]['category_id'] = 12  # a gap in COCO's ids
    _coco_json(ann, anns)
    with pytest.raises(
            ValueError, match='annotation 102 .* unknown category id 12'):
        convert_coco_wsss(str(coco_root), progress_file=_quiet())
    anns = _anns()
    anns[0]['segmentation']['size'] = [12, 10]
    _coco_json(ann, anns)
    with pytest.raises(
            ValueError,
            match=r'COCO_train2014_000000000009.jpg: annotation 101: RLE '
            r'size \[12, 10\]'):
        convert_coco_wsss(str(coco_root), progress_file=_quiet())
    anns = _anns()
    anns[0]['image_id'] = 77
    _coco_json(ann, anns)
    with pytest.raises(ValueError, match='unknown image id 77'):
        convert_coco_wsss(str(coco_root), progress_file=_quiet())
    ann.write_text('{"images": []')
    with pytest.raises(ValueError, match='cannot parse COCO JSON'):
        convert_coco_wsss(str(coco_root), progress_file=_quiet())
    ann.write_text('{"images": [], "annotations": []}')
    with pytest.raises(ValueError, match="no 'categories' list"):
        convert_coco_wsss(str(coco_root), progress_file=_quiet())


def test_coco_cli(coco_root, capsys):
    tool = _load_tool('coco_wsss')
    assert tool.main([str(coco_root), '--split', 'train2014', '--nproc',
                      '1']) == 0
    out = capsys.readouterr().out
    assert '3 images, 6 annotations (1 crowd), 1 images without' in out
    assert 'written 3, skipped 0' in out
    assert tool.main([str(coco_root), '--split', 'val2014']) == 1
    assert 'instances_val2014.json' in capsys.readouterr().err
    # cv2.fillPoly also fills the outline: the person box gains row 8
    out = coco_root / 'cv2'
    assert tool.main(
        [str(coco_root), '--poly-method', 'cv2', '--out-dir',
         str(out)]) == 0
    lab = _png(out / 'COCO_train2014_000000000009.png')
    assert lab[8, 1] == 1 and lab[8, 6] == 1 and lab[1, 9] == 255
    want = _expected(255)['COCO_train2014_000000000009']
    assert lab[0, 0] == 0 and (lab[2:4, 3:6] == want[2:4, 3:6]).all()
    with pytest.raises(ValueError, match='fill method'):
        convert_coco_wsss(str(coco_root), poly_method='magic')
