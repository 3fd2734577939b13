"""Bad inputs end with one line naming the file (or a documented warning):
split files, annotation XMLs, EXIF orientation, truncated images and labels.
"""
import io
import logging
import os

import numpy as np
import pytest
import torch
from mmcv.transforms import LoadImageFromFile
from mmengine.dataset import Compose
from PIL import Image

from mmseg_sipe.cam.make_cam import read_rgb
from mmseg_sipe.datasets import SIPEVOCDataset
from mmseg_sipe.datasets.checker import (MAX_IMAGE_PIXELS, check_image,
                                         check_split_file, check_voc_root)
from mmseg_sipe.datasets.labels import read_split_file
from mmseg_sipe.datasets.transforms import (DataFileError, SIPELoadAnnotations,
                                            SIPELoadImageFromFile)
from mmseg_sipe.utils.cli import format_error

from test_dataset_checker import _load_cli  # noqa: I100

SPLIT_DIR = ('ImageSets', 'Segmentation')


def _split(root, name='train_aug'):
    return root.joinpath(*SPLIT_DIR, f'{name}.txt')


def _names(root, name='train_aug'):
    return _split(root, name).read_text().split()


def _one_line(text):
    return '\n' not in str(text).strip()


# --------------------------------------------------------------------------
# split files
# --------------------------------------------------------------------------
def test_duplicate_id_in_split_is_refused(demo_copy):
    split = _split(demo_copy)
    names = _names(demo_copy)
    split.write_text('\n'.join(names + [names[1]]) + '\n')
    dup_line = len(names) + 1
    with pytest.raises(ValueError) as exc:
        SIPEVOCDataset(data_root=str(demo_copy))
    msg = str(exc.value)
    assert _one_line(msg)
    assert str(split) in msg and repr(names[1]) in msg
    assert f'lines 2 and {dup_line}' in msg
    # the checker reports the same line
    _, problems = check_split_file(str(split))
    assert [str(p) for p in problems] == [
        f"{split}: line {dup_line}: duplicate image id '{names[1]}' (first "
        'on line 2)'
    ]


def test_split_file_with_bom_is_read(demo_copy):
    split = _split(demo_copy)
    names = _names(demo_copy)
    split.write_bytes(b'\xef\xbb\xbf' + ('\r\n'.join(names) + '\r\n').encode())
    assert read_split_file(str(split)) == names
    ds = SIPEVOCDataset(data_root=str(demo_copy))
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == names
    assert check_voc_root(str(demo_copy), splits=['train_aug']) == []


# --------------------------------------------------------------------------
# an annotation XML without objects
# --------------------------------------------------------------------------
def _strip_objects(xml):
    text = xml.read_text()
    head = text.split('<object>')[0]
    xml.write_text(head + '</annotation>\n')


def test_xml_without_objects(demo_copy):
    names = _names(demo_copy)
    xml = demo_copy / 'Annotations' / f'{names[2]}.xml'
    _strip_objects(xml)
    with pytest.raises(ValueError) as exc:
        SIPEVOCDataset(data_root=str(demo_copy))
    msg = str(exc.value)
    assert _one_line(msg) and msg.startswith(f'{xml}: no foreground class')
    assert str(_split(demo_copy)) in msg and "empty_labels='skip'" in msg

    from mmengine.logging import MMLogger
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    level = logger.level  # an earlier test may have raised it
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        ds = SIPEVOCDataset(data_root=str(demo_copy), empty_labels='skip')
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    ids = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
    assert ids == names[:2] + names[3:]
    warned = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any('skipped 1/' in m and names[2] in m for m in warned)

    ds = SIPEVOCDataset(data_root=str(demo_copy), empty_labels='keep')
    assert len(ds) == len(names)
    assert not ds.get_data_info(2)['img_labels'].any()
    with pytest.raises(ValueError, match='empty_labels'):
        SIPEVOCDataset(data_root=str(demo_copy), empty_labels='ignore')


# --------------------------------------------------------------------------
# EXIF orientation: one decoder rule (the stored pixel grid)
# --------------------------------------------------------------------------
def _jpeg_with_orientation(path, arr, orientation=6):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(path, 'JPEG', quality=95, exif=exif.tobytes())


