"""Class statistics for SFC's class-balance weights
(mmseg_sipe.datasets.class_stats, tools/analysis_tools/class_stats.py):
what is counted from what, the file format, and the shipped files."""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mmseg_sipe.cli.class_stats import main as class_stats_main
from mmseg_sipe.datasets.class_stats import (STATS_FORMAT, bank_extra_images,
                                             class_weights_from_stats,
                                             compute_class_stats,
                                             load_class_stats, pixel_counts,
                                             save_class_stats,
                                             validate_class_stats)
from mmseg_sipe.datasets.labels import read_label_map
from mmseg_sipe.datasets.metainfo import VOC_CLASSES
from sipe_testing import ROOT, run_tool

SFC_DEMO = osp.join(ROOT, 'configs/sfc/demo_r18.py')


def _names(root, split='train_aug'):
    with open(osp.join(root, 'ImageSets/Segmentation', split + '.txt')) as f:
        return f.read().split()


def test_counts_formula_and_file_round_trip(tmp_path):
    labels = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1], [1, 0, 1]])
    pngs = []
    for i, arr in enumerate((np.array([[0, 1], [3, 255]]),
                             np.array([[1, 1], [1, 0]]),
                             np.array([[3, 3], [0, 0]]),
                             np.array([[0, 0], [255, 1]]))):
        p = tmp_path / f'{i}.png'
        Image.fromarray(arr.astype(np.uint8), mode='L').save(p)
        pngs.append(str(p))
    assert pixel_counts(pngs, 3).tolist() == [5, 0, 3]
    stats = compute_class_stats(labels, ['a', 'b', 'c'], pngs,
                                batch_size=2, bank_samples=4, bank_epochs=3)
    assert stats['format'] == STATS_FORMAT
    assert stats['image_counts'] == [3, 0, 3]
    assert stats['pixel_counts'] == [5, 0, 3]
    # (4 // 2) * 4 * 3 / 2 classes with images
    assert stats['extra_images'] == 12.0 == bank_extra_images(4, 2, 2, 4, 3)
    path = str(tmp_path / 'stats.json')
    save_class_stats(path, stats)
    assert load_class_stats(path, 3) == stats
    w = class_weights_from_stats(stats)
    a = np.array([5 / 15, 3 / 15])
    np.testing.assert_allclose(w.numpy()[[0, 2]], a / a.mean(), rtol=1e-6)
    assert w[1] == 1.0
    # no pixel-level ground truth: image counts only, no weights
    no_pix = compute_class_stats(labels, ['a', 'b', 'c'])
    assert no_pix['pixel_counts'] is None
    with pytest.raises(ValueError, match='pixel counts'):
        class_weights_from_stats(no_pix)


def test_validation_errors(tmp_path):
    bad = tmp_path / 'bad.png'
    Image.fromarray(np.full((2, 2), 7, np.uint8), mode='L').save(bad)
    with pytest.raises(ValueError, match='bad.png'):
        pixel_counts([str(bad)], 3)
    with pytest.raises(FileNotFoundError, match='class_stats.py'):
        load_class_stats(str(tmp_path / 'none.json'))
    good = compute_class_stats(np.eye(2), ['a', 'b'])
    with pytest.raises(ValueError, match='format'):
        validate_class_stats(dict(good, format='x'))
    with pytest.raises(ValueError, match='the model has 3'):
        validate_class_stats(good, 3)
    with pytest.raises(ValueError, match='pixel_counts'):
        validate_class_stats(dict(good, pixel_counts=[1]))
    with pytest.raises(ValueError, match='labels'):
        compute_class_stats(np.eye(2), ['a', 'b', 'c'])


def test_shipped_voc_file_is_the_reference_and_train_aug_counts():
    stats = load_class_stats(
        osp.join(ROOT, 'configs/sfc/class_stats/voc_train_aug.json'), 20)
    assert stats['classes'] == list(VOC_CLASSES[1:])
    assert stats['num_images'] == 10582
    # VOC train_aug images per class (image-level labels); the reference's
    # Images_num in class order
    assert stats['image_counts'] == [590, 504, 705, 468, 714, 393, 1150, 1005,
                                     1228, 267, 613, 1188, 445, 492, 4155,
                                     522, 300, 649, 503, 567]
    assert stats['pixel_counts'][14] == 66642  # person
    assert stats['extra_images'] == 396.0


def test_tool_on_a_demo_dataset(demo_root, tmp_path):
    out = str(tmp_path / 'demo_stats.json')
    assert class_stats_main([SFC_DEMO, '--data-root', str(demo_root),
                             '--out', out]) == 0
    stats = load_class_stats(out, 20)
    names = _names(demo_root)
    assert stats['num_images'] == len(names)
    # image counts: the image-level labels the training set uses
    from mmseg_sipe.datasets.labels import labels_from_xml
    labels = np.stack([
        labels_from_xml(osp.join(demo_root, 'Annotations', n + '.xml'),
                        VOC_CLASSES[1:]) for n in names])
    assert stats['image_counts'] == labels.sum(0).astype(int).tolist()
    # pixel counts: every pixel of each class in SegmentationClassAug
    total = np.zeros(256, np.int64)
    for n in names:
        total += np.bincount(read_label_map(osp.join(
            demo_root, 'SegmentationClassAug', n + '.png')).ravel(),
            minlength=256)
    assert stats['pixel_counts'] == total[1:21].tolist()
    assert 'SegmentationClassAug' in stats['source']['pixel_counts']
    # --no-pixels: image counts only
    out2 = str(tmp_path / 'nopix.json')
    class_stats_main([SFC_DEMO, '--data-root', str(demo_root), '--out', out2,
                      '--no-pixels', '--extra-images', '5'])
    s2 = json.load(open(out2))
    assert s2['pixel_counts'] is None and s2['extra_images'] == 5.0
    assert s2['image_counts'] == stats['image_counts']


def test_shipped_demo_file_is_what_the_tool_computes(tmp_path):
    from mmseg_sipe.datasets.demo import generate_demo_dataset
    root = tmp_path / 'demo'
    generate_demo_dataset(str(root))  # the defaults, as data/demo
    out = str(tmp_path / 'demo.json')
    class_stats_main([SFC_DEMO, '--data-root', str(root), '--out', out])
    with open(osp.join(ROOT, 'configs/sfc/class_stats/demo_train_aug.json')) \
            as f:
        shipped = json.load(f)
    got = json.load(open(out))
    for key in ('classes', 'num_images', 'image_counts', 'pixel_counts',
                'extra_images'):
        assert got[key] == shipped[key], key
    w = class_weights_from_stats(shipped)
    assert torch.all(w[[1, 3, 4]] == 1)  # classes the demo never draws


@pytest.mark.integration
def test_tool_command_line_errors(tmp_path):
    proc = run_tool([sys.executable, 'tools/analysis_tools/class_stats.py',
                     'configs/sfc/demo_r18.py', '--data-root',
                     str(tmp_path / 'nowhere'), '--out',
                     str(tmp_path / 'x.json')], check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and 'nowhere' in last
