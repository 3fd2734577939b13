"""The demo IRN's frozen backbone is the demo stage one's: the pipeline
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
