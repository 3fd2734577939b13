"""Multi-scale + flip IS-CAM inference (reference ``make_cam.py``, §6.1)."""
import contextlib
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..models.functional import flip_fuse, fuse_multiscale

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


def autocast_context(device: torch.device, amp: Optional[str]):
    """``torch.autocast`` for ``amp`` in {None, 'bf16', 'fp16'}."""
    if not amp:
        return contextlib.nullcontext()
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}[amp]
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def scale_is_cam(model, batch: Tensor, label_mask: Tensor,
                 seed_feature: str = 'hie',
                 amp: Optional[str] = None) -> Tensor:
    """IS-CAM of one scale from an (image, flipped image) pair.

    Reference ``CAM.forward``: CAM logits and hierarchical features are
    flip-fused by summation; seeds use ``seed_feature`` (``'hie'`` in the
    reference make_cam); the normalised CAM is not label-masked (only the
    seeds are).

    Args:
        model: a :class:`SIPEClassifier`.
        batch: ``[2, 3, h, w]`` normalised image and its horizontal flip.
        label_mask: ``[1, K+1, 1, 1]`` (background 1, then the labels).

    Returns:
        ``(is_cam [K+1, h', w'], cam [K, h', w'])`` float32, with
        ``h' = ceil(h/16)``; ``cam`` is the plain flip-summed ReLU CAM (IRN).
    """
    with autocast_context(batch.device, amp):
        out = model.forward_features(batch)
    cam = flip_fuse(out['cam'].float())[None]
    hie = flip_fuse(out['hie'].float())[None]
    x4 = flip_fuse(out['feats'][-1].float())[None] \
        if seed_feature == 'x4' else None
    labels = label_mask[:, 1:, 0, 0]
    res = model.compute_is_cam(
        cam, hie, x4, label_mask, labels, seed_feature, mask_cam=False)
    return res['is_cam'][0].float(), cam[0].clamp(min=0)


@torch.no_grad()
def multiscale_is_cam(model,
                      img: np.ndarray,
                      img_labels: np.ndarray,
                      scales: Sequence[float] = DEFAULT_SCALES,
                      seed_feature: str = 'hie',
                      amp: Optional[str] = None,
                      device: Optional[torch.device] = None,
                      return_cam: bool = False) -> Tuple[np.ndarray, ...]:
    """Multi-scale + flip IS-CAM of one image (reference §6.1).

    Each scale: PIL-bicubic rescale, normalise, stack with the flip, IS-CAM.
    Fusion: sum of bilinear (``align_corners=False``) upsamplings straight to
    the image size, then per-channel max normalisation.

    Args:
        model: a :class:`SIPEClassifier` in eval mode.
        img: ``[H, W, 3]`` uint8 **RGB**.
        img_labels: multi-hot ``[K]``.

        return_cam: also return the plain multi-scale CAM (IRN's
            ``high_res``: sum of upsampled ReLU CAMs, max-normalised) with a
            background channel ``1 - max_k CAM_k`` in front.

    Returns:
        ``(keys [K_img+1], is_cam [K_img+1, H, W])`` float32, ``keys[0] == 0``;
        plus ``cam [K_img+1, H, W]`` if ``return_cam``.
    """
    device = device or next(model.parameters()).device
    keys = label_keys(img_labels)
    k = int(np.asarray(img_labels).size)
    label_mask = torch.zeros(1, k + 1, 1, 1, device=device)
    label_mask[0, keys, 0, 0] = 1
    per_scale: List[Tensor] = []
    per_scale_cam: List[Tensor] = []
    for s in scales:
        x = torch.from_numpy(normalize_rgb(rescale_bicubic(img, s)))
        batch = torch.stack([x, x.flip(-1)]).to(device)
        is_cam, cam = scale_is_cam(model, batch, label_mask, seed_feature,
                                   amp)
        per_scale.append(is_cam)
        if return_cam:
            per_scale_cam.append(cam)
    idx = torch.from_numpy(keys).to(device)
    fused = fuse_multiscale(per_scale, size=img.shape[:2])[idx]
    if not return_cam:
        return keys, fused.cpu().numpy()
    fg = fuse_multiscale(per_scale_cam, size=img.shape[:2])[idx[1:] - 1]
    bg = 1 - (fg.max(0, keepdim=True)[0] if len(fg) else
              torch.zeros_like(fused[:1]))
    return keys, fused.cpu().numpy(), torch.cat([bg, fg]).cpu().numpy()
