"""Data for IRN training: images + IR labels, and IRN's augmentation.

IRN's ``VOC12AffinityDataset`` pipeline is, in order: random rescale by a
factor in ``(0.5, 1.5)`` (PIL bicubic image, nearest label), horizontal flip,
normalisation, random crop to ``512 x 512`` (the image placed at a random
position in a zero / 255 container when smaller), and the label reduced x0.25
(PIL nearest).  Here the normalisation happens later, in the data
preprocessor, so :class:`IRNRandomCrop` fills the image container with the
*mean pixel* (float32), which normalises to exactly the reference's 0.

A typical pipeline::

    [dict(type='SIPELoadImageFromFile'),
     dict(type='SIPELoadAnnotations'),            # the IR label PNG
     dict(type='IRNRandomRescale', scale_range=(0.5, 1.5)),
     dict(type='RandomFlip', prob=0.5),
     dict(type='IRNRandomCrop', crop_size=512),
     dict(type='IRNReduceLabel', scale=0.25),
     dict(type='PackSegInputs')]
"""
import os
import os.path as osp
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets import BaseSegDataset
from PIL import Image

from mmseg_sipe.datasets.metainfo import (COCO_CLASSES, COCO_PALETTE,
                                          VOC_CLASSES, VOC_PALETTE)
from mmseg_sipe.registry import DATASETS, TRANSFORMS

#: ImageNet mean in BGR (the order ``LoadImageFromFile`` gives), 0..255.
MEAN_BGR = (103.53, 116.28, 123.675)


def pil_rescale(img: np.ndarray, scale: float, order: int) -> np.ndarray:
    """Resize by ``scale`` to ``round(H * scale) x round(W * scale)`` with PIL.

    Args:
        img (ndarray): ``H x W`` or ``H x W x 3`` uint8.
        scale (float): Factor.
        order (int): 3 = bicubic, 0 = nearest.
    """
    h, w = img.shape[:2]
    th, tw = int(np.round(h * scale)), int(np.round(w * scale))
    return pil_resize(img, (th, tw), order)


def pil_resize(img: np.ndarray, size: Tuple[int, int],
               order: int) -> np.ndarray:
    """Resize ``img`` to ``size = (h, w)`` with PIL (3 bicubic, 0 nearest)."""
    if tuple(size) == tuple(img.shape[:2]):
        return img
    if min(size) < 1:
        raise ValueError(f'cannot resize {img.shape[:2]} to {size}')
    resample = {3: Image.BICUBIC, 0: Image.NEAREST}.get(order)
    if resample is None:
        raise ValueError(f'order must be 3 (bicubic) or 0 (nearest): {order}')
    if img.dtype != np.uint8:
        raise ValueError(f'pil_resize expects uint8, got {img.dtype}')
    return np.asarray(
        Image.fromarray(np.ascontiguousarray(img)).resize(
            (int(size[1]), int(size[0])), resample))


def random_crop_box(height: int, width: int, crop: int,
                    rng: np.random.RandomState) -> Tuple[slice, ...]:
    """IRN's crop box: ``(cont_rows, cont_cols, img_rows, img_cols)``.

    Along each side longer than ``crop`` a random window of the image is
    taken; along a shorter side the whole image goes to a random position of
    the ``crop``-sized container.
    """
    def _side(n):
        if n > crop:  # random window of the image
            return slice(0, crop), rng.randint(0, n - crop + 1)
        off = rng.randint(0, crop - n + 1)  # image at a random position
        return slice(off, off + n), 0

    cont_r, img_top = _side(height)
    cont_c, img_left = _side(width)
    ch, cw = cont_r.stop - cont_r.start, cont_c.stop - cont_c.start
    return (cont_r, cont_c, slice(img_top, img_top + ch),
            slice(img_left, img_left + cw))


def _seg_keys(results: dict):
    keys = list(results.get('seg_fields', []))
    if 'gt_seg_map' in results and 'gt_seg_map' not in keys:
        keys.append('gt_seg_map')
    return keys


@TRANSFORMS.register_module()
class IRNRandomRescale(BaseTransform):
    """Rescale by ``U(scale_range)``: image PIL bicubic, labels PIL nearest.

    Required keys: ``img`` (uint8), optional ``gt_seg_map``/``seg_fields``.
    Modified keys: ``img``, ``img_shape``, the seg maps, ``scale_factor``.
    """

    def __init__(self, scale_range: Sequence[float] = (0.5, 1.5)) -> None:
        if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f'bad scale_range {scale_range}')
        self.scale_range = tuple(float(s) for s in scale_range)

    def transform(self, results: dict) -> dict:
        lo, hi = self.scale_range
        scale = lo + np.random.rand() * (hi - lo)
        img = results['img']
        h, w = img.shape[:2]
        img = pil_rescale(img, scale, 3)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['scale_factor'] = (img.shape[1] / w, img.shape[0] / h)
        for key in _seg_keys(results):
            results[key] = pil_resize(results[key], img.shape[:2], 0)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(scale_range={self.scale_range})'


