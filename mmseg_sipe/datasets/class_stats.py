"""Per-class statistics of a training split, for SFC's class-balance weights.

SFC weights its two consistency losses per class by (docs/method.md §17.3)::

    a_k = P_k / (I_k + E);   a = a / mean_k(a)

``I_k`` is the number of training images whose image-level label contains
class ``k``, ``P_k`` a per-class pixel count and ``E`` the images the image
bank adds per class.  The reference hard-codes VOC's numbers; this module
computes them from a dataset and stores them in a JSON file that a config
names (``model.class_stats_file``):

* ``image_counts`` -- from the **image-level labels** the training set
  already uses (the dataset's ``img_labels``).  On VOC ``train_aug`` these
  are exactly the reference's counts.
* ``pixel_counts`` -- from **pixel-level ground truth** (``SegmentationClass``
  / ``SegmentationClassAug`` PNGs, class index per pixel, 0 background and
  255 ignore skipped), at full resolution.  Image-level labels cannot give
  them; a weakly supervised setting without such masks has no pixel counts
  (``pixel_counts: null``), and a model cannot build its weights from such a
  file.  The reference's own numbers are of another scale (e.g. 66,642 for
  ``person`` over 10,582 images) and their provenance is not stated in its
  code; full-resolution counts therefore give different weights, which is
  why ``configs/sfc/class_stats/voc_train_aug.json`` ships the reference's
  numbers for VOC.
* ``extra_images`` -- ``E = (num_images // batch) * bank_samples *
  bank_epochs / K_present``: the bank images a class can expect over
  ``bank_epochs`` epochs (the reference's ``660 * 4 * 3 / 20 = 396`` for
  VOC; ``K_present`` counts the classes with at least one image).

The file format (``format: sfc-class-stats/1``)::

    {"format": "sfc-class-stats/1", "dataset": str, "classes": [K names],
     "num_images": int, "image_counts": [K ints],
     "pixel_counts": [K numbers] or null, "extra_images": float,
     "source": {"image_counts": str, "pixel_counts": str,
                "extra_images": str}}
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

STATS_FORMAT = 'sfc-class-stats/1'
IGNORE_INDEX = 255


def bank_extra_images(num_images: int,
                      num_present_classes: int,
                      batch_size: int = 16,
                      bank_samples: int = 4,
                      bank_epochs: float = 3) -> float:
    """``E = (num_images // batch_size) * bank_samples * bank_epochs /
    num_present_classes`` (reference for VOC: ``660 * 4 * 3 / 20``)."""
    if num_present_classes <= 0:
        raise ValueError('no class has an image: no bank statistics')
    return (int(num_images) // int(batch_size)) * bank_samples * \
        bank_epochs / num_present_classes


def image_counts(labels: np.ndarray) -> np.ndarray:
    """Images per class from multi-hot image labels ``[num_images, K]``."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f'labels must be [num_images, K], got {labels.shape}')
    return (labels > 0).sum(axis=0).astype(np.int64)


def pixel_counts(seg_paths: Sequence[str], num_classes: int,
                 ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Pixels per foreground class over class-index PNGs (value ``k`` =
    class ``k``, 0 background and ``ignore_index`` skipped).

    Raises:
        FileNotFoundError: a PNG is missing (named).
        ValueError: a PNG holds a value outside ``0..K`` and
            ``ignore_index`` (named).
    """
    from .labels import read_label_map
    total = np.zeros(256 if num_classes < 256 else num_classes + 1, np.int64)
    for path in seg_paths:
        arr = read_label_map(path)
        counts = np.bincount(arr.ravel(), minlength=total.size)
        bad = [v for v in np.nonzero(counts)[0]
               if v != ignore_index and v > num_classes]
        if bad:
            raise ValueError(f'label map {path} has values {bad}; expected '
                             f'0..{num_classes} or {ignore_index}')
        total[:counts.size] += counts[:total.size]
    return total[1:num_classes + 1]


def compute_class_stats(labels: np.ndarray,
                        class_names: Sequence[str],
                        seg_paths: Optional[Sequence[str]] = None,
                        dataset: str = '',
                        batch_size: int = 16,
                        bank_samples: int = 4,
                        bank_epochs: float = 3,
                        extra_images: Optional[float] = None,
                        seg_source: str = '') -> Dict:
    """The statistics file's content for one split (see the module doc).

    Args:
        labels: multi-hot image labels ``[num_images, K]``.
        class_names: ``K`` foreground class names.
        seg_paths: one class-index PNG per image for the pixel counts, or
            None (``pixel_counts: null``).
        dataset: a description stored in the file.
        batch_size, bank_samples, bank_epochs: for ``extra_images``.
        extra_images: ``E`` itself (overrides the formula).
        seg_source: where the PNGs come from (stored in the file).
    """
    labels = np.asarray(labels)
    k = len(class_names)
    if labels.ndim != 2 or labels.shape[1] != k:
        raise ValueError(f'labels {labels.shape} do not match the {k} '
                         'class names')
    imgs = image_counts(labels)
    present = int((imgs > 0).sum())
    if extra_images is None:
        extra = bank_extra_images(labels.shape[0], present, batch_size,
                                  bank_samples, bank_epochs)
        extra_src = (f'(num_images // {batch_size}) * {bank_samples} bank '
                     f'images * {bank_epochs} / {present} classes with '
                     'images')
    else:
        extra, extra_src = float(extra_images), 'given'
    pix = None
    pix_src = 'not available (no pixel-level ground truth given)'
    if seg_paths is not None:
        if len(seg_paths) != labels.shape[0]:
            raise ValueError(f'{len(seg_paths)} label maps for '
                             f'{labels.shape[0]} images')
        pix = [int(v) for v in pixel_counts(seg_paths, k)]
        pix_src = ('pixels per class of the full-resolution class-index '
                   f'PNGs {seg_source}'.strip())
    return {
        'format': STATS_FORMAT,
        'dataset': dataset,
        'classes': list(class_names),
        'num_images': int(labels.shape[0]),
        'image_counts': [int(v) for v in imgs],
        'pixel_counts': pix,
        'extra_images': float(extra),
        'source': {
            'image_counts': 'images whose image-level label contains the '
            'class',
            'pixel_counts': pix_src,
            'extra_images': extra_src,
        },
    }


def validate_class_stats(stats: Dict,
                         num_classes: Optional[int] = None,
                         path: str = 'class statistics') -> Dict:
    """Check a statistics dict; returns it.

    Raises:
        ValueError: wrong format tag, lengths that differ from each other or
            from ``num_classes``, negative or non-numeric counts.
    """
    if not isinstance(stats, dict) or stats.get('format') != STATS_FORMAT:
        raise ValueError(f'{path}: not a class-statistics file (expected '
                         f'"format": "{STATS_FORMAT}"; write one with '
                         'tools/analysis_tools/class_stats.py)')
    k = len(stats.get('image_counts') or [])
    if num_classes is not None and k != num_classes:
        raise ValueError(f'{path}: {k} classes, the model has {num_classes}')
    for key in ('image_counts', 'pixel_counts'):
        v = stats.get(key)
        if v is None and key == 'pixel_counts':
            continue
        if not isinstance(v, list) or len(v) != k or not all(
                isinstance(x, (int, float)) and x >= 0 for x in v):
            raise ValueError(f'{path}: {key} must be {k} non-negative '
                             'numbers')
    if not isinstance(stats.get('extra_images'), (int, float)) or \
            stats['extra_images'] < 0:
        raise ValueError(f'{path}: extra_images must be a non-negative '
                         'number')
    return stats


def load_class_stats(path: str, num_classes: Optional[int] = None) -> Dict:
    """Read and validate a statistics JSON (:func:`validate_class_stats`)."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'class statistics file not found: {path} (write it with '
            'python tools/analysis_tools/class_stats.py CONFIG)')
    with open(path, encoding='utf-8') as f:
        try:
            stats = json.load(f)
        except ValueError as e:
            raise ValueError(f'{path}: not valid JSON ({e})') from None
    return validate_class_stats(stats, num_classes, path)


def class_weights_from_stats(stats: Dict):
    """``[K]`` float32 tensor of SFC's class-balance weights
    (:func:`~mmseg_sipe.models.functional.class_balance_weights`).

    Raises:
        ValueError: the file has no pixel counts.
    """
    from ..models.functional import class_balance_weights
    if stats.get('pixel_counts') is None:
        raise ValueError(
            'the class statistics have no pixel counts, which the '
            'class-balance weights need; compute them with '
            'tools/analysis_tools/class_stats.py --seg-dir DIR, or set '
            'model.class_stats_file=None for unweighted losses')
    return class_balance_weights(stats['pixel_counts'],
                                 stats['image_counts'],
                                 stats['extra_images'])


def save_class_stats(path: str, stats: Dict) -> None:
    """Write ``stats`` as indented JSON (atomically)."""
    from ..utils.fileio import atomic_write
    validate_class_stats(stats, path=path)
    text = json.dumps(stats, indent=1) + '\n'
    with atomic_write(path, 'w') as f:
        f.write(text)


def seg_paths_for(items: List[Dict], data_root: str, seg_dir: str,
                  suffix: str = '.png') -> List[str]:
    """``<data_root>/<seg_dir>/<name><suffix>`` for each item."""
    base = seg_dir if osp.isabs(seg_dir) else osp.join(data_root, seg_dir)
    return [osp.join(base, it['name'] + suffix) for it in items]
