"""CPU/GPU launch adaptation of configs."""
import pytest
import torch
from mmengine.config import Config

from mmseg_sipe.utils.dist import _replace_syncbn, prepare_launch


def test_none_launcher_leaves_config_alone():
    cfg = Config(dict(model=dict(norm_cfg=dict(type='SyncBN'))))
    cfg = prepare_launch(cfg, 'none')
    assert cfg.launcher == 'none'
    assert cfg.model.norm_cfg.type == 'SyncBN'
    assert 'model_wrapper_cfg' not in cfg


def test_replace_syncbn_nested():
    node = dict(a=dict(type='SyncBN'), b=[dict(norm=dict(type='MMSyncBN'))],
                c=dict(type='BN'))
    assert _replace_syncbn(node) == 2
    assert node['a']['type'] == 'BN' and node['b'][0]['norm']['type'] == 'BN'


def test_cpu_launcher_uses_gloo_and_plain_ddp(monkeypatch):
    # on CPU with a launcher the config gets gloo + DDP without device ids
    if torch.cuda.is_available():
        pytest.skip('CPU behaviour: with CUDA the config is left as it is')
    import mmseg_sipe.utils.dist as d
    from mmengine.logging import MMLogger
    MMLogger.get_instance('test_dist_prepare')  # logger made before patching
    monkeypatch.setattr(d.dist, 'is_initialized', lambda: True)
    cfg = Config(dict(model=dict(norm_cfg=dict(type='SyncBN')),
                      env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    cfg = prepare_launch(cfg, 'pytorch')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', device_ids=None)
    assert cfg.model.norm_cfg.type == 'BN'
