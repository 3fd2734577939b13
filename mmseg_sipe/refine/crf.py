"""Step 3, dense CRF: IS-CAM -> IR labels (SIPE ``cam2ir.py``) and CRF pseudo
labels (the COCO route).

The CRF itself (:func:`crf_inference_label`, :func:`crf_inference_labels`,
:func:`crf_inference_prob`) lives in :mod:`mmseg_sipe.models.functional.crf`
and is re-exported here.

* :func:`cam_to_ir_label` - SIPE ``cam2ir.py``: IS-CAM -> IR label (confident
  foreground class / background 0 / uncertain 255).
* :func:`crf_refine_label` - dense-CRF pseudo label without uncertain pixels
  (the COCO path, where SIPE replaces IRN by the CRF).
* :class:`DenseCRF` - the above behind one registered, picklable callable.
* :func:`run_in_pool` - map a function over items with a process pool.
"""
import multiprocessing as mp
from typing import Any, Callable, Iterable, List, Optional, Sequence

import numpy as np

from mmseg_sipe.registry import TASK_UTILS

from ..models.functional.crf import (crf_inference_label,  # noqa: F401
                                     crf_inference_labels,
                                     crf_inference_prob)

def _check_cam(is_cam: np.ndarray, keys) -> tuple:
    is_cam = np.asarray(is_cam)
    keys = np.asarray(keys)
    if is_cam.ndim != 3:
        raise ValueError(f'is_cam must be (K+1)xHxW, got shape {is_cam.shape}')
    if keys.ndim != 1 or keys.shape[0] != is_cam.shape[0]:
        raise ValueError(f'keys has {keys.size} entries but is_cam has '
                         f'{is_cam.shape[0]} channels')
    if keys.shape[0] == 0 or keys[0] != 0:
        raise ValueError('keys[0] must be 0 (the background channel), got '
                         f'{keys.tolist()}')
    if keys.max() > 254:
        raise ValueError(f'class ids must be < 255, got {keys.max()}')
    return is_cam, keys.astype(np.int64)


def _argmax_bg_scaled(is_cam: np.ndarray, bg_scale: float) -> np.ndarray:
    """``[K+1, H, W]`` maps -> ``[H, W]`` argmax over channels, with channel
    0 multiplied by ``bg_scale`` first (the input is not modified)."""
    if bg_scale == 1.0:
        return np.argmax(is_cam, axis=0)
    cam = is_cam.copy()
    cam[0] = cam[0] * bg_scale
    return np.argmax(cam, axis=0)


def crf_refine_label(img: np.ndarray, is_cam: np.ndarray, keys,
                     bg_scale: float = 1.0, **crf_kwargs) -> np.ndarray:
    """``keys[crf(argmax(IS-CAM))]``: a dense-CRF pseudo label, no ignore.

    Step 1 of :func:`cam_to_ir_label` on its own (with ``bg_scale`` applied
    to the background channel first; 1.0 = unchanged).  This is the COCO
    pseudo label when IRN is replaced by the CRF and uncertain pixels are not
    to be ignored (the reference leaves that choice open; SIPE's issue #8
    counts the uncertain area as background, which this gives for
    ``bg_scale=1``).

    Args:
        img (ndarray): ``H x W x 3`` uint8 image.
        is_cam (ndarray): ``(K+1) x H x W`` IS-CAM, channel 0 background.
        keys (array): ``K+1`` class ids, ``keys[0] == 0``.
        bg_scale (float): Factor on the background channel before argmax.
        **crf_kwargs: Passed to :func:`crf_inference_label`.

    Returns:
        ndarray: ``H x W`` uint8 class ids.
    """
    is_cam, keys = _check_cam(is_cam, keys)
    pred = crf_inference_label(img, _argmax_bg_scaled(is_cam, bg_scale),
                               len(keys), **crf_kwargs)
    return keys[pred].astype(np.uint8)