def test_exif_orientation_is_ignored_everywhere(demo_copy, capsys):
    name = _names(demo_copy, 'train')[0]
    jpg = demo_copy / 'JPEGImages' / f'{name}.jpg'
    with Image.open(jpg) as im:
        arr = np.array(im.convert('RGB'))
    h, w = arr.shape[:2]
    assert h != w  # a rotation would show in the shape
    _jpeg_with_orientation(jpg, arr)

    # make_cam's reader and the training / validation loader agree ...
    rgb = read_rgb(str(jpg))
    loaded = SIPELoadImageFromFile()(dict(img_path=str(jpg)))
    assert loaded['img'].shape == (h, w, 3) and loaded['ori_shape'] == (h, w)
    assert np.array_equal(loaded['img'][..., ::-1], rgb)
    # ... where mmcv's default rotates the image
    rotated = LoadImageFromFile()(dict(img_path=str(jpg)))['img']
    assert rotated.shape == (w, h, 3)

    # the label (drawn on the stored grid) lines up in the loader
    seg = demo_copy / 'SegmentationClass' / f'{name}.png'
    res = SIPELoadAnnotations()(dict(loaded,
                                     seg_map_path=str(seg),
                                     reduce_zero_label=False,
                                     seg_fields=[]))
    assert res['gt_seg_map'].shape == (h, w)

    # the checker: same grid (no size problem), the tag as a warning
    size, problems = check_image(str(jpg))
    assert size == (w, h)
    assert [(p.level, p.path) for p in problems] == [('warning', str(jpg))]
    assert 'EXIF orientation 6 is ignored' in problems[0].message
    found = check_voc_root(str(demo_copy))
    assert [str(p) for p in found] == [str(problems[0])]
    assert _load_cli().main([str(demo_copy)]) == 0
    out = capsys.readouterr().out
    assert f'{jpg}: warning: EXIF orientation 6' in out
    assert 'OK with 1 warning(s)' in out


# --------------------------------------------------------------------------
# truncated / empty files in the training and validation loaders
# --------------------------------------------------------------------------
def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def _voc(root, pipeline, split='train'):
    return SIPEVOCDataset(data_root=str(root),
                          ann_file=f'ImageSets/Segmentation/{split}.txt',
                          data_prefix=dict(img_path='JPEGImages',
                                           seg_map_path='SegmentationClass'),
                          pipeline=pipeline,
                          test_mode=True)


def test_truncated_jpeg_in_training_names_the_file(demo_copy):
    name = _names(demo_copy, 'train')[1]
    jpg = demo_copy / 'JPEGImages' / f'{name}.jpg'
    _truncate(jpg)
    ds = _voc(demo_copy, [dict(type='SIPELoadImageFromFile')])
    ds[0]  # the others load
    with pytest.raises(DataFileError) as exc:
        ds[1]
    assert _one_line(exc.value) and str(jpg) in str(exc.value)
    assert format_error(exc.value).startswith(f'error: cannot read image '
                                              f'{jpg}')
    # out of a DataLoader worker: still one line naming the file
    loader = torch.utils.data.DataLoader(ds,
                                         batch_size=None,
                                         num_workers=1,
                                         collate_fn=lambda x: x,
                                         sampler=[1])
    with pytest.raises(DataFileError) as exc:
        next(iter(loader))
    assert _one_line(exc.value) and str(jpg) in str(exc.value)
    assert 'Traceback' not in str(exc.value)
    # the checker finds it (it reads more than the header)
    msgs = [str(p) for p in check_voc_root(str(demo_copy))]
    assert len(msgs) == 1
    assert msgs[0].startswith(f'{jpg}: cannot read image (truncated or '
                              'corrupt): ')


@pytest.mark.parametrize('kind', ['empty', 'truncated'])
def test_bad_label_png_names_the_file(demo_copy, kind):
    name = _names(demo_copy, 'val')[0]
    png = demo_copy / 'SegmentationClass' / f'{name}.png'
    if kind == 'empty':
        png.write_bytes(b'')
    else:
        _truncate(png, 0.6)
    ds = _voc(
        demo_copy,
        [dict(type='SIPELoadImageFromFile'),
         dict(type='SIPELoadAnnotations')],
        split='val')
    with pytest.raises(DataFileError) as exc:
        ds[0]
    msg = str(exc.value)
    assert _one_line(msg) and msg.startswith(f'cannot read label map {png}')
    assert 'BytesIO' not in msg
    assert any(
        str(p).startswith(f'{png}: cannot read')
        for p in check_voc_root(str(demo_copy)))


