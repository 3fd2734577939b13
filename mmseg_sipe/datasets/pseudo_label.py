"""Stage-two datasets: images with SIPE pseudo labels (and COCO 2014 GT).

Stage two trains an ordinary fully supervised segmentation network on the
pseudo labels produced by stage one + refinement (``make_seg_labels.py`` /
``cam2ir.py``): one class-index PNG per training image (0 = background,
``k + 1`` = class ``k``, 255 = ignore), named like the image.

* :class:`VOCPseudoLabelDataset` - VOC ``JPEGImages`` + a pseudo-label folder
  (``train_aug`` split by default).
* :class:`COCO2014SegDataset` - COCO 2014 images + class-index PNGs (the
  converted ground truth ``SegmentationClass/{train,val}2014``); used for
  validation with real ground truth.
* :class:`COCOPseudoLabelDataset` - COCO 2014 ``train2014`` + a pseudo-label
  folder.

The pseudo-label datasets check **at load time** that every listed image has
its label file and raise one :class:`FileNotFoundError` naming the first few
missing files (and their images) and the count, instead of failing in a data
loader worker hours into training. VOC validation keeps mmseg's own
``PascalVOCDataset`` on ``SegmentationClass``.
"""
import os.path as osp
from typing import List, Optional

import mmengine.fileio as fileio

from mmseg.datasets import BaseSegDataset, PascalVOCDataset
from mmseg_sipe.registry import DATASETS
from .labels import read_split_file
from .metainfo import COCO_CLASSES, COCO_PALETTE

#: How many missing files the error message lists by name.
MAX_REPORTED_MISSING = 5


def check_seg_maps_exist(data_list: List[dict],
                         what: str = 'pseudo label',
                         backend_args: Optional[dict] = None,
                         max_report: int = MAX_REPORTED_MISSING) -> None:
    """Raise if any ``seg_map_path`` of ``data_list`` does not exist.

    Args:
        data_list (list[dict]): Data infos with ``img_path`` and
            ``seg_map_path``.
        what (str): Name of the label kind, for the message.
        backend_args (dict, optional): mmengine file backend arguments.
        max_report (int): Missing files listed by name.

    Raises:
        FileNotFoundError: Naming the first ``max_report`` missing label
            files with their images, and how many of the total are missing.
    """
    missing = []
    for info in data_list:
        path = info.get('seg_map_path')
        if path is None:
            continue
        if backend_args is None or backend_args.get('backend') in (None,
                                                                   'local'):
            ok = osp.isfile(path)
        else:
            ok = fileio.exists(path, backend_args=backend_args)
        if not ok:
            missing.append(info)
    if not missing:
        return
    shown = '\n'.join(f'  {m["seg_map_path"]} (image {m["img_path"]})'
                      for m in missing[:max_report])
    more = '' if len(missing) <= max_report else \
        f'\n  ... and {len(missing) - max_report} more'
    label_dir = osp.dirname(missing[0]['seg_map_path'])
    raise FileNotFoundError(
        f'{len(missing)} of {len(data_list)} images have no {what} file '
        f'in {label_dir}:\n{shown}{more}\n'
        f'Make the {what}s for every image of the split first (e.g. '
        'tools/make_seg_labels.py or tools/cam2ir.py), or point '
        'data_prefix.seg_map_path at the right folder.')


