"""``RandomCropWithValidMask``: the reference's ``random_crop`` + mask."""
from typing import Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmseg_sipe.registry import TRANSFORMS


def random_crop_box(img_hw: Tuple[int, int],
                    crop_hw: Tuple[int, int],
                    rng=np.random) -> Tuple[int, int, int, int, int, int]:
    """Draw a crop / pad box like the reference ``get_random_crop_box``.

    Per axis: if the image is larger than the crop, a random offset into the
    image is drawn (canvas offset 0); otherwise the image is placed at a
    random offset inside the crop canvas (image offset 0). Offsets are
    uniform integers over all valid positions; the width axis is drawn
    first, as in the reference.

    Args:
        img_hw (tuple[int, int]): Image ``(h, w)``.
        crop_hw (tuple[int, int]): Crop ``(ch, cw)``.
        rng: Object with ``randint(low, high)`` (exclusive high), e.g. the
            ``np.random`` module or a ``RandomState``.

    Returns:
        tuple: ``(cont_top, cont_left, img_top, img_left, h, w)``: copy
        ``img[img_top:img_top+h, img_left:img_left+w]`` to
        ``canvas[cont_top:cont_top+h, cont_left:cont_left+w]``.
    """
    ih, iw = img_hw
    ch, cw = crop_hw
    h, w = min(ch, ih), min(cw, iw)
    w_space, h_space = iw - cw, ih - ch
    if w_space > 0:
        cont_left, img_left = 0, int(rng.randint(0, w_space + 1))
    else:
        cont_left, img_left = int(rng.randint(0, -w_space + 1)), 0
    if h_space > 0:
        cont_top, img_top = 0, int(rng.randint(0, h_space + 1))
    else:
        cont_top, img_top = int(rng.randint(0, -h_space + 1)), 0
    return cont_top, cont_left, img_top, img_left, h, w


def apply_crop_box(arr: np.ndarray, box: Sequence[int], crop_hw: Tuple[int,
                                                                       int],
                   pad_val: Union[int, float, Sequence]) -> np.ndarray:
    """Copy the boxed part of ``arr`` (HxW or HxWxC) into a
    ``crop_hw`` canvas filled with ``pad_val``."""
    ct, cl, it, il, h, w = box
    shape = tuple(crop_hw) + arr.shape[2:]
    out = np.empty(shape, arr.dtype)
    out[...] = np.asarray(pad_val, dtype=arr.dtype)
    out[ct:ct + h, cl:cl + w] = arr[it:it + h, il:il + w]
    return out


@TRANSFORMS.register_module()
class RandomCropWithValidMask(BaseTransform):
    """Random crop that pads small images, recording where the image is.

    Reproduces the reference ``random_crop(img, 512, (0,))`` plus its
    ``valid_mask``: see :func:`random_crop_box`. The image is padded with
    ``img_pad_val`` (0 in raw BGR here; the model multiplies the normalised
    input by ``valid_mask`` so padding is 0 after normalisation, as in the
    reference), seg maps with ``seg_pad_val``.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``,
    ``pad_shape``, ``gt_seg_map`` and keys in ``seg_fields``. Added keys:
    ``valid_mask`` (uint8 ``[crop_h, crop_w]``: 1 = image, 0 = padding) and
    ``crop_box`` (see :func:`random_crop_box`).

    Args:
        crop_size (int | tuple[int, int]): Output ``(h, w)``. Defaults to 512.
        img_pad_val (number | sequence): Image fill value. Defaults to 0.
        seg_pad_val (int): Seg map fill value. Defaults to 255.
    """

    def __init__(self,
                 crop_size: Union[int, Tuple[int, int]] = 512,
                 img_pad_val: Union[int, float, Sequence] = 0,
                 seg_pad_val: int = 255) -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        crop_size = tuple(int(v) for v in crop_size)
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f'invalid crop_size {crop_size}')
        self.crop_size = crop_size
        self.img_pad_val = img_pad_val
        self.seg_pad_val = seg_pad_val

    @cache_randomness
    def _random_box(self, img_hw: Tuple[int, int]) -> tuple:
        return random_crop_box(img_hw, self.crop_size, np.random)

    def transform(self, results: dict) -> dict:
        """Crop / pad ``results['img']`` and its seg maps."""
        img = results['img']
        box = self._random_box(img.shape[:2])
        results['img'] = apply_crop_box(img, box, self.crop_size,
                                        self.img_pad_val)
        keys = list(results.get('seg_fields', []))
        if 'gt_seg_map' in results and 'gt_seg_map' not in keys:
            keys.append('gt_seg_map')
        for key in keys:
            if results.get(key) is not None:
                results[key] = apply_crop_box(results[key], box,
                                              self.crop_size, self.seg_pad_val)
        mask = np.zeros(self.crop_size, np.uint8)
        ct, cl, _, _, h, w = box
        mask[ct:ct + h, cl:cl + w] = 1
        results['valid_mask'] = mask
        results['crop_box'] = box
        results['img_shape'] = self.crop_size
        results['pad_shape'] = self.crop_size
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'img_pad_val={self.img_pad_val}, '
                f'seg_pad_val={self.seg_pad_val})')
