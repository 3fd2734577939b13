"""The summary's ladder, read from hand-made step and eval json files: mIoU
and change per stage, foreground fractions, per-class IoU side by side, and
a warning naming a refinement step that lowers mIoU."""
import json
import os
import os.path as osp

import pytest

from mmseg_sipe.pipeline import StepResult, summarize
from mmseg_sipe.pipeline.summary import (ladder_of_run, ladder_warnings,
                                         merge_ladders, read_stage2_class_iou)

NC = 21


def _iou(bg, aeroplane, cat):
    iou = [None] * NC
    iou[0], iou[1], iou[8] = bg, aeroplane, cat
    return iou


def _dump(path, obj):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)


STAGE2_LOG = """11/29 10:00:00 - mmengine - INFO - per class results:
11/29 10:00:00 - mmengine - INFO -
+-------------+-------+-------+
|    Class    |  IoU  |  Acc  |
+-------------+-------+-------+
|  background | 80.5  | 90.1  |
|  aeroplane  | 41.25 | 50.0  |
|   bicycle   |  nan  |  nan  |
|     cat     | 30.0  | 40.0  |
+-------------+-------+-------+
11/29 10:00:00 - mmengine - INFO - Iter(test) [40/40]  aAcc: 85.0  mIoU: 50.58
"""


def _work_dir(root, cam, is_cam, crf, irn, s2, split='train'):
    """Eval files as the pipeline's eval steps write them."""
    _dump(osp.join(root, 'cam_plain', f'eval_{split}.json'),
          dict(split=split, threshold=dict(
              mIoU=cam, IoU=_iou(70.0, cam, cam - 10), best_threshold=0.3,
              fg_fraction_pred=20.0, fg_fraction_gt=35.0)))
    _dump(osp.join(root, 'cam', f'eval_{split}.json'),
          dict(split=split, argmax=dict(
              mIoU=is_cam, IoU=_iou(75.0, is_cam, is_cam - 5),
              fg_fraction_pred=30.0, fg_fraction_gt=35.0)))
    _dump(osp.join(root, 'ir_label', f'eval_{split}.json'),
          dict(split=split, mIoU=crf, IoU=_iou(76.0, crf, crf - 5),
               fg_fraction_pred=28.0, fg_fraction_gt=35.0))
    _dump(osp.join(root, f'eval_pseudo_{split}.json'),
          dict(split=split, mIoU=irn, IoU=_iou(78.0, irn, irn - 2),
               fg_fraction_pred=33.0, fg_fraction_gt=35.0))
    log = osp.join(root, 'stage2_test', '20261129_100000',
                   '20261129_100000.log')
    os.makedirs(osp.dirname(log))
    with open(log, 'w') as f:
        f.write(STAGE2_LOG)
    return [StepResult('eval_cam', 1.0, {'CAM': cam, 'IS-CAM': is_cam,
                                         'CAM bg threshold': 0.3}),
            StepResult('eval_ir', 1.0, {'+CRF': crf}),
            StepResult('eval_seg_labels', 1.0, {'+IRN': irn}),
            StepResult('test_stage2', 1.0, {'stage2 val': s2})]


def test_ladder_deltas_fractions_and_no_warning(tmp_path):
    steps = _work_dir(str(tmp_path), 40.0, 50.0, 51.0, 55.0, 53.0)
    md = summarize({0: steps}, str(tmp_path))
    js = json.load(open(tmp_path / 'summary.json'))
    lad = {r['stage']: r for r in js['ladder']}
    assert [r['stage'] for r in js['ladder']] == [
        'CAM', 'IS-CAM', '+CRF', '+IRN', 'stage2 val']
    assert lad['CAM']['delta'] is None
    assert lad['IS-CAM']['delta'] == pytest.approx(10.0)
    assert lad['+CRF']['delta'] == pytest.approx(1.0)
    assert lad['+IRN']['delta'] == pytest.approx(4.0)
    assert lad['stage2 val']['delta'] == pytest.approx(-2.0)
    assert lad['IS-CAM']['fg_pred'] == 30.0
    assert lad['+IRN']['fg_gt'] == 35.0
    assert lad['stage2 val']['split'] == 'val'
    assert lad['+IRN']['split'] == 'train'
    # per-class IoU by class name; stage two parsed from the test log
    assert lad['+IRN']['class_iou']['cat'] == pytest.approx(53.0)
    assert lad['stage2 val']['class_iou']['aeroplane'] == pytest.approx(41.25)
    # stage two is on another split: its drop is shown, not warned about
    assert js['warnings'] == []
    assert 'WARNING' not in md
    assert '| IS-CAM ' in md and '+10.00' in md and '+4.00' in md
    assert 'per-class IoU' in md and '| cat ' in md
    assert 'bicycle' not in md  # absent from every stage
    assert (tmp_path / 'summary.md').read_text() == md


