"""SFC configs (configs/sfc/): short children of SIPE's, reference settings,
the pipeline entry, and tools/dist_train.sh with 4 processes on the VOC
config (random init, tiny data)."""
import copy
import glob
import json
import os.path as osp

import pytest
from mmengine.config import Config

import mmseg_sipe  # noqa: F401
from mmseg_sipe.registry import MODELS
from sipe_testing import HELPERS, free_port, run_tool, tool_env

SFC = {'voc': 'configs/sfc/voc_r50.py', 'coco': 'configs/sfc/coco_r50.py',
       'demo': 'configs/sfc/demo_r18.py'}
SIPE = {'voc': 'configs/sipe/voc_r50.py', 'coco': 'configs/sipe/coco_r50.py',
        'demo': 'configs/sipe/demo_r18.py'}
SFC_KEYS = ('model', 'custom_hooks', 'randomness', 'class_stats_file')


def _load(root, path):
    return Config.fromfile(osp.join(root, path))


@pytest.mark.parametrize('name', sorted(SFC))
def test_children_of_sipe_configs(name, repo_root):
    with open(osp.join(repo_root, SFC[name])) as f:
        text = f.read()
    # the SIPE parent plus SFC's changes, which live once in a base
    assert (f"_base_ = ['../sipe/{osp.basename(SIPE[name])}', "
            "'../_base_/models/sfc.py']") in text
    assert len(text.splitlines()) <= 45  # a short child
    sfc, sipe = _load(repo_root, SFC[name]), _load(repo_root, SIPE[name])
    # what SFC changes
    assert sfc.model.type == 'SFCClassifier'
    assert sfc.model.head.type == 'SFCHead'
    assert sfc.model.loss_gsc == dict(type='ClassWeightedGSCLoss',
                                      loss_weight=1.6)
    assert sfc.model.loss_consistency.loss_weight == 0.8
    assert (sfc.model.seed_bg_scale, sfc.model.scale_factor) == (0.3, 0.5)
    assert sfc.randomness.seed == 10
    assert sfc.custom_hooks[0].type == 'ImageBankHook'
    assert sfc.custom_hooks[0].num_samples == 4
    # everything else is SIPE's
    for key in ('train_dataloader', 'val_dataloader', 'optim_wrapper',
                'data_preprocessor', 'default_hooks'):
        assert sfc[key] == sipe[key], key
    for key in ('backbone', 'data_preprocessor', 'loss_cls'):
        assert sfc.model[key] == sipe.model[key], key
    head = copy.deepcopy(sfc.model.head)
    head.type = 'IPEHead'
    assert head == sipe.model.head
    assert sfc.optim_wrapper.clip_grad.max_norm == 1.0


def test_schedules(repo_root):
    for name in ('voc', 'coco'):
        cfg = _load(repo_root, SFC[name])
        assert cfg.train_cfg.max_epochs == 6  # SIPE: 5
        assert cfg.param_scheduler[0].end == 6
        assert cfg.train_dataloader.batch_size == 16
    demo = _load(repo_root, SFC['demo'])
    sipe_demo = _load(repo_root, SIPE['demo'])
    assert demo.train_cfg == sipe_demo.train_cfg  # the demo shrink
    assert demo.param_scheduler == sipe_demo.param_scheduler
    assert demo.custom_hooks[0].skip_empty_slots is True


def test_sfc_settings_are_the_same_in_every_child(repo_root):
    cfgs = {n: _load(repo_root, p) for n, p in SFC.items()}
    ref = cfgs['voc'].model
    keys = ('type', 'loss_gsc', 'loss_consistency', 'seed_bg_scale',
            'scale_factor', 'test_cfg')
    for name, cfg in cfgs.items():
        for k in keys:
            assert cfg.model[k] == ref[k], (name, k)
        assert cfg.model.head.type == 'SFCHead'
        assert cfg.model.class_stats_file == cfg.class_stats_file
    assert cfgs['coco'].model.head.num_classes == 80


@pytest.mark.parametrize('name', sorted(SFC))
def test_models_build(name, repo_root):
    cfg = _load(repo_root, SFC[name])
    m = copy.deepcopy(cfg.model)
    m.backbone.init_cfg = None
    model = MODELS.build(m)
    assert type(model).__name__ == 'SFCClassifier'
    if name == 'coco':  # statistics not shipped: written by the tool
        assert model._class_stats_error is not None
    else:
        assert model._class_stats_error is None
        assert model.class_weights.min() > 0


def test_pipeline_entry_switches_only_stage_one(repo_root):
    sfc = _load(repo_root, 'configs/pipeline/demo_sfc.py')
    base = _load(repo_root, 'configs/pipeline/demo.py')
    assert sfc.stage1_config == 'configs/sfc/demo_r18.py'
    a, b = sfc.to_dict(), base.to_dict()
    a.pop('stage1_config')
    b.pop('stage1_config')
    assert a == b


def _voc_opts(data_root):
    """configs/sfc/voc_r50.py on a tiny demo dataset, random init, 64 px
    crops, total batch 4, one epoch."""
    crop = '(64,64)'
    return [
        '--cfg-options', f'data_root={data_root}',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'model.backbone.init_cfg=None',
        f'model.data_preprocessor.size={crop}',
        'train_dataloader.dataset.pipeline.1.min_size=64',
        'train_dataloader.dataset.pipeline.1.max_size=96',
        'train_dataloader.dataset.pipeline.3.crop_size=64',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=5',
        'param_scheduler.0.end=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.save_last=True',
    ]


@pytest.mark.integration
def test_dist_train_voc_config_four_processes(tiny_demo, tmp_path,
                                              repo_root):
    """``tools/dist_train.sh configs/sfc/voc_r50.py 4`` builds and trains:
    1 image per process + 1 bank image each = 4 + 4 per step."""
    out = str(tmp_path / 'sizes.json')
    cfg = tmp_path / 'voc_recorded.py'
    cfg.write_text(
        f"_base_ = [{osp.join(repo_root, SFC['voc'])!r}]\n"
        "custom_imports = dict(imports=['mmseg_sipe', 'batch_recorder'], "
        "allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='ImageBankHook', num_samples=4), "
        f"dict(type='BatchRecorderHook', out={out!r})]\n")
    env = tool_env(extra_pythonpath=[HELPERS])
    env['PORT'] = str(free_port())
    work = str(tmp_path / 'work')
    proc = run_tool(['bash', 'tools/dist_train.sh', str(cfg), '4',
                     '--work-dir', work, *_voc_opts(tiny_demo)], env=env,
                    timeout=900)
    log = proc.stdout + proc.stderr
    assert 'total batch 4 = 4 process(es) x 1 images' in log
    assert "appends 4 bank image(s) over 4 process(es) (1 on this one)" in log
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    with open(out) as f:
        rec = json.load(f)
    assert rec['world_size'] == 4
    assert all(set(sizes) == {2} for sizes in rec['per_rank'])
    scalars = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    with open(scalars[0]) as f:
        first = json.loads(f.readline())
    assert {'loss_cls', 'loss_gsc', 'loss_consistency'} <= set(first)
