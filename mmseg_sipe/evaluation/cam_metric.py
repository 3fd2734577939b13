"""CAM / IS-CAM mIoU as an mmengine metric (streaming confusion)."""
import logging
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmseg_sipe.registry import METRICS
from .confusion import (check_label_values, confusion_matrix,
                        default_thresholds, dense_confusion,
                        iou_from_confusion, sparse_confusion,
                        threshold_predictions)

#: Warn when predictions cover less than this fraction of the pixels with
#: foreground ...
MIN_PRED_FG = 0.01
#: ... while the ground truth has more than this.
MIN_GT_FG = 0.10


@METRICS.register_module()
class CAMIoUMetric(BaseMetric):
    """mIoU of localisation maps against ground truth.

    Two protocols:

    * ``mode='argmax'`` (SIPE reference): the prediction is the argmax over
      all K+1 channels, the IS-CAM background channel included
      (``pred_sem_seg`` of the data sample).
    * ``mode='threshold'`` (IRN protocol for plain CAMs): the background
      channel is replaced by a constant score; mIoU is reported for every
      threshold in ``thresholds`` and the best one is returned as ``mIoU``.
      Uses ``seg_logits`` (``[K+1, H, W]``, channel 0 ignored).

    Each image contributes a sparse confusion matrix, so memory does not grow
    with image size, and padded duplicates of distributed samplers are
    dropped by mmengine's result collection.

    A ground-truth value outside ``{0..C-1, ignore_index}`` raises
    ``ValueError`` naming the file.  When (almost) every prediction is
    background -- no foreground pixel predicted, or under 1 % while the
    ground truth has over 10 % -- one WARNING line says so (naming the
    epoch): the mIoU is then the background-only score of an untrained or
    collapsed classifier.

    Args:
        mode (str): ``'argmax'`` or ``'threshold'``.
        thresholds (Sequence[float], optional): background thresholds for
            ``mode='threshold'`` (default 0.05..0.60 step 0.05).
        ignore_index (int): ignored ground-truth value. Defaults to 255.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 mode: str = 'argmax',
                 thresholds: Optional[Sequence[float]] = None,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if mode not in ('argmax', 'threshold'):
            raise ValueError(f"mode must be 'argmax' or 'threshold', got "
                             f'{mode!r}')
        self.mode = mode
        self.thresholds = list(thresholds) if thresholds is not None \
            else default_thresholds()
        self.ignore_index = ignore_index

    @property
    def num_classes(self) -> int:
        return len(self.dataset_meta['classes'])

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        c = self.num_classes
        for ds in data_samples:
            if 'gt_sem_seg' not in ds:
                raise KeyError(
                    f"{ds.get('img_path', 'a sample')} has no gt_sem_seg: the "
                    'evaluation pipeline must load annotations '
                    '(LoadAnnotations) and the dataset needs with_seg_map')
            gt = ds['gt_sem_seg']['data'].squeeze().cpu().numpy()
            check_label_values(
                gt, c, self.ignore_index,
                ds.get('seg_map_path') or ds.get('img_path') or 'a sample')
            if self.mode == 'argmax':
                pred = ds['pred_sem_seg']['data'].squeeze().cpu().numpy()
                self.results.append(
                    [sparse_confusion(
                        confusion_matrix(pred, gt, c, self.ignore_index))])
            else:
                logits = ds['seg_logits']['data'].float().cpu().numpy()
                keys = np.arange(logits.shape[0])
                out = []
                for t in self.thresholds:
                    pred = threshold_predictions(logits[1:], keys, t)
                    out.append(sparse_confusion(
                        confusion_matrix(pred, gt, c, self.ignore_index)))
                self.results.append(out)

    def compute_metrics(self, results: List) -> Dict[str, float]:
        logger: MMLogger = MMLogger.get_current_instance()
        c = self.num_classes
        per_setting = [
            dense_confusion([r[i] for r in results], c)
            for i in range(len(results[0]))
        ] if results else [np.zeros((c, c), np.int64)]
        scores = [iou_from_confusion(conf) for conf in per_setting]
        best = int(np.argmax([s['mIoU'] for s in scores]))
        metrics = OrderedDict(mIoU=round(scores[best]['mIoU'], 2),
                              aAcc=round(scores[best]['aAcc'], 2))
        if self.mode == 'threshold':
            metrics['bg_threshold'] = self.thresholds[best]
            for t, s in zip(self.thresholds, scores):
                print_log(f'bg threshold {t:.2f}: mIoU {s["mIoU"]:.2f}',
                          logger)
        self._warn_background_only(per_setting[best], metrics['mIoU'])
        classes = self.dataset_meta['classes']
        rows = '\n'.join(f'{name:>14s} {iou:6.2f}' for name, iou in zip(
            classes, np.nan_to_num(scores[best]['IoU'], nan=float('nan'))))
        print_log('per-class IoU:\n' + rows, logger)
        return metrics

    def _warn_background_only(self, conf: np.ndarray, miou: float) -> None:
        """One WARNING line when the predictions are (almost) all
        background although the ground truth is not."""
        total = int(conf.sum())
        if total == 0:
            return
        pred_fg = float(conf[:, 1:].sum()) / total
        gt_fg = float(conf[1:, :].sum()) / total
        if not (pred_fg == 0 and gt_fg > 0
                or pred_fg < MIN_PRED_FG and gt_fg > MIN_GT_FG):
            return
        when = ''
        try:
            from mmengine.logging import MessageHub
            epoch = MessageHub.get_current_instance().get_info('epoch')
            if epoch is not None:
                when = f' at epoch {int(epoch) + 1}'
        except Exception:  # noqa: BLE001  (no runner: no epoch to name)
            pass
        what = 'every prediction is background' if pred_fg == 0 else \
            f'only {100 * pred_fg:.2f}% of the pixels are predicted foreground'
        print_log(
            f'{type(self).__name__}{when}: {what} (ground truth: '
            f'{100 * gt_fg:.1f}% foreground); mIoU {miou:.2f} is the '
            'background-only score: the classifier does not localise yet '
            '(check the image labels, learning rate and checkpoint)',
            logger='current',
            level=logging.WARNING)
