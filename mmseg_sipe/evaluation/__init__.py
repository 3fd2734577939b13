from .cam_metric import CAMIoUMetric
from .confusion import (check_label_values, confusion_matrix,
                        dense_confusion, iou_from_confusion, sparse_confusion,
                        threshold_predictions)

__all__ = [
    'CAMIoUMetric', 'confusion_matrix', 'iou_from_confusion',
    'sparse_confusion', 'dense_confusion', 'threshold_predictions',
    'check_label_values'
]
from .eval_maps import (evaluate_cams, evaluate_label_dir, format_table,
                        read_label_png, write_json)

__all__ += [
    'evaluate_cams', 'evaluate_label_dir', 'format_table', 'read_label_png',
    'write_json'
]
