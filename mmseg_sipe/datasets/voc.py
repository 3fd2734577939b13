"""PASCAL VOC 2012 (+ SBD "aug") with image-level labels for stage one."""
import os.path as osp
from typing import List, Optional

import numpy as np

from mmseg_sipe.registry import DATASETS
from .base import SIPEBaseDataset
from .labels import labels_from_xml, read_split_file
from .metainfo import VOC_CLASSES, VOC_PALETTE


@DATASETS.register_module()
class SIPEVOCDataset(SIPEBaseDataset):
    """VOC 2012 classification / segmentation dataset for SIPE.

    Reads the standard ``VOCdevkit/VOC2012`` layout (and the demo dataset,
    which uses the same layout)::

        data_root/JPEGImages/{id}.jpg
        data_root/SegmentationClass{,Aug}/{id}.png   class-index PNGs
        data_root/Annotations/{id}.xml
        data_root/ImageSets/Segmentation/{train_aug,train,val}.txt

    Image-level labels (``img_labels``, float32 [20]) come from
    ``label_source``:

    * ``'xml'`` (default): object names in ``Annotations/{id}.xml``,
      **including difficult objects**, as IRN / SIPE do;
    * ``'cls_labels'``: the reference's ``cls_labels_voc.npy`` dict
      (``cls_label_file``; keys may be ``'2007_000032'`` or IRN's int
      ``2007000032``);
    * ``'mask'``: classes present in the seg map (misses objects that VOC
      marks void, e.g. difficult ones).

    Args:
        data_root (str, optional): VOC root (``.../VOCdevkit/VOC2012``).
        ann_file (str): Split file, relative to ``data_root``.
        data_prefix (dict): ``img_path`` and ``seg_map_path`` folders; set
            ``seg_map_path=None`` for no seg maps.
        label_source (str): ``'xml'``, ``'cls_labels'`` or ``'mask'``.
        cls_label_file (str, optional): See :class:`SIPEBaseDataset`.
        xml_dir (str): Annotation folder, relative to ``data_root``.
        with_seg_map (bool, optional): See :class:`SIPEBaseDataset`.
        **kwargs: Other :class:`SIPEBaseDataset` arguments (e.g.
            ``empty_labels``: an XML without ``<object>`` is an error by
            default) and :class:`mmseg.datasets.BaseSegDataset` arguments.
    """
    METAINFO = dict(classes=VOC_CLASSES, palette=VOC_PALETTE)
    LABEL_SOURCES = ('xml', 'cls_labels', 'mask')

    def __init__(self,
                 data_root: Optional[str] = None,
                 ann_file: str = 'ImageSets/Segmentation/train_aug.txt',
                 data_prefix: dict = dict(
                     img_path='JPEGImages',
                     seg_map_path='SegmentationClassAug'),
                 label_source: str = 'xml',
                 cls_label_file: Optional[str] = None,
                 xml_dir: str = 'Annotations',
                 with_seg_map: Optional[bool] = None,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        self.xml_dir = xml_dir
        super().__init__(
            label_source=label_source,
            cls_label_file=cls_label_file,
            with_seg_map=with_seg_map,
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=data_prefix,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            **kwargs)

    def list_images(self) -> List[str]:
        """Image ids of the split file ``ann_file``."""
        return read_split_file(self.ann_file, self.img_suffix)

    def source_label_file(self, name: str) -> str:
        """``{xml_dir}/{name}.xml``."""
        xml_dir = self.xml_dir
        if self.data_root and not osp.isabs(xml_dir):
            xml_dir = osp.join(self.data_root, xml_dir)
        return osp.join(xml_dir, name + '.xml')

    def source_labels(self, name: str) -> np.ndarray:
        """Labels from ``{xml_dir}/{name}.xml`` (difficult included)."""
        return labels_from_xml(
            self.source_label_file(name),
            self._metainfo['classes'][1:],
            include_difficult=True)
