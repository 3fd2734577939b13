"""Stage-one configs: they load, build, and carry the reference optimiser
and schedule (docs/method.md §7 and §15)."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmseg_sipe.engine import SIPEPolyLR

import mmseg_sipe  # noqa: F401
from mmseg_sipe.registry import MODELS

CONFIGS = ['configs/sipe/voc_r50.py', 'configs/sipe/coco_r50.py',
           'configs/sipe/demo_r18.py']


def _model(cfg):
    m = copy.deepcopy(cfg.model)
    m.backbone.init_cfg = None
    return MODELS.build(m)


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds(path, repo_root):
    cfg = Config.fromfile(f'{repo_root}/{path}')
    assert cfg.default_scope == 'mmseg'
    assert 'mmseg_sipe' in cfg.custom_imports.imports
    model = _model(cfg)
    assert type(model).__name__ == 'SIPEClassifier'


def test_voc_reference_settings(repo_root):
    cfg = Config.fromfile(f'{repo_root}/configs/sipe/voc_r50.py')
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.train_dataloader.batch_sampler == dict(type='TotalBatchSampler', drop_last=True)
    assert cfg.randomness.seed == 15
    assert cfg.optim_wrapper.clip_grad.max_norm == 1.0
    assert cfg.model.head.num_classes == 20
    coco = Config.fromfile(f'{repo_root}/configs/sipe/coco_r50.py')
    assert coco.model.head.num_classes == 80


def test_optimiser_groups_and_poly_schedule(repo_root):
    cfg = Config.fromfile(f'{repo_root}/configs/sipe/voc_r50.py')
    model = _model(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    opt = wrapper.optimizer
    assert isinstance(opt, torch.optim.SGD)
    head_ids = {id(p) for p in model.head.parameters()}
    for group in opt.param_groups:
        p = group['params'][0]
        expected = 1.0 if id(p) in head_ids else 0.1
        assert group['lr'] == pytest.approx(expected)
        assert group['momentum'] == pytest.approx(1e-4)  # reference quirk
        assert group['weight_decay'] == pytest.approx(1e-4)
    # VOC: T = (10582 // 16) * 5 = 3305 iterations
    assert cfg.param_scheduler[0].type == 'SIPEPolyLR'
    sched = SIPEPolyLR.build_iter_from_epoch(
        opt, power=0.9, eta_min=0.0, begin=0, end=5, epoch_length=661)
    backbone_group = next(g for g in opt.param_groups
                          if id(g['params'][0]) not in head_ids)
    assert backbone_group['lr'] == pytest.approx(0.1)
    for _ in range(10):
        opt.step()
        sched.step()
    assert backbone_group['lr'] == pytest.approx(0.09973, abs=1e-5)
    assert backbone_group['lr'] == pytest.approx(
        0.1 * (1 - 10 / 3305)**0.9, rel=1e-6)
    for _ in range(3300 - 10):
        sched.step()
    assert backbone_group['lr'] == pytest.approx(
        0.1 * (1 - 3300 / 3305)**0.9, rel=1e-4)  # ~0.0003 as in the log
    for _ in range(4):
        sched.step()  # t = 3304, the last step: still > 0
    assert backbone_group['lr'] == pytest.approx(
        0.1 * (1 / 3305)**0.9, rel=1e-3)


def test_demo_inherits_reference_method(repo_root):
    demo = Config.fromfile(f'{repo_root}/configs/sipe/demo_r18.py')
    voc = Config.fromfile(f'{repo_root}/configs/sipe/voc_r50.py')
    for key in ('train_seed_feature', 'bg_weight', 'prototype_denominator',
                'bg_from_all_classes', 'loss_cls', 'loss_gsc'):
        assert demo.model[key] == voc.model[key]
    assert demo.optim_wrapper == voc.optim_wrapper


def test_backbone_swap_by_child_config(tmp_path, repo_root):
    """ResNet-101 (or any 4-stage backbone) by a child config."""
    child = tmp_path / 'r101.py'
    child.write_text(
        f"_base_ = ['{repo_root}/configs/sipe/voc_r50.py']\n"
        "model = dict(backbone=dict(depth=101, init_cfg=dict(\n"
        "    type='Pretrained', checkpoint='torchvision://resnet101')))\n")
    cfg = Config.fromfile(str(child))
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet101'
    model = _model(cfg)
    assert len(model.backbone.layer3) == 23  # ResNet-101
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = model.forward_features(x)
    assert out['hie'].shape == (1, 768, 4, 4)
    assert out['cam'].shape == (1, 20, 4, 4)
