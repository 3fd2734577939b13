"""SFC against a literal transcription of its reference arithmetic
(docs/method.md §17; Barrett-python/SFC ``network/resnet50_SFC.py``
``Net.PCM`` / ``Net.prototype`` / ``Net.forward`` / ``CAM.forward``, the
loss lines of ``train_resnet50_SFC.py``, ``make_cam.py`` and the map
combination of ``cam2ir.py``).

The transcription below is written out for these tests (test-only, the
reference's operations in the reference's order, on our modules' weights);
nothing in the package uses it.  Forward outputs, losses and gradients must
agree to 1e-5 relative, make-cam maps to 1e-4.
"""
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmseg_sipe  # noqa: F401
from mmseg_sipe.cam.inference import multiscale_is_cam
from sipe_testing import ROOT, build_seeded, seg_preprocessor

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from benchmarks.naive_sipe import naive_preprocess  # noqa: E402

K = 20
VOC_STATS = f'{ROOT}/configs/sfc/class_stats/voc_train_aug.json'

# ---------------------------------------------------------------------------
# transcription of the reference (test-only)
# ---------------------------------------------------------------------------
# The reference lists its per-class numbers from the most to the least
# frequent VOC class and weights foreground channel REF_ORDER[j] with a[j].
REF_ORDER = [14, 8, 11, 6, 7, 4, 2, 17, 10, 0, 19, 15, 1, 18, 13, 3, 12, 5,
             16, 9]
REF_BEN = [66642, 13956, 13316, 12784, 11044, 8134, 8062, 7726, 7582, 7536,
           7536, 7626, 7698, 7704, 7792, 8032, 8308, 9036, 10524, 11118]
REF_IMAGES = [4155, 1228, 1188, 1150, 1005, 714, 705, 649, 613, 590, 567,
              522, 504, 503, 492, 468, 445, 393, 300, 267]


def ref_weights():
    images = torch.Tensor(REF_IMAGES) + 660 * 4 * 3 / 20
    a = torch.Tensor(REF_BEN) / images
    return a / a.mean()


def ref_stages(bb, x):
    """Stem, layer1..4 with the stage-2 output detached."""
    x0 = bb.maxpool(bb.relu(bb.norm1(bb.conv1(x))))
    x1 = bb.layer1(x0)
    x2 = bb.layer2(x1).detach()
    x3 = bb.layer3(x2)
    x4 = bb.layer4(x3)
    return x1, x2, x3, x4


def ref_hie(model, xs):
    sides = [conv(x.detach()) for conv, x in zip(model.head.sides, xs)]
    size = sides[2].shape[2:]
    return torch.cat([
        F.interpolate(s / (torch.norm(s, dim=1, keepdim=True) + 1e-5), size,
                      mode='bilinear') for s in sides
    ], dim=1)


def ref_norm_cam(cam, size):
    m = F.relu(cam)
    m = m / (F.adaptive_max_pool2d(m, (1, 1)) + 1e-5)
    bg = 1 - torch.max(m, dim=1)[0].unsqueeze(1)
    return F.interpolate(torch.cat([bg, m], dim=1), size, mode='bilinear',
                         align_corners=True)


def ref_pcm(conv, cam, f):
    n, _, h, w = f.size()
    cam = F.interpolate(cam, (h, w), mode='bilinear',
                        align_corners=True).view(n, -1, h * w)
    f = conv(f).view(n, -1, h * w)
    f = f / (torch.norm(f, dim=1, keepdim=True) + 1e-5)
    aff = F.relu(torch.matmul(f.transpose(1, 2), f))
    aff = aff / (torch.sum(aff, dim=1, keepdim=True) + 1e-5)
    out = torch.matmul(cam, aff).view(n, -1, h, w)
    return torch.matmul(out.view(n, -1, h * w), aff).view(n, -1, h, w)


