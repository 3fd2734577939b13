"""Dataset converters (used by ``tools/dataset_converters/``).

* :mod:`.voc_aug`: PASCAL VOC 2012 + SBD -> ``SegmentationClassAug`` and
  ``ImageSets/Segmentation/train_aug.txt``;
* :mod:`.coco_wsss`: COCO 2014 instances JSON -> class-index PNGs
  (0 background, 1..80, 255 ignore) without pycocotools;
* :mod:`.coco_masks`: masks of COCO polygons and RLEs (used by the above).

Not imported by ``mmseg_sipe.datasets``; import the modules directly.
"""
from .coco_masks import (polygons_to_mask, rle_counts_to_string, rle_decode,
                         rle_encode, rle_string_to_counts, scanline_fill,
                         segmentation_to_mask)
from .coco_wsss import (coco_category_mapping, convert_coco_wsss,
                        rasterize_annotations)
from .voc_aug import (TRAIN_AUG_SIZE, convert_voc_aug, make_train_aug_list,
                      plan_label_sources, read_sbd_mat, resolve_sbd_root,
                      resolve_voc_root)

__all__ = [
    'convert_voc_aug', 'make_train_aug_list', 'plan_label_sources',
    'read_sbd_mat', 'resolve_voc_root', 'resolve_sbd_root', 'TRAIN_AUG_SIZE',
    'convert_coco_wsss', 'coco_category_mapping', 'rasterize_annotations',
    'segmentation_to_mask', 'polygons_to_mask', 'scanline_fill', 'rle_decode',
    'rle_encode', 'rle_string_to_counts', 'rle_counts_to_string'
]
