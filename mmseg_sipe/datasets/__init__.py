"""Stage-one datasets, transforms and the demo dataset generator."""
from . import pseudo_label  # noqa: F401  (stage-two datasets)
from . import transforms  # noqa: F401
from .coco import SIPECOCODataset
from .demo import (DEMO_CLASS_IDS, DEMO_CLASSES, generate_demo_dataset,
                   render_demo_samples)
from .metainfo import COCO_CLASSES, VOC_CLASSES
from .samplers import TotalBatchSampler
from .voc import SIPEVOCDataset

__all__ = [
    'SIPEVOCDataset', 'SIPECOCODataset', 'generate_demo_dataset',
    'render_demo_samples', 'DEMO_CLASSES', 'DEMO_CLASS_IDS', 'VOC_CLASSES',
    'COCO_CLASSES', 'TotalBatchSampler'
]
