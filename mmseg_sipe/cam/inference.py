"""Multi-scale + flip IS-CAM inference (reference ``make_cam.py``).

The method is described in docs/method.md §8.

The default path is *exact*: it gives the reference's numbers (to float32
rounding, checked against a literal transcription in
``benchmarks/naive_sipe.py`` to 1e-4) but

* feeds the network channels-last batches (faster oneDNN convolutions on
  CPU, tensor cores on GPU; the model's weights are not touched);
* uploads each rescaled image once as uint8 and normalises / flips it on the
  device (one small host->device copy per scale, none back until the end),
  with the mean / std and channel order of the model's own
  ``data_preprocessor`` -- the normalisation its training saw
  (:func:`input_normalization`);
* runs the seed step as ``M @ S`` (never the ``[N, K+1, hw, hw]`` broadcast);
* upsamples only the image's own classes to image size (the per-channel
  resize and max-normalisation make this identical to upsampling all
  ``K+1`` channels and picking them afterwards);
* :func:`fold_batchnorm` (used by :func:`~mmseg_sipe.cam.make_cam.make_cams`
  unless ``fold_bn=False``) folds the frozen BatchNorms into the
  convolutions once per run.

Scales cannot share a batch (their sizes differ and zero padding would
change the features near the border); each (image, flip) pair is one batch.

``amp='bf16'`` / ``'fp16'`` wraps only the network in ``torch.autocast``; the
seed / prototype / normalisation math stays float32 (the functional module
casts its inputs).  On a CPU without fast float16 kernels ``'fp16'`` is
rejected with a message (use ``'bf16'``); see :func:`autocast_context`.
"""
import contextlib
import copy
import warnings
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..models.functional import flip_fuse, fuse_multiscale
from ..utils.amp import AMP_DTYPES, autocast_context  # noqa: F401
from ..utils.device import tf32, to_device

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_SCALES = (1.0, 0.5, 1.5, 2.0)


def rescale_bicubic(img: np.ndarray, scale: float) -> np.ndarray:
    """PIL bicubic resize to ``(round(h*s), round(w*s))`` (reference
    ``pil_rescale``).  ``img``: ``[H, W, 3]`` uint8."""
    if scale == 1.0:
        return img
    h, w = img.shape[:2]
    size = (int(round(w * scale)), int(round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC))


class InputNormalization(NamedTuple):
    """How a model's ``data_preprocessor`` prepares an image in training.

    ``mean`` / ``std``: ``[3]`` float32 on the 0-255 scale, in the network's
    channel order, or ``None`` when the preprocessor does not normalise;
    ``rgb``: whether the network sees RGB (the loaders give BGR and
    ``bgr_to_rgb=True`` converts), else BGR.
    """
    mean: Optional[Tensor]
    std: Optional[Tensor]
    rgb: bool


def input_normalization(model) -> InputNormalization:
    """The normalisation of ``model.data_preprocessor`` (the training path).

    Inference computes ``(x - mean) / std`` with the preprocessor's own
    numbers, as the preprocessor does in training.  For the ImageNet numbers
    every config uses this equals the reference's ``(x / 255 - 0.485) /
    0.229`` (etc.) up to float32 rounding (``<= 1e-6`` on the normalised
    image); a model trained with other numbers (an mmpretrain or CLIP-style
    backbone) gets the inputs its training saw.

    Raises:
        ValueError: ``model`` has no ``data_preprocessor``.
    """
    pre = getattr(model, 'data_preprocessor', None)
    if pre is None:
        raise ValueError(
            f'{type(model).__name__} has no data_preprocessor: make_cam '
            'normalises its inputs the way the model was trained (the '
            "config's model.data_preprocessor)")
    # the flag is `_channel_conversion` in mmengine's ImgDataPreprocessor
    # (the fork's SegDataPreProcessor), `channel_conversion` in mmseg 1.2's
    rgb = bool(getattr(pre, '_channel_conversion',
                       getattr(pre, 'channel_conversion', False)))
    if not getattr(pre, '_enable_normalize', False):
        return InputNormalization(None, None, rgb)
    # stays on the model's device: no host round trip per image
    mean = pre.mean.detach().float().flatten()
    std = pre.std.detach().float().flatten()
    if mean.numel() != 3 or std.numel() != 3:
        raise ValueError(
            'make_cam needs a 3-channel data_preprocessor mean / std, got '
            f'{mean.numel()} / {std.numel()} values')
    return InputNormalization(mean, std, rgb)