def test_warning_names_the_step_that_lowers_miou(tmp_path):
    steps = _work_dir(str(tmp_path), 48.29, 56.79, 54.73, 40.70, 45.46)
    md = summarize({0: steps}, str(tmp_path))
    js = json.load(open(tmp_path / 'summary.json'))
    assert len(js['warnings']) == 2
    crf, irn = js['warnings']
    assert crf.startswith('WARNING: +CRF lowers mIoU on train by 2.06')
    assert irn.startswith('WARNING: +IRN lowers mIoU on train by 14.03')
    assert crf in md and irn in md


def test_seeds_average_the_ladder(tmp_path):
    runs = {}
    for seed, irn in ((0, 50.0), (1, 54.0)):
        d = str(tmp_path / f'seed_{seed}')
        runs[seed] = _work_dir(d, 40.0, 50.0, 51.0, irn, 50.0)
    summarize(runs, str(tmp_path))
    js = json.load(open(tmp_path / 'summary.json'))
    lad = {r['stage']: r for r in js['ladder']}
    assert lad['+IRN']['mIoU'] == pytest.approx(52.0)
    assert lad['+IRN']['delta'] == pytest.approx(1.0)
    assert js['warnings'] == []  # the mean does not drop


def test_missing_eval_files_keep_the_step_miou(tmp_path):
    """Older work dirs (no fractions / per-class IoU): the ladder still has
    every stage's mIoU and change, the rest is blank."""
    steps = [StepResult('eval_cam', 1.0, {'CAM': 40.0, 'IS-CAM': 45.0}),
             StepResult('eval_ir', 1.0, {'+CRF': 44.0})]
    md = summarize({0: steps}, str(tmp_path))
    rows = merge_ladders([ladder_of_run(str(tmp_path), {'CAM': 40.0,
                                                         'IS-CAM': 45.0,
                                                         '+CRF': 44.0})])
    assert [r['fg_pred'] for r in rows] == [None, None, None]
    assert rows[2]['delta'] == pytest.approx(-1.0)
    assert ladder_warnings(rows)[0].startswith('WARNING: +CRF lowers')
    assert 'WARNING: +CRF lowers' in md


def test_stage2_log_without_table(tmp_path):
    d = tmp_path / 'stage2_test' / 'x'
    os.makedirs(d)
    (d / 'x.log').write_text('no table here\n')
    assert read_stage2_class_iou(str(tmp_path / 'stage2_test')) is None


def test_eval_json_has_foreground_fractions(tmp_path):
    """The label evaluation the ladder reads reports the share of evaluated
    pixels labelled foreground by the prediction and by the ground truth."""
    import numpy as np

    from mmseg_sipe.evaluation import evaluate_label_dir
    from mmseg_sipe.evaluation.eval_maps import foreground_fractions
    from mmseg_sipe.datasets.label_io import save_label_png
    gt = np.zeros((4, 5), np.uint8)
    gt[:, :2] = 8          # 8 of 20 pixels foreground
    gt[0, 4] = 255         # ignored: 19 evaluated pixels
    pred = np.zeros((4, 5), np.uint8)
    pred[:, :3] = 8        # 12 predicted foreground, 12 evaluated
    save_label_png(str(tmp_path / 'gt.png'), gt)
    save_label_png(str(tmp_path / 'a.png'), pred)
    res = evaluate_label_dir(
        [dict(name='a', seg_map_path=str(tmp_path / 'gt.png'))],
        str(tmp_path), NC, progress=False)
    assert res['fg_fraction_gt'] == pytest.approx(100 * 8 / 19)
    assert res['fg_fraction_pred'] == pytest.approx(100 * 12 / 19)
    assert foreground_fractions(np.zeros((3, 3))) == dict(
        fg_fraction_pred=0.0, fg_fraction_gt=0.0)