@TRANSFORMS.register_module()
class IRNRandomCrop(BaseTransform):
    """IRN's random crop to ``crop_size x crop_size`` (pads when smaller).

    The image becomes float32; padding is ``img_pad_val`` (default: the
    ImageNet mean in BGR, so that it normalises to 0 as in the reference,
    which pads after normalisation) and ``seg_pad_val`` (255) for labels.

    Required keys: ``img``; optional seg maps.  Modified: ``img``,
    ``img_shape``, seg maps.
    """

    def __init__(self,
                 crop_size: int = 512,
                 img_pad_val: Sequence[float] = MEAN_BGR,
                 seg_pad_val: int = 255) -> None:
        self.crop_size = int(crop_size)
        self.img_pad_val = tuple(float(v) for v in img_pad_val)
        self.seg_pad_val = int(seg_pad_val)

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        c = self.crop_size
        cont_r, cont_c, img_r, img_c = random_crop_box(h, w, c, np.random)
        if img.ndim == 2:
            img = img[..., None]
        out = np.empty((c, c, img.shape[2]), np.float32)
        out[...] = np.asarray(self.img_pad_val[:img.shape[2]], np.float32)
        out[cont_r, cont_c] = img[img_r, img_c]
        results['img'] = out
        results['img_shape'] = out.shape[:2]
        for key in _seg_keys(results):
            seg = results[key]
            cont = np.full((c, c), self.seg_pad_val, seg.dtype)
            cont[cont_r, cont_c] = seg[img_r, img_c]
            results[key] = cont
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'img_pad_val={self.img_pad_val}, '
                f'seg_pad_val={self.seg_pad_val})')


@TRANSFORMS.register_module()
class IRNReduceLabel(BaseTransform):
    """Rescale the label maps by ``scale`` (PIL nearest): IRN's x0.25 label.

    Modified keys: ``gt_seg_map`` and the other ``seg_fields``.
    """

    def __init__(self, scale: float = 0.25) -> None:
        if not scale > 0:
            raise ValueError(f'scale must be > 0, got {scale}')
        self.scale = float(scale)

    def transform(self, results: dict) -> dict:
        keys = _seg_keys(results)
        if not keys:
            raise KeyError(
                f'IRNReduceLabel found no label map for '
                f'{results.get("img_path", "?")}: add LoadAnnotations before')
        for key in keys:
            results[key] = pil_rescale(results[key], self.scale, 0)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(scale={self.scale})'


@DATASETS.register_module()
class IRLabelDataset(BaseSegDataset):
    """Images with their IR labels (``cam2ir`` output), for IRN training.

    PASCAL VOC classes (21 with background); :class:`IRLabelCOCODataset` is
    the COCO (81) variant.

    ``data_prefix=dict(img_path=<image dir>, seg_map_path=<IR label dir>)``
    and ``ann_file`` a split file with one image id per line (e.g. VOC's
    ``ImageSets/Segmentation/train_aug.txt``; ``''`` = every ``*.png`` of the
    IR label directory); the image is
    ``<img_path>/<id><img_suffix>`` and its IR label
    ``<seg_map_path>/<id>.png`` (uint8 class ids, 255 uncertain).

    Args:
        ir_label_dir (str, optional): IR label directory; overrides
            ``data_prefix['seg_map_path']`` and, unlike it, is *not* joined
            with ``data_root`` (a relative path is relative to the working
            directory, like a work dir).
        check_files (bool): Fail at construction, naming the first missing
            files, when an image or IR label is absent (default True).
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments.
    """
    METAINFO = dict(classes=VOC_CLASSES, palette=VOC_PALETTE)

    def __init__(self,
                 ir_label_dir: Optional[str] = None,
                 check_files: bool = True,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        self.check_files = check_files
        self.ir_label_dir = ir_label_dir
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            metainfo=metainfo,
            **kwargs)

    def _image_ids(self, seg_dir: str):
        """Ids from ``ann_file``, or every ``*.png`` in the IR label dir."""
        ann_file = self.ann_file
        if not ann_file:
            ids = sorted(
                f[:-len(self.seg_map_suffix)] for f in os.listdir(seg_dir)
                if f.endswith(self.seg_map_suffix))
            return ids, f'IR label directory {seg_dir}'
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'IRLabelDataset: split file not found: '
                                    f'{ann_file}')
        with open(ann_file) as f:
            ids = [line.split()[0] for line in f if line.split()]
        return ids, f'split file {ann_file}'

    def load_data_list(self):
        seg_dir = self.ir_label_dir or self.data_prefix.get('seg_map_path')
        if not seg_dir or not osp.isdir(seg_dir):
            raise FileNotFoundError(
                f'IRLabelDataset: IR label directory not found: {seg_dir!r} '
                '(run tools/cam2ir.py first, or set ir_label_dir)')
        ids, source = self._image_ids(seg_dir)
        img_dir = self.data_prefix.get('img_path') or ''
        data_list = [
            dict(
                img_path=osp.join(img_dir, name + self.img_suffix),
                seg_map_path=osp.join(seg_dir, name + self.seg_map_suffix),
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[]) for name in ids
        ]
        if not data_list:
            raise ValueError(f'IRLabelDataset: {source} lists no images')
        if self.check_files:
            for key, what in (('img_path', 'image'),
                              ('seg_map_path', 'IR label')):
                missing = [d[key] for d in data_list
                           if not osp.isfile(d[key])]
                if missing:
                    raise FileNotFoundError(
                        f'IRLabelDataset: {len(missing)} of '
                        f'{len(data_list)} {what} files listed by {source} '
                        f'are missing, e.g. {missing[:3]}')
        return data_list


@DATASETS.register_module()
class IRLabelCOCODataset(IRLabelDataset):
    """:class:`IRLabelDataset` with the 81 COCO classes (background first)."""
    METAINFO = dict(classes=COCO_CLASSES, palette=COCO_PALETTE)
