"""Backbones from mmpretrain swapped into SIPEClassifier by config only
(configs/sipe/voc_mmpretrain-*.py): build, reference gradient/BN rules,
checkpoint loading by prefix, stride-32 alignment, Runner training."""
import copy
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmseg.structures import SegDataSample

import mmseg_sipe  # noqa: F401
from mmseg_sipe.registry import MODELS
from sipe_testing import ROOT, demo_train_opts, run_tool


@pytest.fixture(scope='module', autouse=True)
def mmpretrain_installed():
    try:
        import mmpretrain.models  # noqa: F401
    except Exception as exc:  # ImportError or torchvision's RuntimeError
        if os.environ.get('SIPE_WITH_MMPRETRAIN') == '0':
            pytest.skip('set-up without mmpretrain (SIPE_WITH_MMPRETRAIN=0)')
        raise AssertionError(
            'mmpretrain is part of the tested set-up; run '
            f'bash tools/setup_env.sh ({type(exc).__name__}: {exc})')


def load(name, **backbone):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'sipe', name))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.update(backbone)
    return cfg, model_cfg


def build(model_cfg, init_cfg=None):
    model_cfg = copy.deepcopy(model_cfg)
    model_cfg.backbone.init_cfg = init_cfg
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def samples(labels, size):
    out = []
    for i, lab in enumerate(labels):
        v = np.zeros(20, np.float32)
        v[list(lab)] = 1
        out.append(SegDataSample(metainfo=dict(
            img_labels=v, img_shape=size, ori_shape=size,
            img_path=f'img{i}.jpg')))
    return out


def assert_no_grad(model, grads_, prefixes):
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        assert any(n.startswith(prefix) for n in names), prefix  # exists
        assert not any(n.startswith(prefix) for n in grads_), prefix


def grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {n for n, p in model.named_parameters()
            if p.grad is not None and p.grad.abs().sum() > 0}


def test_resnet_config_names_mmpretrain_weights():
    cfg, model_cfg = load('voc_mmpretrain-r50.py')
    init = model_cfg.backbone.init_cfg
    assert model_cfg.backbone.type == 'mmpretrain.ResNet'
    assert init.type == 'Pretrained' and init.prefix == 'backbone.'
    assert init.checkpoint.startswith('https://download.openmmlab.com/')
    # only the backbone changed: the SIPE method is inherited
    voc = Config.fromfile(osp.join(ROOT, 'configs', 'sipe', 'voc_r50.py'))
    assert cfg.model.head == voc.model.head
    assert cfg.optim_wrapper == voc.optim_wrapper
    for key in ('train_seed_feature', 'bg_weight', 'prototype_denominator',
                'bg_from_all_classes', 'loss_cls', 'loss_gsc'):
        assert cfg.model[key] == voc.model[key]


def test_mmpretrain_resnet50_shapes_gradients_and_frozen_bn():
    from mmpretrain.models.backbones import ResNet as PretrainResNet
    _, model_cfg = load('voc_mmpretrain-r50.py')
    model = build(model_cfg)
    assert isinstance(model.backbone, PretrainResNet)
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        out = model.eval().forward_features(x)
    assert [f.shape[1] for f in out['feats']] == [256, 512, 1024, 2048]
    assert out['feats'][3].shape[-2:] == (6, 8)  # output stride 16
    assert out['hie'].shape == (1, 768, 6, 8)
    assert out['cam'].shape == (1, 20, 6, 8)

    model.train()
    bn = model.backbone.layer3[0].bn1
    running = bn.running_mean.clone()
    losses = model.loss(x * 5, samples([[2, 5]], (96, 128)))
    assert torch.equal(running, bn.running_mean)  # norm_eval: stats frozen
    g = grads(model, losses['loss_cls'] + losses['loss_gsc'])
    assert any(n.startswith('backbone.layer4.') for n in g)
    assert any(n.startswith('backbone.layer3.') for n in g)
    assert 'head.classifier.weight' in g
    assert_no_grad(model, g, ('backbone.conv1.', 'backbone.bn1.',
                              'backbone.layer1.', 'backbone.layer2.'))


