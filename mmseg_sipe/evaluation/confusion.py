"""Confusion-matrix mIoU (streaming: one small matrix, never all maps)."""
from typing import Dict, Optional, Sequence

import numpy as np

from ..utils.errors import UserError


def confusion_matrix(pred: np.ndarray,
                     gt: np.ndarray,
                     num_classes: int,
                     ignore_index: int = 255) -> np.ndarray:
    """``[C, C]`` int64 counts, rows = ground truth, cols = prediction.

    Pixels whose ground truth is ``ignore_index`` (or outside ``[0, C)``) are
    dropped.  Predictions outside ``[0, C)`` raise.

    Args:
        pred: ``[H, W]`` int class indices.
        gt: ``[H, W]`` int class indices (same shape).
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction shape {pred.shape} != ground-truth '
                         f'shape {gt.shape}')
    keep = (gt != ignore_index) & (gt >= 0) & (gt < num_classes)
    p = pred[keep].astype(np.int64)
    g = gt[keep].astype(np.int64)
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        raise ValueError(f'prediction has class {int(p.max())} outside '
                         f'[0, {num_classes})')
    return np.bincount(
        g * num_classes + p,
        minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def check_label_values(label: np.ndarray,
                       num_classes: int,
                       ignore_index: int = 255,
                       path: str = 'label map') -> None:
    """Raise ``ValueError`` naming ``path`` and the values when ``label``
    holds a value outside ``{0..num_classes-1, ignore_index}`` (such pixels
    would otherwise be dropped from the evaluation without a word)."""
    label = np.asarray(label)
    if label.size == 0:
        return
    if int(label.min()) >= 0 and int(label.max()) < num_classes:
        return
    outside = ((label < 0) | (label >= num_classes)) & (label != ignore_index)
    if outside.any():
        bad = [int(v) for v in np.unique(label[outside])]
        raise UserError(
            f'{path}: illegal label values {bad[:10]} (legal: '
            f'0..{num_classes - 1} and {ignore_index}); fix the file '
            '(tools/dataset_converters/check_dataset.py lists all of them)')


def iou_from_confusion(conf: np.ndarray) -> Dict[str, object]:
    """Per-class IoU ``diag / (row + col - diag)`` and mIoU (nan-mean over
    classes that occur in ground truth or prediction), in percent.

    Also returns pixel accuracy ``aAcc`` in percent.
    """
    conf = conf.astype(np.float64)
    tp = np.diag(conf)
    denom = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.where(denom > 0, tp / denom, np.nan)
    total = conf.sum()
    return dict(
        IoU=iou * 100,
        mIoU=float(np.nanmean(iou) * 100) if np.any(denom > 0) else 0.0,
        aAcc=float(tp.sum() / total * 100) if total else 0.0)


def sparse_confusion(conf: np.ndarray) -> np.ndarray:
    """Non-zero entries of a confusion matrix as ``[M, 2]`` (flat index,
    count) -- what a metric keeps per image."""
    flat = conf.ravel()
    idx = np.nonzero(flat)[0]
    return np.stack([idx, flat[idx]], 1).astype(np.int64)


def dense_confusion(sparse: Sequence[np.ndarray],
                    num_classes: int) -> np.ndarray:
    """Sum of per-image sparse confusions back into ``[C, C]``."""
    out = np.zeros(num_classes * num_classes, np.int64)
    for s in sparse:
        if len(s):
            np.add.at(out, s[:, 0], s[:, 1])
    return out.reshape(num_classes, num_classes)


def threshold_predictions(fg_maps: np.ndarray, keys: np.ndarray,
                          threshold: float) -> np.ndarray:
    """IRN protocol: pad a constant background score ``threshold`` in front
    of foreground maps, argmax, map through ``keys``.

    Args:
        fg_maps: ``[K_img, H, W]`` foreground maps of the image's classes.
        keys: ``[K_img + 1]`` class ids, ``keys[0] == 0`` (background).
        threshold: background score.

    Returns:
        ``[H, W]`` int64 class ids.
    """
    h, w = fg_maps.shape[-2:]
    bg = np.full((1, h, w), threshold, dtype=np.float32)
    stacked = np.concatenate([bg, fg_maps.astype(np.float32)], 0)
    return np.asarray(keys)[stacked.argmax(0)]


def default_thresholds(start: float = 0.05, stop: float = 0.60,
                       step: float = 0.05) -> Optional[list]:
    n = int(round((stop - start) / step)) + 1
    return [round(start + i * step, 4) for i in range(n)]