def cam_to_ir_label(img: np.ndarray, is_cam: np.ndarray, keys,
                    bg_scale: float = 0.5, ignore_index: int = 255,
                    **crf_kwargs) -> np.ndarray:
    """SIPE ``cam2ir.py``: IR label of one image.

    1. ``fg = keys[crf(argmax(IS-CAM))]``;
    2. ``bg = keys[crf(argmax(IS-CAM with channel 0 * bg_scale))]``;
    3. ``conf = fg; conf[fg == 0] = 255; conf[fg + bg == 0] = 0``.

    So a pixel is a foreground class where the plain CRF says so, background
    only where both CRFs say background, and 255 (uncertain) where the plain
    CRF says background but the weakened-background one does not.  The two
    CRFs share their pairwise lattices (:func:`crf_inference_labels`); the
    result equals two separate :func:`crf_refine_label` calls.  The input is
    not modified.

    Args:
        img (ndarray): ``H x W x 3`` uint8 image.
        is_cam (ndarray): ``(K+1) x H x W`` max-normalised IS-CAM.
        keys (array): ``K+1`` class ids (``keys[0] == 0``).
        bg_scale (float): Background factor of step 2 (0.5).
        ignore_index (int): Value of uncertain pixels (255).
        **crf_kwargs: Passed to :func:`crf_inference_labels`.

    Returns:
        ndarray: ``H x W`` uint8 IR label.
    """
    is_cam, keys = _check_cam(is_cam, keys)
    fg, bg = (keys[p].astype(np.uint8) for p in crf_inference_labels(
        img, [_argmax_bg_scaled(is_cam, 1.0),
              _argmax_bg_scaled(is_cam, bg_scale)], len(keys), **crf_kwargs))
    conf = fg.copy()
    conf[fg == 0] = ignore_index
    conf[(fg.astype(np.int64) + bg) == 0] = 0
    return conf


@TASK_UTILS.register_module()
class DenseCRF:
    """A configured dense CRF, callable on one image.

    Modes:

    * ``'cam2ir'``: ``crf(img, is_cam, keys)`` -> :func:`cam_to_ir_label`;
    * ``'refine'``: ``crf(img, is_cam, keys)`` -> :func:`crf_refine_label`;
    * ``'label'``: ``crf(img, labels, n_labels=n)`` ->
      :func:`crf_inference_label`;
    * ``'prob'``: ``crf(img, probs)`` -> :func:`crf_inference_prob`.

    ``params`` are the keyword arguments of the chosen function (e.g.
    ``bg_scale``, ``t``, ``gt_prob``, ``bi_sxy`` ...).  Instances are plain
    picklable objects, so they can be sent to :func:`run_in_pool` workers.

    Example:
        >>> crf = TASK_UTILS.build(dict(type='DenseCRF', mode='cam2ir'))
        >>> ir_label = crf(img_rgb, is_cam, keys)
    """
    MODES = ('cam2ir', 'refine', 'label', 'prob')

    def __init__(self, mode: str = 'cam2ir', **params: Any) -> None:
        if mode not in self.MODES:
            raise ValueError(f'DenseCRF mode must be one of {self.MODES}, '
                             f'got {mode!r}')
        self.mode = mode
        self.params = dict(params)

    def __call__(self, img: np.ndarray, data: np.ndarray,
                 keys: Optional[Sequence[int]] = None,
                 n_labels: Optional[int] = None) -> np.ndarray:
        if self.mode in ('cam2ir', 'refine'):
            if keys is None:
                raise ValueError(f"DenseCRF(mode='{self.mode}') needs keys")
            fn = cam_to_ir_label if self.mode == 'cam2ir' else \
                crf_refine_label
            return fn(img, data, keys, **self.params)
        if self.mode == 'label':
            if n_labels is None:
                n_labels = int(np.max(data)) + 1
            return crf_inference_label(img, data, n_labels, **self.params)
        return crf_inference_prob(img, data, **self.params)

    def __repr__(self) -> str:
        return f'DenseCRF(mode={self.mode!r}, params={self.params!r})'


def run_in_pool(fn: Callable[[Any], Any],
                items: Iterable[Any],
                num_workers: int = 0,
                chunksize: int = 1,
                start_method: Optional[str] = 'spawn') -> List[Any]:
    """``[fn(item) for item in items]``, optionally in worker processes.

    With ``num_workers <= 1`` everything runs inline (no processes).
    Otherwise a ``multiprocessing`` pool of ``num_workers`` processes started
    with ``start_method`` (``'spawn'`` by default: safe with torch and with
    threads; ``fn`` and the items must then be picklable, i.e. ``fn`` defined
    at module level or a :class:`DenseCRF`-like object).  Results keep the
    order of ``items``.  Use it inside each rank to spread CRFs over CPUs.
    """
    items = list(items)
    if num_workers is None or num_workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    ctx = mp.get_context(start_method)
    with ctx.Pool(processes=min(int(num_workers), len(items))) as pool:
        return list(pool.imap(fn, items, chunksize=max(1, int(chunksize))))
