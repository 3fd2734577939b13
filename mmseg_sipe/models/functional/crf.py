"""Dense CRF (Kraehenbuehl & Koltun) as pure functions on numpy arrays.

Backed by ``pydensecrf`` (the maintained ``pydensecrf2`` distribution; the
import name is still ``pydensecrf``).  It is imported lazily so that the rest
of the package works without it; calling a CRF function without it raises an
``ImportError`` that says how to install it.  One owner for both users of the
CRF: SIPE's pseudo labels (:mod:`mmseg_sipe.refine.crf`, ``cam2ir``) and the
stage-two test-time CRF (:mod:`mmseg_sipe.models.postprocess`).

* :func:`crf_inference_label` - CRF of a hard label map (IRN / SIPE
  ``imutils.crf_inference_label``); :func:`crf_inference_labels` - the same
  for several maps of one image on shared pairwise lattices.
* :func:`crf_inference_prob` - CRF of a probability map (deeplab-pytorch's
  test-time CRF, used for stage two).

Colour order: the bilateral kernel uses the same ``srgb`` for all three
channels, so RGB and BGR images give identical results.
"""
from typing import List, Sequence

import numpy as np

_INSTALL_HINT = ('dense CRF needs pydensecrf: `pip install pydensecrf2==1.1` '
                 '(import name `pydensecrf`; needs a C++ compiler; see '
                 'requirements/runtime.txt)')


def _import_densecrf():
    """Return ``(pydensecrf.densecrf, pydensecrf.utils)`` or raise."""
    try:
        import pydensecrf.densecrf as dcrf
        import pydensecrf.utils as dutils
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(f'{_INSTALL_HINT} ({e})') from e
    return dcrf, dutils


def _check_image(img: np.ndarray, height: int, width: int) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'img must be HxWx3, got shape {img.shape}')
    if img.shape[:2] != (height, width):
        raise ValueError(f'img is {img.shape[0]}x{img.shape[1]} but the map '
                         f'is {height}x{width}')
    if img.dtype != np.uint8:
        raise ValueError(f'img must be uint8, got {img.dtype}')
    img = np.ascontiguousarray(img)
    # pydensecrf takes a writable buffer (np.asarray of a PIL image is not)
    return img if img.flags.writeable else img.copy()


def crf_inference_labels(img: np.ndarray,
                         label_maps: Sequence[np.ndarray],
                         n_labels: int,
                         t: int = 10,
                         gt_prob: float = 0.7,
                         gauss_sxy: float = 3,
                         gauss_compat: float = 3,
                         bi_sxy: float = 50,
                         bi_srgb: float = 5,
                         bi_compat: float = 10) -> List[np.ndarray]:
    """:func:`crf_inference_label` of several label maps of one image.

    The Gaussian and bilateral kernels depend only on the image, so their
    permutohedral lattices are built once and every map gets its own unary
    and ``t`` mean-field iterations on them.  Each result is identical to a
    separate :func:`crf_inference_label` call (mean-field starts from the
    unary alone); ``cam2ir`` saves one lattice build and its allocations per
    image this way.

    Args:
        img (ndarray): ``H x W x 3`` uint8 image.
        label_maps (list[ndarray]): ``H x W`` integer labels in
            ``[0, n_labels)`` each.
        n_labels (int): Number of labels.

    Returns:
        list[ndarray]: ``H x W`` int64 labels, one per map.
    """
    maps = [np.asarray(m) for m in label_maps]
    if not maps:
        return []
    n_labels = int(n_labels)
    if n_labels < 1:
        raise ValueError(f'n_labels must be >= 1, got {n_labels}')
    for labels in maps:
        if labels.ndim != 2:
            raise ValueError(f'labels must be HxW, got shape {labels.shape}')
        if labels.shape != maps[0].shape:
            raise ValueError(f'label maps differ in size: {maps[0].shape} '
                             f'and {labels.shape}')
        if labels.size and (labels.min() < 0 or labels.max() >= n_labels):
            raise ValueError(f'labels must lie in [0, {n_labels}), got '
                             f'[{labels.min()}, {labels.max()}]')
    h, w = maps[0].shape
    img = _check_image(img, h, w)
    if n_labels == 1:  # nothing to decide (and the unary would divide by 0)
        return [np.zeros((h, w), np.int64) for _ in maps]
    dcrf, dutils = _import_densecrf()
    d = dcrf.DenseCRF2D(w, h, n_labels)
    d.addPairwiseGaussian(sxy=gauss_sxy, compat=gauss_compat)
    d.addPairwiseBilateral(
        sxy=bi_sxy, srgb=bi_srgb, rgbim=img, compat=bi_compat)
    out = []
    for labels in maps:
        unary = dutils.unary_from_labels(
            labels.astype(np.int64), n_labels, gt_prob=gt_prob,
            zero_unsure=False)
        d.setUnaryEnergy(np.ascontiguousarray(unary))
        q = d.inference(int(t))
        out.append(np.argmax(np.array(q).reshape((n_labels, h, w)), axis=0))
    return out


