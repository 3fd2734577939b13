"""mIoU of saved localisation maps and pseudo-label PNGs (streaming)."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.utils import ProgressBar
from PIL import Image

from ..utils.cam_io import cam_path, load_cam
from ..utils.errors import UserError
from ..utils.fileio import atomic_write
from .confusion import (check_label_values, confusion_matrix,
                        default_thresholds, iou_from_confusion,
                        threshold_predictions)


def read_label_png(path: str) -> np.ndarray:
    """Class-index PNG (palette or grey) -> ``[H, W]`` int64; one-line
    ``ValueError`` naming an empty, truncated or colour file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'label file not found: {path}')
    try:
        with Image.open(path) as im:
            arr = np.asarray(im, dtype=np.int64)
    except Exception as e:  # noqa: BLE001  (PIL raises many types)
        raise UserError(f'cannot read label file {path} (empty, truncated '
                         f'or corrupt): {" ".join(str(e).split())}') from e
    if arr.ndim != 2:
        raise ValueError(f'label file {path} has shape {arr.shape}; expected '
                         'a single-channel class-index PNG')
    return arr


def _check_same_size(pred_shape, gt: np.ndarray, what: str, gt_path: str):
    if tuple(pred_shape) != gt.shape:
        raise ValueError(f'{what} has size {tuple(pred_shape)} but its ground '
                         f'truth {gt_path} has size {gt.shape}')


def foreground_fractions(conf: np.ndarray) -> Dict[str, float]:
    """Share of evaluated pixels (ground truth not ignored) labelled
    foreground (class > 0) by the prediction and by the ground truth, in
    percent, from a ``[C, C]`` confusion (rows = ground truth)."""
    conf = np.asarray(conf, dtype=np.float64)
    total = conf.sum()
    if not total:
        return dict(fg_fraction_pred=0.0, fg_fraction_gt=0.0)
    return dict(fg_fraction_pred=float(100 * (1 - conf[:, 0].sum() / total)),
                fg_fraction_gt=float(100 * (1 - conf[0].sum() / total)))


def evaluate_cams(items: Sequence[Dict],
                  cam_dir: str,
                  num_classes: int,
                  modes: Sequence[str] = ('argmax', ),
                  thresholds: Optional[Sequence[float]] = None,
                  allow_pickle: bool = False,
                  ignore_index: int = 255,
                  progress: bool = True) -> Dict[str, Dict]:
    """Evaluate ``<cam_dir>/<name>.npz`` against each item's ``seg_map_path``.

    Modes: ``'argmax'`` -- argmax over the stored channels (background
    channel included; SIPE protocol); ``'threshold'`` -- constant background
    score swept over ``thresholds`` on the foreground channels (IRN protocol).

    Returns:
        ``{mode: {'mIoU', 'IoU', ...}}``; threshold mode also gives
        ``'best_threshold'`` and ``'sweep'`` (threshold -> mIoU).
    """
    thresholds = list(thresholds or default_thresholds())
    confs = {
        'argmax': np.zeros((num_classes, num_classes), np.int64),
        'threshold': np.zeros((len(thresholds), num_classes, num_classes),
                              np.int64)
    }
    bar = ProgressBar(len(items)) if progress and items else None
    for it in items:
        if 'seg_map_path' not in it:
            raise KeyError(f"{it['name']}: no ground truth (seg_map_path); "
                           'evaluate a split with segmentation masks')
        gt = read_label_png(it['seg_map_path'])
        check_label_values(gt, num_classes, ignore_index, it['seg_map_path'])
        path = cam_path(cam_dir, it['name'])
        if allow_pickle and not osp.exists(path):
            path = osp.join(cam_dir, it['name'] + '.npy')
        keys, cam = load_cam(path, allow_pickle=allow_pickle)
        _check_same_size(cam.shape[1:], gt, path, it['seg_map_path'])
        if 'argmax' in modes:
            pred = keys[cam.argmax(0)]
            confs['argmax'] += confusion_matrix(pred, gt, num_classes,
                                                ignore_index)
        if 'threshold' in modes:
            for i, t in enumerate(thresholds):
                pred = threshold_predictions(cam[1:], keys, t)
                confs['threshold'][i] += confusion_matrix(
                    pred, gt, num_classes, ignore_index)
        if bar:
            bar.update()
    if bar:
        print()
    out: Dict[str, Dict] = {}
    if 'argmax' in modes:
        out['argmax'] = iou_from_confusion(confs['argmax'])
        out['argmax'].update(foreground_fractions(confs['argmax']))
    if 'threshold' in modes:
        scores = [iou_from_confusion(c) for c in confs['threshold']]
        best = int(np.argmax([s['mIoU'] for s in scores]))
        res = dict(scores[best])
        res['best_threshold'] = thresholds[best]
        res.update(foreground_fractions(confs['threshold'][best]))
        res['sweep'] = {t: s['mIoU'] for t, s in zip(thresholds, scores)}
        out['threshold'] = res
    return out


def evaluate_label_dir(items: Sequence[Dict],
                       label_dir: str,
                       num_classes: int,
                       ignore_index: int = 255,
                       uncertain_as: Optional[int] = None,
                       progress: bool = True) -> Dict:
    """mIoU of ``<label_dir>/<name>.png`` pseudo labels vs ground truth.

    ``uncertain_as``: map predicted 255 (uncertain) to this class (e.g. 0,
    the SIPE "+dCRF" protocol); by default such pixels are ignored -- they
    count as neither right nor wrong.  ``uncertain_fraction`` in the result
    is the share of pixels the labels mark 255, under either protocol.
    """
    conf = np.zeros((num_classes, num_classes), np.int64)
    bar = ProgressBar(len(items)) if progress and items else None
    uncertain = 0  # pixels the labels mark 255, whatever the protocol
    total = 0
    for it in items:
        if 'seg_map_path' not in it:
            raise KeyError(f"{it['name']}: no ground truth (seg_map_path)")
        gt = read_label_png(it['seg_map_path'])
        check_label_values(gt, num_classes, ignore_index, it['seg_map_path'])
        path = osp.join(label_dir, it['name'] + '.png')
        pred = read_label_png(path)
        check_label_values(pred, num_classes, 255, path)
        _check_same_size(pred.shape, gt, path, it['seg_map_path'])
        unsure = pred == 255
        uncertain += int(unsure.sum())
        total += pred.size
        if uncertain_as is not None:
            pred = np.where(unsure, uncertain_as, pred)
            unsure = pred == 255
        gt = np.where(unsure, ignore_index, gt)
        pred = np.where(unsure, 0, pred)
        conf += confusion_matrix(pred, gt, num_classes, ignore_index)
        if bar:
            bar.update()
    if bar:
        print()
    res = iou_from_confusion(conf)
    res['uncertain_fraction'] = uncertain / total if total else 0.0
    res.update(foreground_fractions(conf))
    return res


def format_table(rows: List[List[str]], header: List[str]) -> str:
    """A small GitHub-markdown table."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = '| ' + ' | '.join('{:<%d}' % w for w in widths) + ' |'
    lines = [fmt.format(*header),
             '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
    lines += [fmt.format(*map(str, r)) for r in rows]
    return '\n'.join(lines)


def write_json(path: str, obj) -> None:
    """Atomic JSON write (numpy values converted)."""

    def conv(o):
        if isinstance(o, np.ndarray):
            return [None if np.isnan(x) else float(x) for x in o.tolist()]
        if isinstance(o, (np.floating, np.integer)):
            return o.item()
        raise TypeError(type(o))

    with atomic_write(path, 'w') as f:
        json.dump(obj, f, indent=2, default=conv)