#: ``InputNormalization`` of the ImageNet-normalised RGB configs
#: (``IMAGENET_MEAN`` / ``IMAGENET_STD`` x 255, as the configs write them).
IMAGENET_NORMALIZATION = InputNormalization(
    torch.tensor([123.675, 116.28, 103.53]),
    torch.tensor([58.395, 57.12, 57.375]), True)


def normalize_rgb(img: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB -> ``[3, H, W]`` float32, ImageNet-normalised
    exactly as the reference (``x/255``, then mean/std)."""
    x = (img.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def label_keys(img_labels: np.ndarray) -> np.ndarray:
    """Class keys of an image: ``[0, k1+1, k2+1, ...]`` (background first,
    ascending), from a multi-hot ``[K]`` label vector."""
    fg = np.nonzero(np.asarray(img_labels).reshape(-1) > 0)[0] + 1
    return np.concatenate([[0], fg]).astype(np.int64)


def fold_batchnorm(model: torch.nn.Module,
                   check_size: int = 64,
                   rtol: float = 1e-3) -> torch.nn.Module:
    """Eval-mode copy of ``model`` with each BatchNorm folded into the
    convolution before it (inference only; exact up to float rounding).

    With frozen statistics ``BN(Wx + b) = (g/s) W x + (g/s)(b - m) + beta``
    (``s = sqrt(var + eps)``), so the folded network skips one memory pass
    per BN layer (measured gain: ``docs/benchmarks.md``, ``exact`` vs
    ``exact_nofold``).  Pairs are found by registration order
    (``mmcv.cnn.fuse_conv_bn``: a BN registered right after a conv), which
    holds for ResNet-style backbones.  Because that rule can be wrong for
    another backbone, the folded copy is checked against ``model`` on a
    random ``check_size`` input; if folding fails or any output differs by
    more than ``rtol`` of its magnitude, ``model`` is returned unchanged with
    a warning.

    Args:
        model: a :class:`SIPEClassifier` (not modified; its train/eval mode
            is restored).
        check_size: side of the random check image.
        rtol: allowed ``max |diff| / max |ref|`` per output.

    Returns:
        nn.Module: the folded copy in eval mode; ``model`` itself when it
        has no BatchNorm with running statistics and an affine transform
        (nothing to fold) or when folding is not safe.
    """
    from mmcv.cnn import fuse_conv_bn
    bn_types = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.SyncBatchNorm)
    bns = [m for m in model.modules() if isinstance(m, bn_types)]
    if not bns:
        return model  # nothing to fold (e.g. a LayerNorm backbone)
    if not all(m.affine and m.track_running_stats for m in bns):
        warnings.warn('fold_batchnorm: a BatchNorm without affine weights or '
                      'running statistics cannot be folded; using the '
                      'unfolded network.')
        return model

    was_training = model.training
    model.eval()
    param = next(model.parameters())
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, check_size, check_size, generator=gen).to(
        device=param.device, dtype=param.dtype)
    try:
        folded = fuse_conv_bn(copy.deepcopy(model)).eval()
        # float32 on CUDA too: TF32 convolutions alone can differ by ~1e-3
        with torch.no_grad(), tf32(param.device, False):
            ref, got = model.forward_features(x), folded.forward_features(x)
        errs = {}
        for key in ('cam', 'hie'):
            scale = ref[key].float().abs().max().clamp(min=1e-12)
            errs[key] = float(
                (ref[key].float() - got[key].float()).abs().max() / scale)
    except Exception as e:  # noqa: BLE001  (any failure: keep the original)
        warnings.warn(f'fold_batchnorm: folding failed ({type(e).__name__}: '
                      f'{e}); using the unfolded network.')
        return model
    finally:
        model.train(was_training)
    bad = {k: v for k, v in errs.items() if not v <= rtol}
    if bad:
        warnings.warn(
            'fold_batchnorm: the folded network differs from the original '
            f'(relative error {bad} > {rtol}; a BatchNorm is probably '
            'registered right after a convolution it does not follow); '
            'using the unfolded network.')
        return model
    return folded


def flip_pair(img: np.ndarray, device: torch.device,
              channels_last: bool = True,
              norm: InputNormalization = IMAGENET_NORMALIZATION) -> Tensor:
    """``[2, 3, h, w]`` float32 batch (image, horizontal flip) on ``device``.

    The uint8 image is copied to the device once (on CUDA without a host
    synchronisation, :func:`~mmseg_sipe.utils.device.to_device`) and
    normalised there by ``norm`` (:func:`input_normalization` of the model;
    default: the ImageNet numbers of the configs, equal to
    :func:`normalize_rgb` up to float32 rounding).  With ``channels_last``
    the batch is laid out NHWC (no extra copy: it is built in HWC order).

    Args:
        img: ``[h, w, 3]`` uint8 RGB.
    """
    if not norm.rgb:
        img = img[..., ::-1]
    # uint8, C-contiguous and writable (PIL arrays are read-only)
    x = to_device(torch.from_numpy(np.require(img, np.uint8, ['C', 'W'])),
                  device)
    if norm.mean is None:
        x = x.float()
    else:
        mean = to_device(norm.mean, device)
        std = to_device(norm.std, device)
        x = (x.float() - mean) / std  # [h, w, 3], as the preprocessor
    batch = torch.stack([x, x.flip(1)]).permute(0, 3, 1, 2)  # NHWC strides
    return batch if channels_last else batch.contiguous()


@torch.no_grad()
def scale_is_cam(model, batch: Tensor, label_mask: Tensor,
                 seed_feature: str = 'hie',
                 amp: Optional[str] = None,
                 channels_last: bool = True) -> Tuple[Tensor, Tensor]:
    """IS-CAM of one scale from an (image, flipped image) pair.

    Reference ``CAM.forward``: CAM logits and hierarchical features are
    flip-fused by summation; seeds use ``seed_feature`` (``'hie'`` in the
    reference make_cam); the normalised CAM is not label-masked (only the
    seeds are).

    Args:
        model: a :class:`SIPEClassifier`.
        batch: ``[2, 3, h, w]`` normalised image and its horizontal flip.
        label_mask: ``[1, K+1, 1, 1]`` (background 1, then the labels).
        amp: ``None``, ``'bf16'`` or ``'fp16'``: autocast around the network
            only.
        channels_last: feed the network a channels-last batch (same values;
            the model's weights are not changed).

    Returns:
        ``(is_cam [K+1, h', w'], cam [K, h', w'])`` float32, with
        ``h' = ceil(h/16)``; ``cam`` is the plain flip-summed ReLU CAM (IRN).
        A model with its own ``localization_maps(batch, label_mask, amp)``
        method (SFC, docs/method.md §17.4) makes the maps itself; they may
        have a leading group dimension (``[G, K+1, h', w']``), which its
        ``fuse_localization_maps`` then fuses.
    """
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    own_maps = getattr(model, 'localization_maps', None)
    if own_maps is not None:  # dispatch by the model, not by config names
        return own_maps(batch, label_mask, amp=amp)
    with autocast_context(batch.device, amp):
        out = model.forward_features(batch)
    with _no_autocast(batch.device, amp):  # the SIPE math stays float32
        cam = flip_fuse(out['cam'].float())[None]
        hie = flip_fuse(out['hie'].float())[None]
        x4 = flip_fuse(out['feats'][-1].float())[None] \
            if seed_feature == 'x4' else None
        del out  # free the backbone stages before the seed step
        labels = label_mask[:, 1:, 0, 0]
        res = model.compute_is_cam(
            cam, hie, x4, label_mask, labels, seed_feature, mask_cam=False)
        return res['is_cam'][0].float(), cam[0].clamp(min=0)


def _no_autocast(device: torch.device, amp: Optional[str]):
    """Autocast switched off (only needed when ``amp`` is on)."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type,
                          enabled=False)


@torch.inference_mode()
def multiscale_is_cam(model,
                      img: np.ndarray,
                      img_labels: np.ndarray,
                      scales: Sequence[float] = DEFAULT_SCALES,
                      seed_feature: str = 'hie',
                      amp: Optional[str] = None,
                      device: Optional[torch.device] = None,
                      return_cam: bool = False,
                      channels_last: bool = True,
                      allow_tf32: bool = False) -> Tuple[np.ndarray, ...]:
    """Multi-scale + flip IS-CAM of one image (docs/method.md §8).

    Each scale: PIL-bicubic rescale, normalise (as the model's
    ``data_preprocessor``, :func:`input_normalization`), stack with the
    flip, IS-CAM.
    Fusion: sum of bilinear (``align_corners=False``) upsamplings straight to
    the image size, then per-channel max normalisation.

    Args:
        model: a :class:`SIPEClassifier` in eval mode.
        img: ``[H, W, 3]`` uint8 **RGB**.
        img_labels: multi-hot ``[K]``.
        scales: image scales (reference ``(1.0, 0.5, 1.5, 2.0)``).
        seed_feature: ``'hie'`` (reference make_cam) or ``'x4'``.
        amp: ``None`` (float32), ``'bf16'`` or ``'fp16'``; autocast around
            the network only (see :func:`autocast_context`).
        device: where to compute (default: the model's device).
        return_cam: also return the plain multi-scale CAM (IRN's
            ``high_res``: sum of upsampled ReLU CAMs, max-normalised) with a
            background channel ``1 - max_k CAM_k`` in front.
        channels_last: channels-last network input (default; same values).
        allow_tf32: on CUDA, let cuDNN convolutions and matmuls use
            TensorFloat-32 inside the call (faster on Ampere and later, but
            no longer float32-exact: about 1e-3 relative per layer).  The
            default ``False`` switches TF32 off inside the call whatever the
            process-wide flags say, so the float32 path matches the CPU to
            float rounding; ignored on other devices and under ``amp``'s
            low-precision convolutions.

    Returns:
        ``(keys [K_img+1], is_cam [K_img+1, H, W])`` float32, ``keys[0] == 0``;
        plus ``cam [K_img+1, H, W]`` if ``return_cam``.

    Runs under ``torch.inference_mode`` (no autograd bookkeeping; only numpy
    arrays leave the function).  On CUDA the only host synchronisation is
    the copy of the result at the end: inputs go up through pinned memory
    and nothing inside the per-scale loop waits for the device.
    """
    device = torch.device(device) if device is not None else next(
        model.parameters()).device
    autocast_context(device, amp)  # reject a bad / unsupported amp up front
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError('img must be an [H, W, 3] uint8 RGB array, got '
                         f'{img.dtype} {img.shape}')
    norm = input_normalization(model)
    keys = label_keys(img_labels)
    k = int(np.asarray(img_labels).size)
    mask = np.zeros((1, k + 1, 1, 1), np.float32)
    mask[0, keys, 0, 0] = 1
    label_mask = to_device(torch.from_numpy(mask), device)
    idx = to_device(torch.from_numpy(keys), device)
    per_scale: List[Tensor] = []
    per_scale_cam: List[Tensor] = []
    # One autocast region around all scales: autocast caches the low
    # precision copies of the weights for the life of the outermost region,
    # so they are cast once per image instead of once per scale.  Only the
    # network runs with autocast on (scale_is_cam switches it off for the
    # SIPE math; the pre-processing has no autocast-listed ops).
    with autocast_context(device, amp), tf32(device, allow_tf32):
        for s in scales:
            batch = flip_pair(rescale_bicubic(img, s), device, channels_last,
                              norm)
            is_cam, cam = scale_is_cam(model, batch, label_mask,
                                       seed_feature, amp, channels_last)
            # keep only the image's classes: the fusion is per channel
            per_scale.append(is_cam[..., idx, :, :])
            if return_cam:
                per_scale_cam.append(cam[idx[1:] - 1])
    fuse = getattr(model, 'fuse_localization_maps', fuse_multiscale)
    fused = fuse(per_scale, size=img.shape[:2])
    if not return_cam:
        return keys, fused.cpu().numpy()
    if len(keys) > 1:
        fg = fuse_multiscale(per_scale_cam, size=img.shape[:2])
        bg = 1 - fg.max(0, keepdim=True)[0]
    else:  # no foreground class: the background is 1 everywhere
        fg = fused.new_zeros((0, ) + tuple(fused.shape[1:]))
        bg = torch.ones_like(fused[:1])
    return keys, fused.cpu().numpy(), torch.cat([bg, fg]).cpu().numpy()
