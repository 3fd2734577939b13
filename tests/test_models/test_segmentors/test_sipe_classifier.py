"""SIPEClassifier: shapes, channel layout, losses, gradient flow (method spec
section 11), predict, and the reference-checkpoint converter."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmseg_sipe  # noqa: F401
from mmseg_sipe.utils.model_converters import convert_sipe_state_dict
from sipe_testing import ROOT, build_seeded, seg_preprocessor

#: the backbone of configs/sipe/voc_r50.py, randomly initialised
R50 = Config.fromfile(osp.join(ROOT, 'configs/sipe/voc_r50.py')).model.backbone
R50.pop('init_cfg')


def build(depth=50, num_classes=20, **kw):
    backbone = dict(R50, depth=depth)
    chans = (256, 512, 1024, 2048) if depth >= 50 else (64, 128, 256, 512)
    sides = (128, 128, 256, 256) if depth >= 50 else (16, 16, 32, 32)
    cfg = dict(
        type='SIPEClassifier',
        data_preprocessor=seg_preprocessor(),
        backbone=backbone,
        head=dict(
            type='IPEHead',
            in_channels=chans,
            side_channels=sides,
            num_classes=num_classes),
        **kw)
    return build_seeded(cfg)


def samples(n, labels, size, valid=None):
    out = []
    for i in range(n):
        ds = SegDataSample(metainfo=dict(
            img_labels=np.asarray(labels[i], np.float32),
            img_shape=size, ori_shape=size, img_path=f'img{i}.jpg'))
        if valid is not None:
            ds.valid_mask = PixelData(data=valid[i][None])
        out.append(ds)
    return out


def onehot(idx, k=20):
    v = np.zeros(k, np.float32)
    v[list(idx)] = 1
    return v


@pytest.mark.parametrize('hw,grid', [((512, 512), (32, 32)),
                                     ((375, 500), (24, 32))])
def test_shapes_r50(hw, grid):
    model = build().eval()
    x = torch.randn(1, 3, *hw)
    with torch.no_grad():
        out = model.forward_features(x)
    h, w = hw
    c4 = (math.ceil(h / 4), math.ceil(w / 4))
    feats = out['feats']
    assert feats[0].shape == (1, 256, *c4)
    assert feats[1].shape == (1, 512, math.ceil(h / 8), math.ceil(w / 8))
    assert feats[2].shape == (1, 1024, *grid)
    assert feats[3].shape == (1, 2048, *grid)
    assert out['hie'].shape == (1, 768, *grid)
    assert out['cam'].shape == (1, 20, *grid)
    lab = torch.tensor(onehot([3, 7]))[None]
    mask = torch.cat([torch.ones(1, 1), lab], 1)[:, :, None, None]
    res = model.compute_is_cam(out['cam'], out['hie'], feats[3], mask, lab,
                               'x4')
    assert res['norm_cam'].shape == (1, 21, *grid)
    assert res['seeds'].shape == (1, 21, *grid)
    assert res['is_cam'].shape == (1, 21, *grid)
    assert res['prototypes'].shape == (1, 21, 768)


def test_channel_layout_and_invariants():
    model = build(depth=18).eval()
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        out = model.forward_features(x)
    lab = torch.tensor(np.stack([onehot([0, 5]), onehot([19])]))
    mask = torch.cat([torch.ones(2, 1), lab], 1)[:, :, None, None]
    res = model.compute_is_cam(out['cam'], out['hie'], out['feats'][3], mask,
                               lab, 'x4', mask_cam=False)
    cam = out['cam']
    relu = cam.clamp(min=0)
    m_f = relu / (relu.amax((2, 3), keepdim=True) + 1e-5)
    # fg channel k+1 <-> classifier output k; bg = 1 - max over all classes
    assert torch.allclose(res['norm_cam'][:, 1:], m_f, atol=1e-6)
    assert torch.allclose(res['norm_cam'][:, 0], 1 - m_f.max(1)[0],
                          atol=1e-6)
    seeds = res['seeds']
    assert set(seeds.unique().tolist()) <= {0.0, 1.0}
    assert (seeds.sum(1) <= 1).all()
    absent = mask[:, :, 0, 0] == 0
    assert seeds.permute(0, 2, 3, 1)[absent[:, None, None, :].expand(
        -1, seeds.shape[2], seeds.shape[3], -1)].sum() == 0
    is_cam = res['is_cam']
    assert is_cam.min() >= 0 and is_cam.max() <= 1 + 1e-6
    assert (is_cam[absent] == 0).all()


def test_loss_is_ln2_at_zero_logits_and_gsc_definition():
    model = build(depth=18)
    with torch.no_grad():
        model.head.classifier.weight.zero_()
    x = torch.randn(2, 3, 64, 64)
    labels = [onehot([1]), onehot([2, 4])]
    losses = model.loss(x, samples(2, labels, (64, 64)))
    assert abs(losses['loss_cls'].item() - math.log(2)) < 1e-6
    # zero CAM -> M_f = 0, M_b = 1 on valid pixels; GSC is finite
    assert torch.isfinite(losses['loss_gsc'])


def test_gradient_flow_r50():
    model = build(depth=50, train_seed_feature='x4')
    model.train()
    x = torch.randn(1, 3, 96, 96)
    lab = torch.tensor(onehot([2, 5]))[None]
    out = model.forward_features(x)
    mask = torch.cat([torch.ones(1, 1), lab], 1)[:, :, None, None]
    res = model.compute_is_cam(out['cam'], out['hie'], out['feats'][3], mask,
                               lab, 'x4')

    def grads(loss):
        model.zero_grad()
        loss.backward(retain_graph=True)
        return {n for n, p in model.named_parameters()
                if p.grad is not None and p.grad.abs().sum() > 0}

    # IS-CAM alone: only the side convolutions
    g_is = grads(res['is_cam'].sum())
    assert g_is and all(n.startswith('head.sides.') for n in g_is)
    # CAM side: classifier, layer3, layer4 (+ their BN affine); never the
    # stem, layer1, layer2
    g_cam = grads(res['norm_cam'].sum() + out['cam'].mean())
    assert 'head.classifier.weight' in g_cam
    assert any(n.startswith('backbone.layer4.') for n in g_cam)
    assert any(n.startswith('backbone.layer3.') for n in g_cam)
    assert not any(n.startswith('head.sides.') for n in g_cam)
    full = model.loss(x, samples(1, [onehot([2, 5])], (96, 96)))
    g_all = grads(full['loss_cls'] + full['loss_gsc'])
    for frozen in ('backbone.conv1.', 'backbone.bn1.', 'backbone.layer1.',
                   'backbone.layer2.'):
        assert not any(n.startswith(frozen) for n in g_all), frozen


def test_bn_statistics_frozen_in_train_mode():
    model = build(depth=18, )
    model.backbone.norm_eval = True
    model.train()
    before = model.backbone.layer3[0].bn1.running_mean.clone()
    model.loss(torch.randn(2, 3, 64, 64) * 5,
               samples(2, [onehot([1]), onehot([3])], (64, 64)))
    assert torch.equal(before, model.backbone.layer3[0].bn1.running_mean)


def test_valid_mask_zeroes_padding_in_loss():
    model = build(depth=18)
    valid = torch.zeros(2, 64, 64, dtype=torch.uint8)
    valid[:, :40, :48] = 1
    x = torch.randn(2, 3, 64, 64)
    x2 = x.clone()
    x2[:, :, 40:, :] = 100.0  # padding content must not matter
    x2[:, :, :, 48:] = -100.0
    lab = [onehot([1]), onehot([2])]
    l1 = model.loss(x, samples(2, lab, (64, 64), valid))
    x[:, :, 40:, :] = 0
    x[:, :, :, 48:] = 0
    l2 = model.loss(x2, samples(2, lab, (64, 64), valid))
    for k in l1:
        assert torch.allclose(l1[k], l2[k], atol=1e-6)


def test_predict_sets_argmax_of_normalised_is_cam():
    model = build(depth=18).eval()
    x = torch.randn(1, 3, 80, 112)
    out = model.predict(x, samples(1, [onehot([4])], (80, 112)))
    ds = out[0]
    assert ds.seg_logits.data.shape == (21, 80, 112)
    pred = ds.pred_sem_seg.data
    assert pred.shape == (1, 80, 112)
    assert set(pred.unique().tolist()) <= {0, 5}
    assert torch.equal(pred[0], ds.seg_logits.data.argmax(0))


def test_missing_labels_raise():
    model = build(depth=18)
    ds = SegDataSample(metainfo=dict(img_path='x.jpg'))
    with pytest.raises(KeyError, match="x.jpg.*img_labels"):
        model.loss(torch.randn(1, 3, 32, 32), [ds])


def test_switches_validated():
    with pytest.raises(ValueError, match='train_seed_feature'):
        build(depth=18, train_seed_feature='x3')
    with pytest.raises(ValueError, match='prototype_denominator'):
        build(depth=18, prototype_denominator='mean')


def test_paper_switches_run():
    model = build(depth=18, train_seed_feature='hie',
                  prototype_denominator='count', bg_from_all_classes=False)
    losses = model.loss(torch.randn(2, 3, 64, 64),
                        samples(2, [onehot([1]), onehot([2])], (64, 64)))
    assert all(torch.isfinite(v) for v in losses.values())


def _to_reference_layout(model):
    """Our state dict in the reference key layout (what the converter reads):
    ``resnet50.*``, duplicated ``stageK.0.*``, ``side1..4``, ``classifier``."""
    ref = {}
    for k, v in model.state_dict().items():
        if k.endswith('num_batches_tracked'):
            continue
        if k.startswith('backbone.'):
            name = k[len('backbone.'):]
            ref['resnet50.' + name] = v.clone()
            top = name.split('.')[0]
            stage = {'conv1': 'stage0.0', 'bn1': 'stage0.1'}.get(top)
            if stage:
                ref[stage + name[len(top):]] = v.clone()
            else:
                i = int(top[-1])
                ref[f'stage{i}.0' + name[len(top):]] = v.clone()
        elif k.startswith('head.sides.'):
            i = int(k.split('.')[2])
            ref[f'side{i + 1}.weight'] = v.clone()
        elif k == 'head.classifier.weight':
            ref['classifier.weight'] = v.clone()
        else:
            raise AssertionError(k)
    return ref


@pytest.mark.integration
def test_converter_round_trip(tmp_path):
    src = build(depth=50).eval()
    ref = _to_reference_layout(src)
    assert any(k.startswith('stage3.0.') for k in ref)
    ckpt = tmp_path / 'ref.pth'
    torch.save({'net': ref}, ckpt)
    import subprocess
    import sys
    dst = tmp_path / 'converted.pth'
    proc = subprocess.run([
        sys.executable, 'tools/model_converters/sipe2mmseg.py',
        str(ckpt), str(dst)
    ], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    sd = torch.load(dst, weights_only=True)['state_dict']
    torch.manual_seed(123)
    new = build(depth=50).eval()
    new.load_state_dict(sd, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = src.forward_features(x), new.forward_features(x)
    assert torch.equal(a['cam'], b['cam'])
    assert torch.equal(a['hie'], b['hie'])


def test_converter_rejects_unknown_keys():
    with pytest.raises(KeyError, match='unexpected keys'):
        convert_sipe_state_dict({'foo.weight': torch.ones(1)})
