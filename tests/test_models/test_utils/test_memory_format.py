"""Opt-in channels-last weights (``model.channels_last=True`` on
SIPEClassifier and CRFEncoderDecoder; NCHW is the default): same initial
values and outputs as NCHW, strides kept across init_weights, and DDP sees
no stride change."""
import copy
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.config import Config

import mmseg_sipe  # noqa: F401
from mmseg_sipe.registry import MODELS
from sipe_testing import ROOT, tool_env

CL = torch.channels_last


def _build(path, channels_last, seed=0):
    cfg = Config.fromfile(osp.join(ROOT, path))
    m = copy.deepcopy(cfg.model)
    m.pop('pretrained', None)
    m.backbone.init_cfg = None
    m.channels_last = channels_last
    torch.manual_seed(seed)
    model = MODELS.build(m)
    torch.manual_seed(seed + 1)
    model.init_weights()
    return model.eval()


def _conv_weights(model):
    return [(n, p) for n, p in model.named_parameters() if p.dim() == 4]


@pytest.mark.parametrize('path', [
    'configs/sipe/demo_r18.py',
    'configs/sipe/deeplabv2_r18-d8_1xb8-800i_demo-pseudo-128x128.py',
])
def test_channels_last_equals_nchw(path):
    cl, nchw = _build(path, True), _build(path, False)
    weights = _conv_weights(cl)
    assert weights
    for n, p in weights:
        assert p.is_contiguous(memory_format=CL), n
        if p.shape[-2:] != (1, 1) and p.shape[1] > 1:
            assert not p.is_contiguous(), n  # really NHWC, not ambiguous
    # the random init draws the same values as an NCHW model (in-place
    # random fills on NHWC storage would permute them)
    ref = nchw.state_dict()
    for k, v in cl.state_dict().items():
        assert torch.equal(v, ref[k]), k
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        if hasattr(cl, 'forward_features'):
            a, b = cl.forward_features(x)['cam'], nchw.forward_features(x)['cam']
        else:
            a, b = cl._forward(x), nchw._forward(x)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_default_is_nchw():
    model = _build('configs/sipe/demo_r18.py', False)
    assert all(p.is_contiguous() for _, p in _conv_weights(model))
    cfg = Config.fromfile(osp.join(ROOT, 'configs/sipe/demo_r18.py'))
    assert not cfg.model.get('channels_last', False)


def test_init_weights_keeps_parameters_and_strides():
    model = _build('configs/sipe/demo_r18.py', True)
    before = {n: (id(p), p.stride()) for n, p in _conv_weights(model)}
    model.init_weights()
    after = {n: (id(p), p.stride()) for n, p in _conv_weights(model)}
    assert before == after


@pytest.mark.integration
def test_ddp_wrapped_before_init_weights_sees_no_stride_change(tmp_path):
    """The Runner wraps the model in DDP *then* calls init_weights; the
    gradient buckets must still match the parameters' strides.  (Control,
    run by hand: converting the wrapped module to NCHW instead gives torch's
    "Grad strides do not match bucket view strides" warning here.)"""
    script = tmp_path / 'ddp.py'
    script.write_text(textwrap.dedent(f"""
        import os, warnings, torch, torch.distributed as dist
        os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT='0')
        dist.init_process_group('gloo', rank=0, world_size=1,
                                init_method='tcp://127.0.0.1:0')
        from mmengine.config import Config
        import mmseg_sipe
        from mmengine.registry import init_default_scope
        from mmseg_sipe.registry import MODELS
        init_default_scope('mmseg')
        cfg = Config.fromfile('{ROOT}/configs/sipe/demo_r18.py')
        cfg.model.channels_last = True
        model = MODELS.build(cfg.model)
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        ddp.module.init_weights()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            # through DDP's forward, so its reducer prepares the buckets
            out = ddp(torch.randn(2, 3, 64, 64), mode='tensor')
            sum(o.float().sum() for o in out).backward()
        print('STRIDE-WARNINGS', sum('strides' in str(x.message) for x in w))
        dist.destroy_process_group()
    """))
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT,
                          env=tool_env(), capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'STRIDE-WARNINGS 0' in out
    assert 'Grad strides do not match' not in out
