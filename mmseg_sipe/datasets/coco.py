"""MS COCO 2014 with image-level labels for stage one."""
from typing import Dict, List, Optional

import numpy as np

from mmseg_sipe.registry import DATASETS
from .base import SIPEBaseDataset
from .labels import load_coco_instances, read_split_file
from .metainfo import COCO_CLASSES, COCO_PALETTE


@DATASETS.register_module()
class SIPECOCODataset(SIPEBaseDataset):
    """COCO 2014 classification / segmentation dataset for SIPE.

    Layout (paths relative to ``data_root``)::

        train2014/COCO_train2014_{id:012d}.jpg          images
        annotations/instances_train2014.json            labels
        SegmentationClass/train2014/{stem}.png          optional GT maps
                                                        (class indices 0..80)

    80 foreground classes in ascending COCO category-id order; category ids
    (1..90 with gaps) map to class indices 1..80 by sorted id.

    Image-level labels (``img_labels``, float32 [80]) come from
    ``label_source``:

    * ``'json'`` (default): the categories annotated on the image in
      ``ann_file`` (read with the ``json`` module; crowd annotations count
      unless ``include_crowd=False``);
    * ``'cls_labels'``: your own ``cls_labels_coco.npy`` dict
      ``{stem: float32[80]}`` (the reference repo does not ship one);
    * ``'mask'``: classes present in the seg map.

    The image list is ``split_file`` (one file stem per line, e.g.
    ``COCO_train2014_000000000009``) if given, else every image in
    ``ann_file`` in file-name order, without those that have no label when
    ``filter_empty=True`` (the reference's 82081-image ``train_coco.txt``).

    Args:
        data_root (str, optional): COCO root.
        ann_file (str): Instances JSON (may be '' when ``label_source`` is
            not ``'json'`` and ``split_file`` is given).
        split_file (str, optional): Image list, relative to ``data_root``.
        data_prefix (dict): ``img_path`` folder and optional
            ``seg_map_path`` folder (None: no seg maps).
        label_source (str): ``'json'``, ``'cls_labels'`` or ``'mask'``.
        cls_label_file (str, optional): See :class:`SIPEBaseDataset`.
        with_seg_map (bool, optional): See :class:`SIPEBaseDataset`.
        filter_empty (bool): Without ``split_file``, drop unlabelled images
            (``False`` keeps them: ``empty_labels`` then defaults to
            ``'keep'``).
        empty_labels (str, optional): See :class:`SIPEBaseDataset`; default
            ``'error'`` (``'keep'`` with ``filter_empty=False``).
        include_crowd (bool): Count ``iscrowd`` annotations as labels.
        **kwargs: Other :class:`mmseg.datasets.BaseSegDataset` arguments.
    """
    METAINFO = dict(classes=COCO_CLASSES, palette=COCO_PALETTE)
    LABEL_SOURCES = ('json', 'cls_labels', 'mask')

    def __init__(self,
                 data_root: Optional[str] = None,
                 ann_file: str = 'annotations/instances_train2014.json',
                 split_file: Optional[str] = None,
                 data_prefix: dict = dict(
                     img_path='train2014', seg_map_path=None),
                 label_source: str = 'json',
                 cls_label_file: Optional[str] = None,
                 with_seg_map: Optional[bool] = None,
                 filter_empty: bool = True,
                 include_crowd: bool = True,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 empty_labels: Optional[str] = None,
                 **kwargs) -> None:
        if empty_labels is None:
            empty_labels = 'keep' if not filter_empty and not split_file \
                else 'error'
        self.split_file = split_file
        self.filter_empty = filter_empty
        self.include_crowd = include_crowd
        self._json_labels: Optional[Dict[str, np.ndarray]] = None
        super().__init__(
            label_source=label_source,
            cls_label_file=cls_label_file,
            with_seg_map=with_seg_map,
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=data_prefix,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            empty_labels=empty_labels,
            **kwargs)

    @property
    def list_source(self) -> str:
        return self._abs(self.split_file) if self.split_file \
            else self.ann_file

    def _labels_json(self) -> Dict[str, np.ndarray]:
        if self._json_labels is None:
            self._json_labels, _ = load_coco_instances(
                self.ann_file, self._metainfo['classes'][1:],
                self.include_crowd)
        return self._json_labels

    def list_images(self) -> List[str]:
        """Ids from ``split_file``, else from ``ann_file`` (sorted)."""
        if self.split_file:
            return read_split_file(self._abs(self.split_file), self.img_suffix)
        if not self.ann_file:
            raise ValueError('SIPECOCODataset needs ann_file or split_file')
        labels = self._labels_json()
        names = sorted(labels)
        if self.filter_empty:
            names = [n for n in names if labels[n].any()]
        return names

    def source_label_file(self, name: str) -> str:
        """The instances JSON."""
        return self.ann_file

    def source_labels(self, name: str) -> np.ndarray:
        """Labels of ``name`` from the instances JSON."""
        labels = self._labels_json()
        if name not in labels:
            raise ValueError(f'no entry for image {name!r} in {self.ann_file}')
        return labels[name]

    def full_init(self) -> None:
        super().full_init()
        self._json_labels = None  # free the per-image table
