"""AutocastOptimWrapper: bf16 mixed precision on CPU (mmengine's
AmpOptimWrapper cannot be built without a GPU), and tools/train.py --amp."""
import glob
import json
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

import mmseg_sipe  # noqa: F401
from mmseg_sipe.engine import AutocastOptimWrapper
from sipe_testing import ROOT, demo_train_opts, fp16_cpu_ok, run_tool


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 2))


def test_forward_runs_in_bf16_and_steps_in_fp32():
    model = _model()
    wrapper = build_optim_wrapper(model, dict(
        type='AutocastOptimWrapper', dtype='bfloat16',
        optimizer=dict(type='SGD', lr=0.1), clip_grad=dict(max_norm=1.0)))
    assert isinstance(wrapper, AutocastOptimWrapper)
    x = torch.randn(2, 3, 8, 8)
    with wrapper.optim_context(model):
        h = model[0](x)
        out = model(x)
    assert h.dtype == torch.bfloat16  # autocast was on
    assert model[0](x).dtype == torch.float32  # and only inside
    before = model[0].weight.detach().clone()
    wrapper.update_params(out.float().pow(2).mean())
    assert model[0].weight.dtype == torch.float32  # master weights stay fp32
    assert not torch.equal(before, model[0].weight)
    # checkpoint state is the plain OptimWrapper's (resumable either way)
    state = wrapper.state_dict()
    assert set(state) == set(wrapper.optimizer.state_dict())


def test_bad_dtype_and_cpu_fp16():
    with pytest.raises(ValueError, match="'bfloat16' or 'float16'"):
        build_optim_wrapper(_model(), dict(
            type='AutocastOptimWrapper', dtype='int8',
            optimizer=dict(type='SGD', lr=0.1)))
    if fp16_cpu_ok():
        pytest.skip('the CPU has native float16 kernels, so CPU fp16 is '
                    'allowed, not refused')
    model = _model()
    wrapper = build_optim_wrapper(model, dict(
        type='AutocastOptimWrapper', dtype='float16',
        optimizer=dict(type='SGD', lr=0.1)))
    with pytest.raises(ValueError, match='fp16'):
        with wrapper.optim_context(model):
            pass


def _first_loss(work):
    scalars = glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))
    with open(scalars[0]) as f:
        losses = [json.loads(line)['loss'] for line in f if '"loss"' in line]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    return losses[0]


@pytest.mark.integration
@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU behaviour')
def test_train_py_amp_on_cpu(tiny_demo, tmp_path):
    """``--amp`` trains through the Runner in bf16: same seed and data as a
    float32 run, so the first loss is close to it but not bit-identical
    (autocast really ran inside the Runner's train step)."""
    runs = {}
    for tag, extra in (('fp32', []), ('amp', ['--amp'])):
        work = tmp_path / tag
        run_tool([sys.executable, 'tools/train.py', 'configs/sipe/demo_r18.py',
                  *extra, '--work-dir', str(work),
                  *demo_train_opts(tiny_demo)])
        assert osp.isfile(work / 'epoch_1.pth')
        runs[tag] = _first_loss(work)
    cfg = Config.fromfile(str(tmp_path / 'amp' / 'demo_r18.py'))
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.optim_wrapper.clip_grad.max_norm == 1.0  # kept
    diff = abs(runs['amp'] - runs['fp32'])
    assert 0 < diff < 0.05 * abs(runs['fp32']), runs


@pytest.mark.integration
@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU behaviour')
def test_train_py_amp_fp16_on_cpu_is_a_clear_error(tiny_demo, tmp_path):
    proc = run_tool([sys.executable, 'tools/train.py',
                     'configs/sipe/demo_r18.py', '--amp', '--amp-dtype',
                     'fp16', '--work-dir', str(tmp_path / 'w'),
                     *demo_train_opts(tiny_demo)], check=False)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert err[-1].startswith('error: ') and '--amp-dtype fp16' in err[-1]
    assert 'bf16' in err[-1]
    assert not (tmp_path / 'w' / 'epoch_1.pth').exists()


def test_enable_amp_on_cpu_config_variants(monkeypatch):
    """``--amp`` rewrites the optimiser wrapper: plain -> Autocast(bf16);
    a config's AmpOptimWrapper (GPU-only in mmengine) -> Autocast on CPU;
    the amp flag placed before the config parses (mmseg order)."""
    from mmseg_sipe.cli import train as train_tool
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config(dict(optim_wrapper=dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))))
    train_tool.enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    cfg = Config(dict(optim_wrapper=dict(
        type='AmpOptimWrapper', loss_scale='dynamic',
        optimizer=dict(type='SGD', lr=0.1))))
    train_tool.enable_amp(cfg, 'bf16')
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    cfg = Config(dict(optim_wrapper=dict(
        type='ApexOptimWrapper', optimizer=dict(type='SGD', lr=0.1))))
    with pytest.raises(ValueError, match='ApexOptimWrapper'):
        train_tool.enable_amp(cfg)
    args = train_tool.parse_args(['--amp', 'configs/sipe/demo_r18.py'])
    assert args.amp and args.config == 'configs/sipe/demo_r18.py'
    assert args.amp_dtype == 'auto'
