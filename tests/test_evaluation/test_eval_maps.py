"""mIoU of saved localisation maps and label PNGs, against hand-computed
confusions (mmseg_sipe.evaluation.eval_maps)."""
import numpy as np
import pytest

from mmseg_sipe.datasets.label_io import save_label_png
from mmseg_sipe.evaluation.eval_maps import (evaluate_cams,
                                             evaluate_label_dir,
                                             foreground_fractions)
from mmseg_sipe.utils.cam_io import cam_path, save_cam

# 2 x 4 ground truth: background, class 1 and one ignored pixel
GT = np.array([[0, 0, 1, 1],
               [0, 0, 1, 255]], np.uint8)


def _item(tmp_path, name='a'):
    gt = str(tmp_path / f'{name}_gt.png')
    save_label_png(gt, GT)
    return dict(name=name, seg_map_path=gt)


def test_label_dir_ignore_and_background_protocols(tmp_path):
    item = _item(tmp_path)
    pred = np.array([[0, 1, 1, 255],
                     [0, 255, 1, 1]], np.uint8)
    save_label_png(str(tmp_path / 'a.png'), pred)
    # ignore protocol: the two 255 pixels drop out; bg: 2 right, 1 as fg;
    # class 1: 2 right (the ignored GT pixel does not count)
    res = evaluate_label_dir([item], str(tmp_path), 2, progress=False)
    assert res['IoU'][0] == pytest.approx(100 * 2 / 3)
    assert res['IoU'][1] == pytest.approx(100 * 2 / 3)
    # "+CRF" protocol: 255 -> background; (0,1) 255 is right, (0,3) wrong
    res_bg = evaluate_label_dir([item], str(tmp_path), 2, uncertain_as=0,
                                progress=False)
    assert res_bg['IoU'][0] == pytest.approx(100 * 3 / 5)
    assert res_bg['IoU'][1] == pytest.approx(100 * 2 / 4)
    # the share of pixels the labels leave uncertain, under both protocols
    assert res['uncertain_fraction'] == pytest.approx(2 / 8)
    assert res_bg['uncertain_fraction'] == pytest.approx(2 / 8)


def test_cams_argmax_and_threshold_modes(tmp_path):
    item = _item(tmp_path)
    fg = np.array([[0.1, 0.4, 0.9, 0.8],
                   [0.2, 0.3, 0.7, 0.6]], np.float32)
    save_cam(cam_path(str(tmp_path), 'a'), np.array([0, 1]),
             np.stack([1 - fg, fg]), dtype='float32')
    out = evaluate_cams([item], str(tmp_path), 2,
                        modes=('argmax', 'threshold'),
                        thresholds=[0.25, 0.5], progress=False)
    # argmax: fg > 0.5 at the three class-1 pixels (one ignored): perfect
    assert out['argmax']['mIoU'] == pytest.approx(100.0)
    # threshold 0.25 labels (0,1) and (1,1) foreground too
    assert out['threshold']['sweep'][0.25] == pytest.approx(
        100 * (2 / 4 + 3 / 5) / 2)
    assert out['threshold']['best_threshold'] == 0.5
    # 3 of the 7 evaluated pixels labelled foreground
    assert out['argmax']['fg_fraction_pred'] == pytest.approx(100 * 3 / 7)


def test_foreground_fractions_from_a_confusion():
    conf = np.array([[6, 2], [1, 1]])  # rows: ground truth
    fr = foreground_fractions(conf)
    assert fr['fg_fraction_pred'] == pytest.approx(100 * 3 / 10)
    assert fr['fg_fraction_gt'] == pytest.approx(100 * 2 / 10)
    assert foreground_fractions(np.zeros((2, 2))) == dict(
        fg_fraction_pred=0.0, fg_fraction_gt=0.0)


def test_missing_ground_truth_and_size_mismatch_are_errors(tmp_path):
    with pytest.raises(KeyError, match='no ground truth'):
        evaluate_label_dir([dict(name='a')], str(tmp_path), 2,
                           progress=False)
    item = _item(tmp_path)
    save_label_png(str(tmp_path / 'a.png'), np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError, match='has size'):
        evaluate_label_dir([item], str(tmp_path), 2, progress=False)