def ref_prototype(norm_cam, feature, valid_mask):
    n, c, h, w = norm_cam.shape
    norm_cam[:, 0] = norm_cam[:, 0] * 0.3
    seeds = torch.zeros((n, h, w, c))
    belonging = norm_cam.argmax(1)
    seeds = seeds.scatter_(-1, belonging.view(n, h, w, 1),
                           1).permute(0, 3, 1, 2).contiguous()
    seeds = seeds * valid_mask
    cf = feature.shape[1]
    seeds = F.interpolate(seeds, feature.shape[2:], mode='nearest')
    crop = seeds.unsqueeze(2) * feature.unsqueeze(1)
    proto = F.adaptive_avg_pool2d(crop.view(-1, cf, h, w),
                                  (1, 1)).view(n, c, cf, 1, 1)
    is_cam = F.relu(torch.cosine_similarity(feature.unsqueeze(1), proto,
                                            dim=2))
    return F.interpolate(is_cam, feature.shape[2:], mode='bilinear',
                         align_corners=True)


def ref_net_forward(model, x, valid_mask):
    x1, x2, x3, x4 = ref_stages(model.backbone, x)
    hie = ref_hie(model, [x1, x2, x3, x4])
    cam = model.head.classifier(x4)
    score = F.adaptive_avg_pool2d(cam, 1)
    norm_cam = ref_norm_cam(cam, x3.shape[2:]) * valid_mask
    original = norm_cam
    image = F.interpolate(x, x3.shape[2:], mode='bilinear',
                          align_corners=True)
    refined = ref_pcm(model.head.pcm_conv, norm_cam,
                      torch.cat([image, x4], dim=1))
    is_cam = ref_prototype(refined.clone(), hie.clone(), valid_mask.clone())
    return dict(score=score, cam1=refined, cam2=is_cam, orignal_cam=original)