def test_label_of_other_size_in_validation(demo_copy):
    name = _names(demo_copy, 'val')[1]
    png = demo_copy / 'SegmentationClass' / f'{name}.png'
    jpg = demo_copy / 'JPEGImages' / f'{name}.jpg'
    with Image.open(png) as im:
        w, h = im.size
        small = im.resize((w - 8, h), Image.NEAREST)
        small.save(png)
    pipeline = Compose(
        [dict(type='SIPELoadImageFromFile'),
         dict(type='SIPELoadAnnotations')])
    with pytest.raises(DataFileError) as exc:
        pipeline(
            dict(img_path=str(jpg),
                 seg_map_path=str(png),
                 reduce_zero_label=False,
                 seg_fields=[]))
    msg = str(exc.value)
    assert _one_line(msg)
    assert msg.startswith(f'label map {png} is {w - 8}x{h} but its image '
                          f'{jpg} is {w}x{h}')


def test_loader_matches_mmcv_default_without_exif(demo_root):
    """No EXIF tag: the SIPE loader gives mmcv's array byte for byte."""
    name = _names(demo_root, 'train')[0]
    jpg = str(demo_root / 'JPEGImages' / f'{name}.jpg')
    a = SIPELoadImageFromFile()(dict(img_path=jpg))['img']
    b = LoadImageFromFile()(dict(img_path=jpg))['img']
    assert a.dtype == b.dtype and np.array_equal(a, b)


# --------------------------------------------------------------------------
# the checker: size limit
# --------------------------------------------------------------------------
def test_checker_warns_about_large_images(tmp_path, demo_copy, capsys):
    big = tmp_path / 'big.jpg'
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(big)
    size, problems = check_image(str(big), max_pixels=2000)
    assert size == (60, 40) and len(problems) == 1
    assert problems[0].level == 'warning'
    assert str(problems[0]).startswith(f'{big}: warning: 60x40 is 0.0 MP')
    assert 'make_cam' in problems[0].message
    assert check_image(str(big))[1] == []  # default: 2 MP
    assert MAX_IMAGE_PIXELS == 2_000_000
    # on a dataset: warnings only, exit status 0
    assert _load_cli().main(
        [str(demo_copy), '--split', 'val', '--max-pixels', '100']) == 0
    out = capsys.readouterr().out
    assert 'warning: ' in out and 'above the 0.0001 MP limit' in out
    # a real problem next to warnings: exit 1, both counted
    os.remove(demo_copy / 'SegmentationClass' /
              f"{_names(demo_copy, 'val')[0]}.png")
    assert _load_cli().main(
        [str(demo_copy), '--split', 'val', '--max-pixels', '100']) == 1
    out = capsys.readouterr().out
    assert '1 problem(s) found' in out and 'warning(s)' in out


def test_decode_image_rejects_empty_bytes():
    from mmseg_sipe.datasets.transforms import decode_image
    with pytest.raises(DataFileError, match='x.jpg: the file is empty'):
        decode_image(b'', 'x.jpg')
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, 'JPEG')
    data = buf.getvalue()
    with pytest.raises(DataFileError, match='cannot read image y.jpg'):
        decode_image(data[:len(data) // 2], 'y.jpg')
    assert decode_image(data, 'z.jpg').shape == (8, 8, 3)


def test_stage_two_splits_are_read_the_same_way(demo_copy):
    from mmseg_sipe.datasets.pseudo_label import (COCO2014SegDataset,
                                                  VOCPseudoLabelDataset)
    split = _split(demo_copy)
    names = _names(demo_copy)
    prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug')
    split.write_bytes(b'\xef\xbb\xbf' + ('\n'.join(names) + '\n').encode())
    for cls in (VOCPseudoLabelDataset, COCO2014SegDataset):
        ds = cls(data_root=str(demo_copy),
                 data_prefix=prefix,
                 ann_file='ImageSets/Segmentation/train_aug.txt',
                 img_suffix='.jpg',
                 seg_map_suffix='.png')
        paths = [ds.get_data_info(i)['seg_map_path'] for i in range(len(ds))]
        assert [os.path.basename(p) for p in paths] == \
            [f'{n}.png' for n in names]
    split.write_text('\n'.join(names + [names[0]]) + '\n')
    for cls in (VOCPseudoLabelDataset, COCO2014SegDataset):
        with pytest.raises(ValueError,
                           match=f"duplicate image id "
                           f"'{names[0]}' on lines 1 and {len(names) + 1}"):
            cls(data_root=str(demo_copy),
                data_prefix=prefix,
                ann_file='ImageSets/Segmentation/train_aug.txt',
                img_suffix='.jpg',
                seg_map_suffix='.png')