def test_mmpretrain_checkpoint_loads_by_prefix(tmp_path):
    """An mmpretrain classifier checkpoint (``backbone.*`` + ``head.*``)
    initialises the backbone through the config's ``prefix``."""
    _, model_cfg = load('voc_mmpretrain-r50.py', depth=18)
    model_cfg.head.in_channels = (64, 128, 256, 512)
    source = build(model_cfg).backbone
    for p in source.parameters():
        p.data.uniform_(-1, 1)
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(1000, 512)
    ckpt = tmp_path / 'mmpretrain_r18.pth'
    torch.save(dict(state_dict=state, meta=dict()), ckpt)
    model = build(model_cfg, init_cfg=dict(
        type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    for name, value in source.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[name], value), name


def test_convnext_stride32_last_stage_is_aligned_to_stage3():
    from mmpretrain.models.backbones import ConvNeXt
    cfg, model_cfg = load('voc_mmpretrain-convnext-t.py')
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    model = build(model_cfg)
    assert isinstance(model.backbone, ConvNeXt)
    model.eval()
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        raw = list(model.backbone(x))
        feats = model.extract_feat(x)
    assert raw[3].shape[-2:] == (4, 3)  # ConvNeXt: output stride 32
    assert feats[3].shape == (1, 768, 8, 6)  # aligned to stage 3
    assert torch.equal(feats[3], F.interpolate(
        raw[3], size=(8, 6), mode='bilinear', align_corners=False))
    for a, b in zip(raw[:3], feats[:3]):
        assert torch.equal(a, b)
    with torch.no_grad():
        pred = model.predict(x, samples([[0, 7]], (128, 96)))
    assert pred[0].pred_sem_seg.data.shape == (1, 128, 96)

    model.train()
    losses = model.loss(x, samples([[0, 7]], (128, 96)))
    assert all(torch.isfinite(v) for v in losses.values())
    g = grads(model, losses['loss_cls'] + losses['loss_gsc'])
    assert any(n.startswith('backbone.stages.3.') for n in g)
    assert_no_grad(model, g, ('backbone.downsample_layers.0.',
                              'backbone.stages.0.',
                              'backbone.downsample_layers.1.',
                              'backbone.stages.1.'))


def test_reference_resnet_is_not_resized():
    """extract_feat is the identity on the reference's stride-16 x4."""
    _, model_cfg = load('voc_mmpretrain-r50.py', depth=18)
    model_cfg.head.in_channels = (64, 128, 256, 512)
    model = build(model_cfg).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        raw = list(model.backbone(x))
        feats = model.extract_feat(x)
    assert all(torch.equal(a, b) for a, b in zip(raw, feats))


@pytest.mark.integration
def test_train_py_with_mmpretrain_backbone(tiny_demo, tmp_path):
    """The Runner builds and trains a child config that only swaps the
    backbone (default scope mmseg, backbone from mmpretrain's registry)."""
    child = tmp_path / 'demo_mmpretrain_r18.py'
    child.write_text(
        f"_base_ = ['{ROOT}/configs/sipe/demo_r18.py']\n"
        "model = dict(backbone=dict(_delete_=True, type='mmpretrain.ResNet',\n"
        "    depth=18, base_channels=32, out_indices=(0, 1, 2, 3),\n"
        "    strides=(1, 2, 2, 1), norm_eval=False, frozen_stages=-1))\n")
    work = tmp_path / 'work'
    proc = run_tool([
        sys.executable, 'tools/train.py', str(child), '--work-dir', str(work),
        *demo_train_opts(tiny_demo)
    ])
    out = proc.stdout + proc.stderr
    assert osp.isfile(work / 'epoch_1.pth')
    assert 'mIoU' in out
    state = torch.load(work / 'epoch_1.pth', map_location='cpu',
                       weights_only=False)['state_dict']
    assert 'backbone.layer4.1.conv2.weight' in state