def ref_losses(model, img1, label, valid_mask):
    """The training step's arithmetic after the bank images are appended.

    img1 ``[N,3,H,W]`` (padding 0), label ``[N,K]``, valid_mask
    ``[N,K+1,H,W]``."""
    img2 = F.interpolate(img1, scale_factor=0.5, mode='bilinear',
                         align_corners=True)
    n, _, h, w = img1.shape
    lab = label.unsqueeze(2).unsqueeze(3)
    valid_mask = valid_mask.clone()
    valid_mask[:, 1:] = valid_mask[:, 1:] * lab
    low0 = F.interpolate(valid_mask, size=(h // 16, w // 16), mode='nearest')
    low1 = F.interpolate(valid_mask, size=(h // 32, w // 32), mode='nearest')
    lab = torch.cat((torch.ones((n, 1)).unsqueeze(-1).unsqueeze(-1), lab),
                    dim=1)
    out1 = ref_net_forward(model, img1, low0)
    out2 = ref_net_forward(model, img2, low1)
    cls1 = F.multilabel_soft_margin_loss(out1['score'], lab[:, 1:])
    rv1 = out1['cam2'] / (F.adaptive_max_pool2d(out1['cam2'], (1, 1)) + 1e-5)
    lo = torch.abs(out1['cam1'] - rv1)
    fg = lo[:, 1:, :, :]
    a = ref_weights()
    for j, c in enumerate(REF_ORDER):
        fg[:, c, :, :] = fg[:, c, :, :] * a[j]
    lo[:, 1:, :, :] = fg
    gsc = torch.mean(torch.abs(lo)) * 1.6
    cam1 = F.interpolate(out1['cam1'], scale_factor=0.5, mode='bilinear',
                         align_corners=True) * lab
    cls2 = F.multilabel_soft_margin_loss(out2['score'], lab[:, 1:])
    cam2 = out2['cam1'] * lab
    cls = (cls1 + cls2) / 2
    cons = torch.abs(cam1[:, 1:, :, :] - cam2[:, 1:, :, :])
    for j, c in enumerate(REF_ORDER):
        cons[:, c, :, :] = cons[:, c, :, :] * a[j]
    return dict(loss_cls=cls, loss_gsc=gsc,
                loss_consistency=torch.mean(cons) * 0.8), out1, out2


def ref_cam_forward(model, x, label):
    x1, x2, x3, x4 = ref_stages(model.backbone, x)
    hie = ref_hie(model, [x1, x2, x3, x4])
    cam = model.head.classifier(x4)
    cam = (cam[0] + cam[1].flip(-1)).unsqueeze(0)
    hie = (hie[0] + hie[1].flip(-1)).unsqueeze(0)
    norm_cam = ref_norm_cam(cam, x3.shape[2:])
    original = norm_cam
    x = (x[0] + x[1].flip(-1)).unsqueeze(0)
    x4 = (x4[0] + x4[1].flip(-1)).unsqueeze(0)
    image = F.interpolate(x, x3.shape[2:], mode='bilinear',
                          align_corners=True)
    refined = ref_pcm(model.head.pcm_conv, norm_cam,
                      torch.cat([image, x4], dim=1))
    is_cam = ref_prototype(refined.clone(), hie.clone(),
                           label.unsqueeze(0).clone())
    return refined[0], is_cam[0], original[0]


@torch.no_grad()
def ref_make_cam(model, img, img_labels, scales):
    """make_cam.py for one image, then cam2ir.py's combination.

    Returns keys, the prototype map (what eval_cam.py scores), the refined
    map and ``refined + 0.7 * prototype`` (what cam2ir.py reads)."""
    size = img.shape[:2]
    label = F.pad(torch.from_numpy(img_labels), (1, 0), 'constant', 1.0)
    outs = [ref_cam_forward(model, naive_preprocess(img, s),
                            label.unsqueeze(-1).unsqueeze(-1))
            for s in scales]

    def fuse(maps):
        up = [F.interpolate(torch.unsqueeze(m, 1), size, mode='bilinear',
                            align_corners=False) for m in maps]
        fused = torch.sum(torch.stack(up, 0), 0)[:, 0]
        fused /= F.adaptive_max_pool2d(fused, (1, 1)) + 1e-5
        pad = np.pad(fused[1:].numpy(), ((1, 0), (0, 0), (0, 0)),
                     mode='constant', constant_values=0.4)
        return (fused + torch.from_numpy(pad)).numpy()

    proto = fuse([o[1] for o in outs])
    refined = fuse([o[0] for o in outs])
    keys = torch.nonzero(label)[:, 0].numpy()
    return keys, proto[keys], refined[keys], refined[keys] + proto[keys] * 0.7


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def rel_err(a, b):
    a = torch.as_tensor(a).detach().double()
    b = torch.as_tensor(b).detach().double()
    scale = b.abs().max().clamp(min=1e-12)
    return float((a - b).abs().max() / scale)


def build(seed=0, frozen=True):
    cfg = dict(
        type='SFCClassifier',
        data_preprocessor=seg_preprocessor(),
        backbone=dict(
            type='ResNet', depth=18, base_channels=32, num_stages=4,
            out_indices=(0, 1, 2, 3), strides=(1, 2, 2, 1),
            dilations=(1, 1, 1, 1), style='pytorch',
            norm_cfg=dict(type='BN', requires_grad=True),
            norm_eval=frozen, frozen_stages=2 if frozen else -1,
            contract_dilation=False),
        head=dict(type='SFCHead', in_channels=(32, 64, 128, 256),
                  side_channels=(16, 16, 32, 32), num_classes=K),
        class_stats_file=VOC_STATS)
    model = build_seeded(cfg, seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # non-trivial frozen BN statistics
        for m in model.backbone.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(
                    torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(
                    torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def batch(seed=0, n=3, size=128):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g)
    labels = torch.zeros(n, K)
    for i, cls in enumerate(([14], [8, 11], [0, 14, 19], [3], [9, 16])[:n]):
        labels[i, cls] = 1
    valid = torch.ones(n, 1, size, size)
    valid[0, :, :, size * 3 // 4:] = 0  # a padded crop
    valid[1, :, size // 2:, :] = 0
    x = x * valid
    samples = []
    for i in range(n):
        ds = SegDataSample(metainfo=dict(
            img_labels=labels[i].numpy(), img_shape=(size, size),
            ori_shape=(size, size)))
        ds.valid_mask = PixelData(data=valid[i].to(torch.uint8))
        samples.append(ds)
    return x, labels, valid.expand(n, K + 1, size, size).clone(), samples


def grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()
            if p.grad is not None}


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------
def test_reference_weights_are_the_shipped_voc_statistics():
    model = build()
    assert rel_err(model.class_weights, torch.zeros(K).index_put_(
        (torch.tensor(REF_ORDER), ), ref_weights())) <= 1e-6
    # head classes weigh more than mid-frequency ones (person, cow)
    assert model.class_weights[14] > 1.5 and model.class_weights[9] > 1.7


def test_training_forward_losses_and_gradients_match_reference():
    torch.set_num_threads(1)
    model = build().train()
    x, labels, valid_ref, samples = batch()
    ours = model.loss(x, samples)
    g_ours = grads(model, sum(ours.values()))
    ref, out1, _ = ref_losses(model, x, labels, valid_ref)
    g_ref = grads(model, sum(ref.values()))
    errs = {k: rel_err(ours[k], ref[k]) for k in ref}
    assert max(errs.values()) <= 1e-5, errs
    assert set(g_ours) == set(g_ref)
    # the stem, layer1 and layer2 are frozen; everything else is trained
    assert not any(n.startswith(('backbone.conv1', 'backbone.layer1',
                                 'backbone.layer2')) for n in g_ours)
    for name in ('head.pcm_conv.weight', 'head.classifier.weight',
                 'head.sides.0.weight', 'backbone.layer4.0.conv1.weight',
                 'backbone.layer3.0.conv1.weight'):
        assert name in g_ours and g_ours[name].abs().sum() > 0, name
    g_errs = {n: rel_err(g_ours[n], g_ref[n]) for n in g_ref}
    worst = max(g_errs, key=g_errs.get)
    assert g_errs[worst] <= 1e-5, (worst, g_errs[worst])

    # forward outputs of the full-scale pass
    with torch.no_grad():
        vm = F.interpolate(valid_ref[:, :1], size=(8, 8), mode='nearest')
        res = model.sfc_forward(x, valid_ref[:, :1], labels)
        mask = vm * torch.cat([torch.ones(3, 1), labels], 1)[:, :, None,
                                                              None]
        assert rel_err(res['norm_cam'], out1['orignal_cam']) <= 1e-5
        assert rel_err(res['refined_cam'], out1['cam1']) <= 1e-5
        assert rel_err(res['is_cam'], out1['cam2']) <= 1e-5
        assert rel_err(res['score'], out1['score'][..., 0, 0]) <= 1e-5
        assert (res['seeds'] * (1 - mask)).sum() == 0


def test_validation_forward_matches_reference():
    model = build(frozen=False).eval()
    x, labels, _, samples = batch(seed=3, n=2, size=96)
    lab = torch.cat([torch.ones(2, 1), labels[:2]], 1)[:, :, None, None]
    with torch.no_grad():
        ref = ref_net_forward(model, x, lab)
        out = model.predict(x, [SegDataSample(metainfo=dict(
            img_labels=s.metainfo['img_labels'], img_shape=(96, 96),
            ori_shape=(96, 96))) for s in samples])
    for i, ds in enumerate(out):
        expected = F.interpolate(ref['cam2'], (96, 96), mode='bilinear')[i]
        expected = expected / (expected.amax((1, 2), keepdim=True) + 1e-5)
        assert rel_err(ds.seg_logits.data, expected) <= 1e-5
        assert torch.equal(ds.pred_sem_seg.data[0], expected.argmax(0))


@pytest.mark.parametrize('hw', [(48, 64), (37, 53)])
def test_make_cam_maps_match_reference(hw):
    torch.set_num_threads(1)
    model = build(seed=5, frozen=False).eval()
    g = np.random.default_rng(7)
    img = g.integers(0, 256, size=hw + (3, ), dtype=np.uint8)
    labels = np.zeros(K, np.float32)
    labels[[2, 14]] = 1
    scales = (1.0, 0.5, 1.5, 2.0)
    keys, proto, refined, combined = ref_make_cam(model, img, labels, scales)
    k_ours, ours, cam = multiscale_is_cam(model, img, labels, scales,
                                          return_cam=True)
    assert keys.tolist() == k_ours.tolist() == [0, 3, 15]
    assert ours.shape == combined.shape == (3, ) + hw
    assert np.abs(ours - combined).max() <= 1e-4
    assert cam.shape == ours.shape
    model.test_cfg.update(cam_weight=0.0, prototype_weight=1.0)
    _, ours_proto = multiscale_is_cam(model, img, labels, scales)
    assert np.abs(ours_proto - proto).max() <= 1e-4
    model.test_cfg.update(cam_weight=1.0, prototype_weight=0.0)
    _, ours_refined = multiscale_is_cam(model, img, labels, scales)
    assert np.abs(ours_refined - refined).max() <= 1e-4
