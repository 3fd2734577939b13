"""Pipeline step records: a rerun skips a step only when what it was run with
is unchanged; ``--from`` redoes a step and everything after it; a change
upstream reruns everything downstream.  The scheduling is tested with steps
that only record their calls (the steps themselves are tested end to end in
test_run_pipeline.py)."""
import os
import os.path as osp

import pytest
from mmengine.config import Config

from mmseg_sipe.pipeline import PipelineRunner


def _runner(cfg, work_dir, calls, messages, seed=None):
    """A runner whose steps append their name to ``calls`` (stage1 and
    make_cam also write an output file)."""
    runner = PipelineRunner(cfg, work_dir, seed=seed, log=messages.append)
    for step in runner.steps():
        def fn(step=step):
            calls.append(step)
            out = {'stage1': 'stage1', 'make_cam': 'cam'}.get(step)
            if out:
                os.makedirs(runner.path(out), exist_ok=True)
                with open(runner.path(out, 'result.txt'), 'w') as f:
                    f.write(step)
            return {'value': len(calls)}
        setattr(runner, f'step_{step}', fn)
    return runner


@pytest.fixture
def setup(tmp_path, repo_root):
    data = tmp_path / 'data'
    (data / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    (data / 'JPEGImages').mkdir()
    (data / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('a\nb\n')
    cfg = Config(dict(
        data_root=str(data),
        stage1_config=osp.join(repo_root, 'configs/sipe/demo_r18.py'),
        irn_config=osp.join(repo_root, 'configs/sipe/irn_demo.py'),
        stage2_config=osp.join(
            repo_root,
            'configs/sipe/deeplabv2_r18-d8_1xb8-800i_demo-pseudo-128x128.py'),
        use_irn=True, cam=dict(split='train_aug'), crf=dict(num_workers=1),
        random_walk=dict(beta=10)))
    return cfg, str(tmp_path / 'work'), data


def test_unchanged_rerun_skips_everything(setup):
    cfg, work, _ = setup
    calls, msgs = [], []
    _runner(cfg, work, calls, msgs).run()
    assert calls == _runner(cfg, work, [], []).steps()
    n = len(calls)
    _runner(cfg, work, calls, msgs).run()
    assert len(calls) == n  # nothing ran again
    assert any('done before with the same inputs, skipped' in m
               for m in msgs)


def test_another_data_root_reruns_every_step(setup, tmp_path):
    cfg, work, data = setup
    calls = []
    _runner(cfg, work, calls, []).run()
    first = list(calls)
    other = tmp_path / 'other'
    (other / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    (other / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('a\nb\n')
    cfg2 = Config(cfg.to_dict())
    cfg2.data_root = str(other)
    calls.clear()
    msgs = []
    _runner(cfg2, work, calls, msgs).run()
    assert calls == first
    assert any('stage1: redone (its inputs changed)' in m for m in msgs)
    assert any('removed previous outputs' in m for m in msgs)


def test_a_changed_split_file_reruns_every_step(setup):
    cfg, work, data = setup
    calls = []
    _runner(cfg, work, calls, []).run()
    first = list(calls)
    (data / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('a\nc\n')
    calls.clear()
    _runner(cfg, work, calls, []).run()
    assert calls == first


@pytest.mark.parametrize('key, value, first', [
    ('random_walk', dict(beta=8), 'make_seg_labels'),
    ('stage2_amp', True, 'stage2'),
    ('stage2_init_from_stage1', True, 'stage2'),
])
def test_a_downstream_setting_reruns_from_its_step(setup, key, value, first):
    cfg, work, _ = setup
    calls = []
    _runner(cfg, work, calls, []).run()
    steps = list(calls)
    cfg2 = Config(cfg.to_dict())
    cfg2[key] = value
    calls.clear()
    _runner(cfg2, work, calls, []).run()
    assert calls == steps[steps.index(first):]


def test_from_redoes_its_step_and_everything_after_it(setup):
    cfg, work, _ = setup
    calls = []
    runner = _runner(cfg, work, calls, [])
    runner.run()
    steps = list(calls)
    with open(runner.path('cam', 'result.txt')) as f:
        assert f.read() == 'make_cam'
    calls.clear()
    msgs = []
    _runner(cfg, work, calls, msgs).run(start='make_cam', stop='eval_cam')
    assert calls == ['make_cam', 'eval_cam']
    assert any('make_cam: redone (--from make_cam)' in m for m in msgs)
    # the steps after --to are now stale: a plain rerun redoes them
    calls.clear()
    _runner(cfg, work, calls, []).run()
    assert calls == steps[steps.index('cam2ir'):]


def _interrupted_in_stage1(cfg, work, calls):
    """A run killed in stage1 after it wrote a partial checkpoint."""
    runner = _runner(cfg, work, calls, [])

    def killed():
        os.makedirs(runner.path('stage1'), exist_ok=True)
        with open(runner.path('stage1', 'partial.pth'), 'w') as f:
            f.write('x')
        raise KeyboardInterrupt
    runner.step_stage1 = killed
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    return runner


def test_interrupted_step_resumes_with_same_inputs_only(setup):
    cfg, work, _ = setup
    calls = []
    runner = _interrupted_in_stage1(cfg, work, calls)
    assert osp.isfile(runner.path('steps', 'stage1.started.json'))
    # same inputs: resumed, the partial outputs are kept for --resume
    calls.clear()
    r2 = _runner(cfg, work, calls, [])
    r2.step_stage1 = lambda: calls.append('stage1') or {}
    r2.run(stop='stage1')
    assert calls == ['stage1']
    assert osp.isfile(r2.path('stage1', 'partial.pth'))
    assert not osp.exists(r2.path('steps', 'stage1.started.json'))


def test_interrupted_step_with_other_inputs_starts_afresh(setup):
    cfg, work, _ = setup
    _interrupted_in_stage1(cfg, work, [])
    cfg2 = Config(cfg.to_dict())
    cfg2.stage1_options = ['optim_wrapper.optimizer.lr=0.05']
    msgs = []
    _runner(cfg2, work, [], msgs).run(stop='stage1')
    assert any('interrupted run with other inputs' in m for m in msgs)
    assert not osp.exists(osp.join(work, 'stage1', 'partial.pth'))


def _recording(cfg, work_dir, messages):
    """A real runner whose step commands are recorded, not run."""
    runner = PipelineRunner(cfg, work_dir, log=messages.append)
    calls = []
    runner._run = lambda args, distributed=False: calls.append(list(args))
    return runner, calls


@pytest.mark.parametrize('use_irn, crf, expected', [
    (True, dict(num_workers=1), None),
    (True, dict(num_workers=1, bg_scale=0.25), '0.25'),
    (False, dict(num_workers=1, bg_scale=0.25), None),  # label mode: unused
])
def test_cam2ir_step_passes_the_confident_background_factor(
        setup, use_irn, crf, expected):
    cfg, work, _ = setup
    cfg2 = Config(cfg.to_dict())
    cfg2.use_irn, cfg2.crf = use_irn, crf
    runner, calls = _recording(cfg2, work, [])
    runner.step_cam2ir()
    (args, ) = calls
    assert args[0] == 'cam2ir'
    assert args[args.index('--mode') + 1] == ('cam2ir' if use_irn else
                                              'label')
    if expected is None:
        assert '--bg-scale' not in args
    else:
        assert args[args.index('--bg-scale') + 1] == expected


@pytest.mark.parametrize('stage2_amp, native, expected, message', [
    (None, 'bf16', [], None),
    (True, 'bf16', ['--amp', '--amp-dtype', 'bf16'], 'mixed precision (bf16)'),
    (True, 'fp16', ['--amp', '--amp-dtype', 'fp16'], 'mixed precision (fp16)'),
    (True, None, [], 'float32 (stage2_amp is set, but this CPU has no '
     'native bfloat16 kernels)'),
])
def test_stage2_mixed_precision_only_where_the_device_is_fast(
        setup, monkeypatch, stage2_amp, native, expected, message):
    from mmseg_sipe.utils import amp as amp_mod
    cfg, work, _ = setup
    cfg2 = Config(cfg.to_dict())
    if stage2_amp is not None:
        cfg2.stage2_amp = stage2_amp
    monkeypatch.setattr(amp_mod, 'native_amp', lambda device=None: native)
    msgs = []
    runner, calls = _recording(cfg2, work, msgs)
    runner._last_checkpoint = lambda wd: 'ckpt'
    runner.step_stage2()
    (args, ) = calls
    assert args[:2] == ['train', cfg2.stage2_config]
    if expected:
        i = args.index('--amp')
        assert args[i:i + 3] == expected
    else:
        assert not [a for a in args if a.startswith('--amp')]
    assert any(message in m for m in msgs) if message else not any(
        'stage2:' in m for m in msgs)


@pytest.mark.parametrize('init', [False, True])
def test_stage2_backbone_starts_from_stage_one_when_asked(setup, init):
    """``stage2_init_from_stage1``: stage two trains a child of its config
    whose backbone loads the stage-one checkpoint (prefix ``backbone.``);
    without it, the config as it is."""
    cfg, work, _ = setup
    cfg2 = Config(cfg.to_dict())
    cfg2.stage2_init_from_stage1 = init
    runner, calls = _recording(cfg2, work, [])
    runner._stage1_ckpt = lambda: '/ckpts/stage1/epoch_32.pth'
    runner._last_checkpoint = lambda wd: 'ckpt'
    runner.step_stage2()
    (args, ) = calls
    child_path = osp.join(work, 'configs', 'stage2.py')
    assert args[1] == (child_path if init else cfg2.stage2_config)
    assert osp.isfile(child_path) == init
    if init:
        child = Config.fromfile(child_path)
        # no `_delete_` left over: the stage-two config has no init_cfg to
        # replace, and the initialiser would receive it as an argument
        assert child.model.backbone.init_cfg == dict(
            type='Pretrained', checkpoint='/ckpts/stage1/epoch_32.pth',
            prefix='backbone.')
        # the rest is the stage-two config
        base = Config.fromfile(cfg2.stage2_config)
        assert child.model.decode_head == base.model.decode_head
        assert child.train_cfg == base.train_cfg


def test_irn_backbone_init_replaces_the_configs_own(setup, tmp_path):
    """An IRN config that names its own pretrained backbone (VOC's
    ImageNet ResNet-50) gets stage one's instead, with nothing of its own
    init_cfg left."""
    cfg, work, _ = setup
    irn = tmp_path / 'irn_own_init.py'
    irn.write_text(
        f"_base_ = [{cfg.irn_config!r}]\n"
        "model = dict(backbone=dict(init_cfg=dict(_delete_=True, "
        "type='Pretrained', "
        "checkpoint='torchvision://resnet18', map_location='cpu')))\n")
    cfg2 = Config(cfg.to_dict())
    cfg2.irn_config = str(irn)
    cfg2.irn_init_from_stage1 = True
    runner, _ = _recording(cfg2, work, [])
    runner._stage1_ckpt = lambda: '/ckpts/stage1/epoch_32.pth'
    assert Config.fromfile(str(irn)).model.backbone.init_cfg.checkpoint == (
        'torchvision://resnet18')
    child = Config.fromfile(runner._irn_config())
    assert child.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='/ckpts/stage1/epoch_32.pth',
        prefix='backbone.')
