"""``RandomResizeLong``: the reference's ``random_resize_long``."""
from typing import Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmseg_sipe.registry import TRANSFORMS


def resize_long_size(h: int, w: int, target: int) -> Tuple[int, int]:
    """Output size when the long side of an ``h x w`` image becomes
    ``target`` (reference ``random_resize_long`` / ``pil_rescale``).

    ``s = target / h`` if ``w < h`` else ``target / w``; the size is
    ``(round(h * s), round(w * s))`` with numpy rounding (half to even).

    Returns:
        tuple[int, int]: ``(new_h, new_w)``.
    """
    scale = target / h if w < h else target / w
    return int(np.round(h * scale)), int(np.round(w * scale))


@TRANSFORMS.register_module()
class RandomResizeLong(BaseTransform):
    """Resize so that the long side is a random integer in
    ``[min_size, max_size]`` (inclusive), keeping the aspect ratio.

    Reproduces the reference's ``random_resize_long(img, 320, 640)`` with
    PIL bicubic (``mmcv.imresize(..., backend='pillow')``).

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``,
    ``gt_seg_map`` and every key in ``seg_fields`` (resized with nearest).
    Added keys: ``scale`` (w, h), ``scale_factor`` (w_ratio, h_ratio),
    ``keep_ratio``, ``resize_long`` (the drawn target).

    Args:
        min_size (int): Smallest long side. Defaults to 320.
        max_size (int): Largest long side. Defaults to 640.
        interpolation (str): Image interpolation. Defaults to 'bicubic'.
        backend (str): ``mmcv.imresize`` backend. Defaults to 'pillow'.
    """

    def __init__(self,
                 min_size: int = 320,
                 max_size: int = 640,
                 interpolation: str = 'bicubic',
                 backend: str = 'pillow') -> None:
        if not 0 < min_size <= max_size:
            raise ValueError(f'need 0 < min_size <= max_size, got '
                             f'{min_size}, {max_size}')
        self.min_size = int(min_size)
        self.max_size = int(max_size)
        self.interpolation = interpolation
        self.backend = backend

    @cache_randomness
    def _random_target(self) -> int:
        return int(np.random.randint(self.min_size, self.max_size + 1))

    def transform(self, results: dict) -> dict:
        """Resize ``results['img']`` and its seg maps."""
        img = results['img']
        if self.backend == 'pillow' and img.dtype != np.uint8:
            raise TypeError(
                f'RandomResizeLong(backend=pillow) needs a uint8 image, got '
                f'{img.dtype} for {results.get("img_path", "the image")} '
                '(load without to_float32, or use backend=cv2)')
        h, w = img.shape[:2]
        target = self._random_target()
        new_h, new_w = resize_long_size(h, w, target)
        results['img'] = mmcv.imresize(
            img, (new_w, new_h),
            interpolation=self.interpolation,
            backend=self.backend)
        keys = list(results.get('seg_fields', []))
        if 'gt_seg_map' in results and 'gt_seg_map' not in keys:
            keys.append('gt_seg_map')
        for key in keys:
            seg = results.get(key)
            if seg is None:
                continue
            backend = 'pillow' if seg.dtype == np.uint8 else 'cv2'
            results[key] = mmcv.imresize(
                seg, (new_w, new_h), interpolation='nearest', backend=backend)
        results['img_shape'] = (new_h, new_w)
        results['scale'] = (new_w, new_h)
        results['scale_factor'] = (new_w / w, new_h / h)
        results['keep_ratio'] = True
        results['resize_long'] = target
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_size={self.min_size}, '
                f'max_size={self.max_size}, '
                f"interpolation='{self.interpolation}', "
                f"backend='{self.backend}')")