def crf_inference_label(img: np.ndarray,
                        labels: np.ndarray,
                        n_labels: int,
                        t: int = 10,
                        gt_prob: float = 0.7,
                        gauss_sxy: float = 3,
                        gauss_compat: float = 3,
                        bi_sxy: float = 50,
                        bi_srgb: float = 5,
                        bi_compat: float = 10) -> np.ndarray:
    """Dense CRF of a hard label map (reference parameters as defaults).

    Unary: ``unary_from_labels(labels, n_labels, gt_prob, zero_unsure=False)``;
    pairwise: Gaussian ``(sxy=3, compat=3)`` + bilateral ``(sxy=50, srgb=5,
    compat=10)``; ``t`` mean-field iterations, then argmax.

    Args:
        img (ndarray): ``H x W x 3`` uint8 image.
        labels (ndarray): ``H x W`` integer labels in ``[0, n_labels)``.
        n_labels (int): Number of labels.

    Returns:
        ndarray: ``H x W`` int64 labels in ``[0, n_labels)``.
    """
    return crf_inference_labels(
        img, [labels], n_labels, t=t, gt_prob=gt_prob, gauss_sxy=gauss_sxy,
        gauss_compat=gauss_compat, bi_sxy=bi_sxy, bi_srgb=bi_srgb,
        bi_compat=bi_compat)[0]


def crf_inference_prob(img: np.ndarray,
                       probs: np.ndarray,
                       t: int = 10,
                       pos_w: float = 3,
                       pos_xy_std: float = 1,
                       bi_w: float = 4,
                       bi_xy_std: float = 67,
                       bi_rgb_std: float = 3) -> np.ndarray:
    """Dense CRF of a probability map (deeplab-pytorch test-time defaults).

    Unary ``-log(probs)`` (``unary_from_softmax``); Gaussian
    ``(sxy=pos_xy_std, compat=pos_w)`` + bilateral ``(sxy=bi_xy_std,
    srgb=bi_rgb_std, compat=bi_w)``; ``t`` iterations.

    Args:
        img (ndarray): ``H x W x 3`` uint8 image.
        probs (ndarray): ``C x H x W`` class probabilities (sum to 1 over C).

    Returns:
        ndarray: ``C x H x W`` float32 marginals (sum to 1 over C).
    """
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3:
        raise ValueError(f'probs must be CxHxW, got shape {probs.shape}')
    c, h, w = probs.shape
    img = _check_image(img, h, w)
    if c == 1:
        return np.ones_like(probs)
    dcrf, dutils = _import_densecrf()
    unary = np.ascontiguousarray(dutils.unary_from_softmax(probs))
    d = dcrf.DenseCRF2D(w, h, c)
    d.setUnaryEnergy(unary)
    d.addPairwiseGaussian(sxy=pos_xy_std, compat=pos_w)
    d.addPairwiseBilateral(
        sxy=bi_xy_std, srgb=bi_rgb_std, rgbim=img, compat=bi_w)
    q = d.inference(int(t))
    return np.array(q, dtype=np.float32).reshape((c, h, w))
