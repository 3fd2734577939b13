import os

import numpy as np
from PIL import Image

from mmseg_sipe.datasets.checker import (check_label_map, check_split_file,
                                         check_voc_root)
from sipe_testing import load_tool


def _names(root, split):
    return (root / 'ImageSets' / 'Segmentation' /
            f'{split}.txt').read_text().split()


def _load_cli():
    return load_tool('tools/dataset_converters/check_dataset.py')


def _messages(problems):
    return [str(p) for p in problems]


def test_clean_demo_has_no_problems(demo_root, capsys):
    assert check_voc_root(str(demo_root)) == []
    assert _load_cli().main([str(demo_root)]) == 0
    assert 'OK' in capsys.readouterr().out


def test_missing_image(demo_copy, capsys):
    name = _names(demo_copy, 'train')[0]
    jpg = demo_copy / 'JPEGImages' / f'{name}.jpg'
    os.remove(jpg)
    msgs = _messages(check_voc_root(str(demo_copy)))
    # listed in train and train_aug, reported once
    assert msgs == [f'{jpg}: image listed in train.txt not found']
    assert _load_cli().main([str(demo_copy)]) == 1
    out = capsys.readouterr().out
    assert str(jpg) in out and '1 problem(s)' in out


def test_missing_label(demo_copy):
    name = _names(demo_copy, 'val')[1]
    png = demo_copy / 'SegmentationClass' / f'{name}.png'
    os.remove(png)
    msgs = _messages(check_voc_root(str(demo_copy)))
    assert msgs == [
        f"{png}: label of image '{name}' (listed in val.txt) "
        'not found'
    ]
    # the aug split uses SegmentationClassAug: not affected
    assert check_voc_root(str(demo_copy), splits=['train_aug']) == []


def test_missing_xml_and_unknown_class(demo_copy):
    a, b = _names(demo_copy, 'train')[:2]
    os.remove(demo_copy / 'Annotations' / f'{a}.xml')
    xml = demo_copy / 'Annotations' / f'{b}.xml'
    xml.write_text(xml.read_text().replace('<name>', '<name>zz', 1))
    msgs = _messages(check_voc_root(str(demo_copy)))
    assert len(msgs) == 2
    assert msgs[0].startswith(str(demo_copy / 'Annotations' / f'{a}.xml'))
    assert msgs[1].startswith(f'{xml}: unknown class names')
    assert check_voc_root(str(demo_copy), check_xml=False) == []


def test_illegal_label_value(demo_copy):
    name = _names(demo_copy, 'train_aug')[-1]
    png = demo_copy / 'SegmentationClassAug' / f'{name}.png'
    with Image.open(png) as im:
        arr, pal = np.array(im), im.getpalette()
    arr[2, 3] = 21
    arr[4, 4] = 200
    im = Image.fromarray(arr)
    im.putpalette(pal)
    im.save(png)
    msgs = _messages(check_voc_root(str(demo_copy)))
    assert msgs == [
        f'{png}: illegal label values [21, 200] (legal: 0..20 '
        'and 255)'
    ]
    assert check_voc_root(str(demo_copy), check_values=False) == []


def test_label_mode_and_size(tmp_path):
    rgb = tmp_path / 'rgb.png'
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(rgb)
    assert 'mode' in str(check_label_map(str(rgb), 20)[0])
    grey = tmp_path / 'grey.png'
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(grey)
    assert check_label_map(str(grey), 20, (5, 4)) == []
    msgs = _messages(check_label_map(str(grey), 20, (6, 4)))
    assert msgs == [f'{grey}: size 5x4 differs from the image (6x4)']


def test_wrong_split_files(demo_copy):
    split = demo_copy / 'ImageSets' / 'Segmentation' / 'val.txt'
    names = _names(demo_copy, 'val')
    split.write_text(f'{names[0]}\n\n{names[1]}\n{names[0]}\na b\n')
    msgs = _messages(check_voc_root(str(demo_copy)))
    assert msgs == [
        f'{split}: line 2: blank line',
        f"{split}: line 4: duplicate image id '{names[0]}' (first on "
        'line 1)',
        f"{split}: line 5: 'a b' is not a single image id",
    ]
    names_, problems = check_split_file(str(split))
    assert names_ == names[:2] and len(problems) == 3


def test_missing_split_file(demo_copy, tmp_path):
    msgs = _messages(check_voc_root(str(demo_copy), splits=['trainval']))
    path = demo_copy / 'ImageSets' / 'Segmentation' / 'trainval.txt'
    assert msgs == [f'{path}: split file not found']
    for s in ('train', 'val', 'train_aug'):
        os.remove(demo_copy / 'ImageSets' / 'Segmentation' / f'{s}.txt')
    msgs = _messages(check_voc_root(str(demo_copy)))
    assert len(msgs) == 1 and 'none of' in msgs[0]
    assert _messages(check_voc_root(str(tmp_path / 'nope'))) == [
        f"{tmp_path / 'nope'}: dataset root not found"
    ]
    assert _load_cli().main([str(demo_copy), '--split', 'trainval']) == 1