@DATASETS.register_module()
class VOCPseudoLabelDataset(PascalVOCDataset):
    """PASCAL VOC 2012 (+ SBD aug) images with SIPE pseudo labels.

    Layout::

        data_root/JPEGImages/{id}.jpg
        data_root/ImageSets/Segmentation/train_aug.txt   (ids, one per line)
        <seg_map_path>/{id}.png       pseudo labels (absolute or relative to
                                      data_root)

    Args:
        ann_file (str): Split file (relative to ``data_root``).
            Default: ``'ImageSets/Segmentation/train_aug.txt'``.
        data_prefix (dict): ``img_path`` (default ``'JPEGImages'``) and
            ``seg_map_path``, the pseudo-label folder (required; may be an
            absolute path).
        check_labels (bool): Check at load time that every image has a
            pseudo label (raise :class:`FileNotFoundError` otherwise).
            Default: True.
        **kwargs: Other :class:`mmseg.datasets.PascalVOCDataset` arguments.
    """

    def __init__(self,
                 ann_file: str = 'ImageSets/Segmentation/train_aug.txt',
                 data_prefix: dict = dict(
                     img_path='JPEGImages', seg_map_path=None),
                 check_labels: bool = True,
                 **kwargs) -> None:
        if not data_prefix.get('seg_map_path'):
            raise ValueError(
                f'{type(self).__name__} needs data_prefix.seg_map_path: the '
                'pseudo-label folder (absolute or relative to data_root)')
        self.check_labels = check_labels
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Data infos of the split, after checking every pseudo label.

        A local split file is read like the stage-one splits
        (:func:`~mmseg_sipe.datasets.labels.read_split_file`: a duplicate id
        is an error, a UTF-8 byte-order mark and blank lines are dropped).
        """
        if self.ann_file and osp.isfile(self.ann_file):
            img_dir = self.data_prefix.get('img_path', '')
            ann_dir = self.data_prefix.get('seg_map_path')
            data_list = []
            for name in read_split_file(self.ann_file, self.img_suffix):
                info = dict(img_path=osp.join(img_dir, name + self.img_suffix))
                if ann_dir is not None:
                    info['seg_map_path'] = osp.join(
                        ann_dir, name + self.seg_map_suffix)
                info['label_map'] = self.label_map
                info['reduce_zero_label'] = self.reduce_zero_label
                info['seg_fields'] = []
                data_list.append(info)
        else:
            data_list = super().load_data_list()
        if self.check_labels:
            check_seg_maps_exist(data_list, 'pseudo label', self.backend_args)
        return data_list


@DATASETS.register_module()
class COCO2014SegDataset(BaseSegDataset):
    """MS COCO 2014 semantic segmentation with 80 things + background.

    Class indices follow ``docs/design.md`` (0 = background, categories in
    ascending id order -> 1..80, 255 = ignore), as written by the COCO
    converter and by the pseudo-label tools. Layout (relative to
    ``data_root`` unless absolute)::

        train2014/COCO_train2014_{id:012d}.jpg   (val2014/... for val)
        SegmentationClass/val2014/{stem}.png     class-index PNGs

    The image list is ``ann_file`` (one file stem per line) if given, else
    every ``*.png`` in ``seg_map_path`` (sorted) -- the label folder defines
    the set, so images without labels (COCO's unlabelled images) are left
    out automatically.

    Args:
        ann_file (str): Optional split file of stems. Default: ``''``.
        data_prefix (dict): ``img_path`` and ``seg_map_path`` folders.
        **kwargs: Other :class:`mmseg.datasets.BaseSegDataset` arguments.
    """
    METAINFO = dict(classes=COCO_CLASSES, palette=COCO_PALETTE)

    def __init__(self,
                 ann_file: str = '',
                 data_prefix: dict = dict(
                     img_path='val2014',
                     seg_map_path='SegmentationClass/val2014'),
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(
            ann_file=ann_file,
            data_prefix=data_prefix,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            **kwargs)

    def _stems_from_label_dir(self) -> List[str]:
        ann_dir = self.data_prefix.get('seg_map_path')
        if not ann_dir:
            raise ValueError(
                f'{type(self).__name__}: without ann_file the image list is '
                'read from data_prefix.seg_map_path, which is not set')
        if not fileio.isdir(ann_dir, backend_args=self.backend_args):
            raise FileNotFoundError(
                f'{type(self).__name__}: label folder {ann_dir} does not '
                'exist')
        n = len(self.seg_map_suffix)
        return sorted(f[:-n] for f in fileio.list_dir_or_file(
            ann_dir,
            list_dir=False,
            suffix=self.seg_map_suffix,
            recursive=True,
            backend_args=self.backend_args))

    def load_data_list(self) -> List[dict]:
        """Data infos from ``ann_file`` or from the label folder."""
        if self.ann_file:
            if not osp.isfile(self.ann_file):
                raise FileNotFoundError(
                    f'{type(self).__name__}: split file {self.ann_file} '
                    'does not exist')
            stems = read_split_file(self.ann_file, self.img_suffix)
        else:
            stems = self._stems_from_label_dir()
        img_dir = self.data_prefix.get('img_path', '')
        ann_dir = self.data_prefix.get('seg_map_path')
        data_list = []
        for stem in stems:
            info = dict(img_path=osp.join(img_dir, stem + self.img_suffix))
            if ann_dir is not None:
                info['seg_map_path'] = osp.join(ann_dir,
                                                stem + self.seg_map_suffix)
            info['label_map'] = self.label_map
            info['reduce_zero_label'] = self.reduce_zero_label
            info['seg_fields'] = []
            data_list.append(info)
        return data_list


@DATASETS.register_module()
class COCOPseudoLabelDataset(COCO2014SegDataset):
    """MS COCO 2014 ``train2014`` images with SIPE pseudo labels.

    Like :class:`COCO2014SegDataset` (80 + 1 classes, COCO names), with
    ``seg_map_path`` the pseudo-label folder. With ``ann_file`` the listed
    images are checked at load time to all have a pseudo label
    (:class:`FileNotFoundError` otherwise); without it the pseudo-label
    folder itself defines the image list.

    Args:
        ann_file (str): Optional split file of stems. Default: ``''``.
        data_prefix (dict): ``img_path`` (default ``'train2014'``) and
            ``seg_map_path`` (required, may be absolute).
        check_labels (bool): Check every pseudo label exists. Default: True.
        **kwargs: Other :class:`COCO2014SegDataset` arguments.
    """

    def __init__(self,
                 ann_file: str = '',
                 data_prefix: dict = dict(
                     img_path='train2014', seg_map_path=None),
                 check_labels: bool = True,
                 **kwargs) -> None:
        if not data_prefix.get('seg_map_path'):
            raise ValueError(
                f'{type(self).__name__} needs data_prefix.seg_map_path: the '
                'pseudo-label folder (absolute or relative to data_root)')
        self.check_labels = check_labels
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Data infos, after checking every listed pseudo label."""
        data_list = super().load_data_list()
        if self.check_labels and self.ann_file:
            check_seg_maps_exist(data_list, 'pseudo label', self.backend_args)
        return data_list


__all__ = [
    'check_seg_maps_exist', 'VOCPseudoLabelDataset', 'COCO2014SegDataset',
    'COCOPseudoLabelDataset'
]
