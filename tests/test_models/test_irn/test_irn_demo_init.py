"""The demo IRN's backbone is the demo stage one's: the pipeline
initialises it from the stage-one checkpoint (``irn_init_from_stage1``), so
every backbone tensor must load -- no missing, unexpected or mismatched
keys -- and IRN's ``in_channels`` must be that backbone's level widths."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import _load_checkpoint_with_prefix

from mmseg_sipe.registry import MODELS

CFG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__))))), 'configs', 'sipe')


def test_stage_one_checkpoint_loads_completely(tmp_path):
    stage1 = MODELS.build(
        Config.fromfile(osp.join(CFG_DIR, 'demo_r18.py')).model)
    ckpt = str(tmp_path / 'stage1.pth')
    torch.save({'state_dict': stage1.state_dict()}, ckpt)
    irn_cfg = Config.fromfile(osp.join(CFG_DIR, 'irn_demo.py'))
    irn = MODELS.build(irn_cfg.model)
    weights = _load_checkpoint_with_prefix('backbone.', ckpt)
    own = irn.backbone.state_dict()
    assert sorted(weights) == sorted(own)
    assert [k for k in own if own[k].shape != weights[k].shape] == []
    irn.backbone.load_state_dict(weights, strict=True)
    for k, v in stage1.backbone.state_dict().items():
        assert torch.equal(irn.backbone.state_dict()[k], v), k


def test_in_channels_match_the_backbone():
    cfg = Config.fromfile(osp.join(CFG_DIR, 'irn_demo.py'))
    configured = tuple(cfg.model.in_channels)
    cfg.model.in_channels = None  # IRNet probes the backbone
    irn = MODELS.build(cfg.model)
    assert irn.in_channels == configured == (64, 32, 64, 128, 256)


def test_demo_backbone_trains_at_a_tenth_of_the_branch_rate():
    """The demo IRN trains its backbone (a from-scratch stage one's) with
    the branches: its convolutions at 0.1x the edge branch's learning rate,
    the displacement branch at 10x, as the optimizer receives them."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(osp.join(CFG_DIR, 'irn_demo.py'))
    irn = MODELS.build(cfg.model)
    with DefaultScope.overwrite_default_scope('mmseg'):
        wrapper = build_optim_wrapper(irn, cfg.optim_wrapper)
    name_of = {id(p): n for n, p in irn.named_parameters()}
    lrs = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lrs.setdefault(name_of[id(p)].split('.')[0], set()).add(
                round(group['lr'] / cfg.optim_wrapper.optimizer.lr, 6))
    assert lrs == {'backbone': {0.1}, 'edge_branch': {1.0},
                   'disp_branch': {10.0}}
    trained = {n for n, p in irn.backbone.named_parameters()
               if p.requires_grad}
    assert {n for n in trained if 'conv' in n} == {
        n for n, _ in irn.backbone.named_parameters() if 'conv' in n}
