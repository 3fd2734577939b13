"""Naive baseline: SIPE's method transcribed literally.

This is the yardstick the benchmark measures ``mmseg_sipe`` against.  It is
deliberately *not* optimised: every step follows the wording of
``docs/method.md`` (§2-§5 IPE, §6 losses, §8 make_cam; section numbers below
refer to that page), the
way the reference code (chenqi1126/SIPE ``network/resnet50_SIPE.py``,
``make_cam.py``) computes it:

* NCHW float32 everywhere (no channels-last, no autocast);
* the structure similarity of §3 through the broadcast
  ``correlation [N,1,hw,hw] * cam [N,K+1,1,hw] -> [N,K+1,hw,hw]`` (no
  ``M @ S``), with autograd tracking it in training as the reference does;
* prototypes as ``adaptive_avg_pool2d`` of the ``[N,K+1,C,h,w]`` product and
  IS-CAM through ``torch.cosine_similarity`` with broadcasting (§4, §5);
* one scale at a time, every channel upsampled to image size before the
  label channels are picked (§8), results copied to the host at the end;
* ``cam2ir`` (§9) as ``cam2ir.py:_work``: two independent
  ``crf_inference_label`` calls per image (each building its own
  ``DenseCRF2D`` and lattices), glibc's default heap, the PNG written in
  place.

The network weights are those of the :class:`SIPEClassifier` passed in (its
backbone, side convolutions and classifier modules are called directly), so
the naive and fast paths can be compared number for number.  Nothing here is
used by the package itself.
"""
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# ---------------------------------------------------------------------------
# network (§1): backbone, hierarchical feature, CAM logits
# ---------------------------------------------------------------------------
def naive_network(model, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """``(cam logits [N,K,h,w], hie [N,768,h,w], x4 [N,2048,h,w])``.

    §1.2: each side conv on a detached stage, L2-normalised per pixel with
    ``+1e-5`` on the norm, *then* bilinearly resized (``align_corners=False``)
    to the stride-16 grid, concatenated.
    """
    feats = list(model.backbone(x))
    size = feats[2].shape[2:]
    parts = []
    for conv, f in zip(model.head.sides, feats):
        s = conv(f.detach())
        s = s / (torch.norm(s, p=2, dim=1, keepdim=True) + 1e-5)
        parts.append(
            F.interpolate(s, size=size, mode='bilinear', align_corners=False))
    hie = torch.cat(parts, dim=1)
    cam = model.head.classifier(feats[-1])
    return cam, hie, feats[-1]


# ---------------------------------------------------------------------------
# IPE (§2-§5)
# ---------------------------------------------------------------------------
def naive_norm_cam(cam: Tensor) -> Tensor:
    """§2: ReLU, per-class spatial max-norm, background ``1 - max_k``,
    then the (identity) ``align_corners=True`` resize.  ``[N,K+1,h,w]``."""
    h, w = cam.shape[2:]
    norm_cam = F.relu(cam)
    norm_cam = norm_cam / (F.adaptive_max_pool2d(norm_cam, (1, 1)) + 1e-5)
    cam_bkg = 1 - torch.max(norm_cam, dim=1)[0].unsqueeze(1)
    norm_cam = torch.cat([cam_bkg, norm_cam], dim=1)
    return F.interpolate(
        norm_cam, size=(h, w), mode='bilinear', align_corners=True)


def naive_get_seed(norm_cam: Tensor, label: Tensor, feature: Tensor,
                   bg_weight: float = 0.5) -> Tuple[Tensor, Tensor]:
    """§3 literally: the ``[N, K+1, hw, hw]`` broadcast.

    Returns ``(seeds [N,K+1,h,w], probs)``; ``probs`` is computed and unused
    as in the reference.
    """
    n, c, h, w = norm_cam.shape
    seeds = torch.zeros((n, h, w, c), device=norm_cam.device)
    feature_s = feature.view(n, -1, h * w)
    feature_s = feature_s / (
        torch.norm(feature_s, dim=1, keepdim=True) + 1e-5)
    correlation = F.relu(
        torch.matmul(feature_s.transpose(2, 1), feature_s)).unsqueeze(1)
    cam_flatten = norm_cam.view(n, -1, h * w).unsqueeze(2)  # [n,K+1,1,hw]
    inter = (correlation * cam_flatten).sum(-1)  # [n,K+1,hw,hw] -> sum
    union = correlation.sum(-1) + cam_flatten.sum(-1) - inter
    miou = (inter / union).view(n, c, h, w)
    miou[:, 0] = miou[:, 0] * bg_weight
    probs = F.softmax(miou, dim=1)
    belonging = miou.argmax(1)
    seeds = seeds.scatter_(-1, belonging.view(n, h, w, 1), 1)
    seeds = seeds.permute(0, 3, 1, 2).contiguous()
    return seeds * label, probs


def naive_get_prototype(seeds: Tensor, feature: Tensor) -> Tensor:
    """§4: ``adaptive_avg_pool2d(seeds * feature)`` over the
    ``[N, K+1, C, h, w]`` product.  Returns ``[N, K+1, C, 1, 1]``."""
    n, k1, h, w = seeds.shape
    prod = seeds.unsqueeze(2) * feature.unsqueeze(1)  # [N,K+1,C,h,w]
    pooled = F.adaptive_avg_pool2d(prod.view(n, -1, h, w), 1)
    return pooled.view(n, k1, -1, 1, 1)


def naive_reactivate(prototypes: Tensor, feature: Tensor) -> Tensor:
    """§5: ``ReLU(cosine_similarity(F, P_k))`` by broadcasting, then the
    identity ``align_corners=True`` resize.  ``[N, K+1, h, w]``."""
    h, w = feature.shape[2:]
    is_cam = F.relu(
        torch.cosine_similarity(feature.unsqueeze(1), prototypes, dim=2))
    return F.interpolate(
        is_cam, size=(h, w), mode='bilinear', align_corners=True)


# ---------------------------------------------------------------------------
# stage-one training forward + losses (§2-§6)
# ---------------------------------------------------------------------------
def naive_train_losses(model, inputs: Tensor, valid_mask: Tensor,
                       labels: Tensor) -> Dict[str, Tensor]:
    """Reference ``Net.forward`` + ``train`` losses on normalised inputs.

    Args:
        inputs: ``[N, 3, H, W]`` normalised crops.
        valid_mask: ``[N, 1, H, W]`` 1 on image pixels, 0 on padding.
        labels: ``[N, K]`` multi-hot.

    Returns:
        ``dict(loss_cls, loss_gsc)`` (weights 1, as the reference).
    """
    cam, hie, x4 = naive_network(model, inputs * valid_mask)
    score = F.adaptive_avg_pool2d(cam, (1, 1))
    vm = F.interpolate(valid_mask, size=cam.shape[2:], mode='nearest')
    bg_fg = torch.cat([labels.new_ones(labels.shape[0], 1), labels], 1)
    vm = vm * bg_fg[:, :, None, None]  # [N, K+1, h, w]
    norm_cam = naive_norm_cam(cam) * vm
    seeds, _ = naive_get_seed(norm_cam.clone(), vm.clone(), x4.clone())
    prototypes = naive_get_prototype(seeds, hie)
    is_cam = naive_reactivate(prototypes, hie)
    loss_cls = F.multilabel_soft_margin_loss(score, labels[:, :, None, None])
    is_n = is_cam / (F.adaptive_max_pool2d(is_cam, (1, 1)) + 1e-5)
    loss_gsc = torch.mean(torch.abs(norm_cam - is_n))
    return dict(loss_cls=loss_cls, loss_gsc=loss_gsc)


# ---------------------------------------------------------------------------
# make_cam (§8)
# ---------------------------------------------------------------------------
def naive_preprocess(img: np.ndarray, scale: float) -> Tensor:
    """PIL bicubic rescale, ``x/255`` then ImageNet mean/std, CHW, stacked
    with its horizontal flip: ``[2, 3, h, w]`` float32 on the CPU."""
    if scale != 1.0:
        h, w = img.shape[:2]
        img = np.asarray(
            Image.fromarray(img).resize(
                (int(round(w * scale)), int(round(h * scale))),
                Image.BICUBIC))
    x = (img.astype(np.float32) / 255.0 - MEAN) / STD
    x = x.transpose(2, 0, 1)
    return torch.from_numpy(np.stack([x, np.flip(x, -1)], 0).copy())


@torch.no_grad()
def naive_cam_forward(model, x: Tensor, label: Tensor) -> Tensor:
    """Reference ``CAM.forward`` on an (image, flip) pair: flip-summed CAM and
    hierarchical feature, unmasked normalised CAM, seeds on ``hie``.
    Returns ``IS_cam[0]`` ``[K+1, h, w]``."""
    cam, hie, _ = naive_network(model, x)
    cam = (cam[0] + cam[1].flip(-1)).unsqueeze(0)
    hie = (hie[0] + hie[1].flip(-1)).unsqueeze(0)
    norm_cam = naive_norm_cam(cam)
    seeds, _ = naive_get_seed(norm_cam.clone(), label.unsqueeze(0).clone(),
                              hie.clone())
    prototypes = naive_get_prototype(seeds, hie)
    return naive_reactivate(prototypes, hie)[0]


@torch.no_grad()
def naive_multiscale_is_cam(model, img: np.ndarray, img_labels: np.ndarray,
                            scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
                            device=None) -> Tuple[np.ndarray, np.ndarray]:
    """Reference ``make_cam.py:_work`` for one image.

    Args:
        model: a :class:`SIPEClassifier` (NCHW float32, eval mode).
        img: ``[H, W, 3]`` uint8 RGB.
        img_labels: multi-hot ``[K]``.

    Returns:
        ``(keys, IS_CAM [K_img+1, H, W] float32)``, ``keys[0] == 0``.
    """
    device = device or next(model.parameters()).device
    h, w = img.shape[:2]
    label = torch.from_numpy(
        np.concatenate([[1.0], np.asarray(img_labels, np.float32)])).float()
    label = label.view(-1, 1, 1).to(device)
    outputs = [
        naive_cam_forward(model, naive_preprocess(img, s).to(device), label)
        for s in scales
    ]
    is_cam = torch.sum(
        torch.stack([
            F.interpolate(
                torch.unsqueeze(o, 1), (h, w), mode='bilinear',
                align_corners=False) for o in outputs
        ]), 0)[:, 0, :h, :w]
    is_cam = is_cam / (F.adaptive_max_pool2d(is_cam, (1, 1)) + 1e-5)
    valid_cat = torch.nonzero(label[:, 0, 0])[:, 0]
    is_cam = is_cam[valid_cat]
    return valid_cat.cpu().numpy(), is_cam.cpu().numpy()


# ---------------------------------------------------------------------------
# cam2ir (§9)
# ---------------------------------------------------------------------------
def naive_crf_inference_label(img: np.ndarray, labels: np.ndarray,
                              n_labels: int, t: int = 10,
                              gt_prob: float = 0.7) -> np.ndarray:
    """Reference ``imutils.crf_inference_label``: ``[H, W]`` labels."""
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_labels
    h, w = img.shape[:2]
    d = dcrf.DenseCRF2D(w, h, n_labels)
    unary = unary_from_labels(labels, n_labels, gt_prob=gt_prob,
                              zero_unsure=False)
    d.setUnaryEnergy(unary)
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=50, srgb=5, rgbim=np.ascontiguousarray(img),
                           compat=10)
    q = d.inference(t)
    return np.argmax(np.array(q).reshape((n_labels, h, w)), axis=0)


def naive_cam2ir(img_path: str, cam_file: str, out_png: str) -> None:
    """Reference ``cam2ir.py:_work`` for one image (our ``.npz`` input)."""
    img = np.array(Image.open(img_path).convert('RGB'))
    with np.load(cam_file) as z:
        cams = z['cam'].astype(np.float32)
        keys = z['keys'].astype(np.int64)
    fg_conf_cam = np.argmax(cams, axis=0)
    pred = naive_crf_inference_label(img, fg_conf_cam, keys.shape[0])
    fg_conf = keys[pred]
    cams[0] = cams[0] * 0.5  # the reference scales IS_CAM[0] in place
    bg_conf_cam = np.argmax(cams, axis=0)
    pred = naive_crf_inference_label(img, bg_conf_cam, keys.shape[0])
    bg_conf = keys[pred]
    conf = fg_conf.copy()
    conf[fg_conf == 0] = 255
    conf[bg_conf + fg_conf == 0] = 0
    Image.fromarray(conf.astype(np.uint8)).save(out_png)
