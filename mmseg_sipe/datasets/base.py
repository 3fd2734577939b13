"""Shared base of the stage-one (image-level label) datasets."""
import logging
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset

from ..utils.errors import UserError
from .labels import labels_from_mask, load_cls_labels, lookup_cls_label


class SIPEBaseDataset(BaseSegDataset):
    """Base class: an image list + image-level labels (+ optional seg maps).

    Every data info holds:

    * ``img_path`` (str), ``img_id`` (str, the file stem);
    * ``img_labels``: float32 ``[K]`` multi-hot over the ``K`` foreground
      classes (``K = len(classes) - 1``; class ``k`` is pixel value ``k+1``);
    * ``seg_map_path`` (str) when ``with_seg_map`` resolves to True;
    * mmseg's ``label_map``, ``reduce_zero_label`` and ``seg_fields``.

    Args:
        label_source (str): Where image labels come from; one of
            ``LABEL_SOURCES`` (subclass specific, always including
            ``'cls_labels'`` and ``'mask'``). ``'mask'`` derives labels from
            the classes present in the seg map (0 and 255 skipped).
        cls_label_file (str, optional): For ``label_source='cls_labels'``: a
            reference-style ``cls_labels.npy`` holding a pickled dict
            ``{image id: float32[K]}`` (loaded with ``allow_pickle=True``, so
            only use your own / trusted files). A relative path is taken as
            is if it exists, else relative to ``data_root``.
        with_seg_map (bool, optional): Put ``seg_map_path`` into the data
            infos (needed for evaluation / ``LoadAnnotations``). ``True``:
            every listed image must have its seg map. ``False``: never.
            ``None`` (default): True iff ``data_prefix['seg_map_path']`` is
            set and every listed image has its seg map (else a warning).
        empty_labels (str): What to do with a listed image whose label
            source names no foreground class (a VOC XML without
            ``<object>``, an all-zero ``cls_labels`` entry, a mask of only
            background / ignore): ``'error'`` (default: ``ValueError``
            naming the label file; stage one cannot learn from an image
            without labels, and the reference lists contain none),
            ``'skip'`` (drop such images, one warning with their count) or
            ``'keep'`` (keep them with all-zero ``img_labels``, e.g. to
            make localisation maps of every image).
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments
            (``data_root``, ``ann_file``, ``data_prefix``, ``pipeline``, ...).
    """
    LABEL_SOURCES: Sequence[str] = ('cls_labels', 'mask')
    EMPTY_LABELS: Sequence[str] = ('error', 'skip', 'keep')

    def __init__(self,
                 label_source: str,
                 cls_label_file: Optional[str] = None,
                 with_seg_map: Optional[bool] = None,
                 data_prefix: Optional[dict] = None,
                 empty_labels: str = 'error',
                 **kwargs) -> None:
        if empty_labels not in self.EMPTY_LABELS:
            raise ValueError(f'empty_labels must be one of '
                             f'{tuple(self.EMPTY_LABELS)}, got '
                             f'{empty_labels!r}')
        self.empty_labels = empty_labels
        if label_source not in self.LABEL_SOURCES:
            raise ValueError(f'label_source must be one of '
                             f'{tuple(self.LABEL_SOURCES)}, got '
                             f'{label_source!r}')
        if label_source == 'cls_labels' and not cls_label_file:
            raise ValueError("label_source='cls_labels' needs cls_label_file")
        if with_seg_map not in (None, True, False):
            raise ValueError(
                f'with_seg_map must be None/True/False, got {with_seg_map!r}')
        self.label_source = label_source
        self.cls_label_file = cls_label_file
        self.with_seg_map = with_seg_map
        # mmengine only accepts str prefixes: drop unset ones.
        data_prefix = {
            k: v
            for k, v in dict(data_prefix or {}).items() if v is not None
        }
        self._seg_map_resolved: Optional[bool] = None
        super().__init__(data_prefix=data_prefix, **kwargs)

    # ------------------------------------------------------------------
    @property
    def num_fg_classes(self) -> int:
        """``K``: number of foreground classes (length of ``img_labels``)."""
        return len(self._metainfo['classes']) - 1

    def _abs(self, path: Optional[str]) -> Optional[str]:
        """Resolve a user path: as is if absolute or existing, else under
        ``data_root``."""
        if not path:
            return path
        if osp.isabs(path) or osp.exists(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

    def list_images(self) -> List[str]:
        """Image ids (file stems) in order. Implemented by subclasses."""
        raise NotImplementedError

    @property
    def list_source(self) -> str:
        """The file the image list comes from (for error messages)."""
        return self.ann_file

    def source_labels(self, name: str) -> np.ndarray:
        """Labels for sources other than 'cls_labels' / 'mask'."""
        raise NotImplementedError

    def source_label_file(self, name: str) -> str:
        """The file ``source_labels(name)`` reads (for error messages)."""
        raise NotImplementedError

    # ------------------------------------------------------------------
    def _resolve_with_seg_map(self, names: List[str], seg_dir: str) -> bool:
        if self.with_seg_map is False:
            return False
        if not seg_dir:
            if self.with_seg_map:
                raise ValueError("with_seg_map=True needs "
                                 "data_prefix['seg_map_path']")
            return False
        if self.with_seg_map:  # required: checked per image later
            return True
        missing = [
            n for n in names
            if not osp.isfile(osp.join(seg_dir, n + self.seg_map_suffix))
        ]
        if missing:
            print_log(
                f'{type(self).__name__}: {len(missing)}/{len(names)} seg '
                f'maps missing (first: '
                f'{osp.join(seg_dir, missing[0] + self.seg_map_suffix)}); '
                'loading without seg_map_path',
                logger='current',
                level=logging.WARNING)
            return False
        return True

    def load_data_list(self) -> List[dict]:
        """Build the data infos; raises on any missing or bad input."""
        if self.label_map is not None:
            raise ValueError(
                f'{type(self).__name__} uses the fixed class list of its '
                'METAINFO; custom class subsets are not supported')
        if self.reduce_zero_label:
            raise ValueError('reduce_zero_label must be False: class 0 is '
                             'background in SIPE label maps')
        names = self.list_images()
        if not names:
            raise ValueError(f'no images listed in {self.list_source}')
        img_dir = self.data_prefix.get('img_path', '')
        seg_dir = self.data_prefix.get('seg_map_path', '')
        with_seg = self._resolve_with_seg_map(names, seg_dir)
        self._seg_map_resolved = with_seg
        if self.label_source == 'mask' and not seg_dir:
            raise ValueError("label_source='mask' needs "
                             "data_prefix['seg_map_path']")
        table = None
        cls_file = self._abs(self.cls_label_file)
        if self.label_source == 'cls_labels':
            table = load_cls_labels(cls_file, self.num_fg_classes)

        data_list = []
        empty: List[str] = []
        for name in names:
            img_path = osp.join(img_dir, name + self.img_suffix)
            if not osp.isfile(img_path):
                raise FileNotFoundError(
                    f'image {name!r} listed in {self.list_source} not '
                    f'found: {img_path}')
            seg_path = osp.join(seg_dir, name + self.seg_map_suffix) \
                if seg_dir else None
            if with_seg and not osp.isfile(seg_path):
                raise FileNotFoundError(
                    f'seg map of image {name!r} not found: {seg_path} '
                    '(set with_seg_map=False to load without it)')
            if self.label_source == 'cls_labels':
                labels = lookup_cls_label(table, name, cls_file,
                                          self.num_fg_classes)
            elif self.label_source == 'mask':
                labels = labels_from_mask(seg_path, self.num_fg_classes)
            else:
                labels = self.source_labels(name)
            if not np.any(labels) and self.empty_labels != 'keep':
                if self.empty_labels == 'error':
                    src = cls_file if self.label_source == 'cls_labels' \
                        else seg_path if self.label_source == 'mask' \
                        else self.source_label_file(name)
                    raise UserError(
                        f'{src}: no foreground class for image {name!r} '
                        f'(listed in {self.list_source}); stage one cannot '
                        'learn from an image without labels: remove it from '
                        "the list or set empty_labels='skip' in the dataset "
                        'config')
                empty.append(name)
                continue
            info = dict(
                img_path=img_path,
                img_id=name,
                img_labels=np.asarray(labels, dtype=np.float32),
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[])
            if with_seg:
                info['seg_map_path'] = seg_path
            data_list.append(info)
        if empty:
            print_log(
                f'{type(self).__name__}: skipped {len(empty)}/{len(names)} '
                f'images without a foreground label (empty_labels=skip; '
                f'first: {empty[0]!r} in {self.list_source})',
                logger='current',
                level=logging.WARNING)
            if not data_list:
                raise ValueError(f'no image of {self.list_source} has a '
                                 'foreground label')
        return data_list

    @property
    def has_seg_map(self) -> bool:
        """Whether the data infos carry ``seg_map_path``."""
        return bool(self._seg_map_resolved)
