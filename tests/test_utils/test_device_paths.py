"""CUDA-path hygiene that a CPU can show: tensors follow the input's device
(checked on the ``meta`` device, where a tensor made on the wrong device
fails loudly), no host synchronisation inside per-scale / per-step code
(``bool(tensor)`` / ``.item()`` made to raise), pinned non-blocking uploads,
explicit TF32 settings and the NCCL barrier's device."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from sipe_testing import ROOT

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.cases import build_model, demo_image  # noqa: E402
from mmseg_sipe.utils.device import tf32, to_device  # noqa: E402

META = torch.device('meta')


@pytest.fixture(scope='module')
def model():
    torch.set_num_threads(1)
    return build_model(Config.fromfile(
        osp.join(ROOT, 'configs/sipe/demo_r18.py')), seed=0).eval()


@pytest.fixture
def no_host_sync(monkeypatch):
    """Make every device -> host read of a tensor value raise."""

    def boom(*args, **kwargs):
        raise AssertionError('host synchronisation inside the loop')

    for name in ('__bool__', 'item', 'tolist'):
        monkeypatch.setattr(torch.Tensor, name, boom)


# ---------------------------------------------------------------------------
# to_device / tf32
# ---------------------------------------------------------------------------
class _FakeHostTensor:
    """Duck-typed host tensor recording what ``to_device`` does with it."""

    def __init__(self, pinned=False):
        self.device = torch.device('cpu')
        self.pinned = pinned
        self.calls = []

    def is_pinned(self):
        return self.pinned

    def pin_memory(self):
        self.calls.append('pin_memory')
        return _FakeHostTensor(pinned=True)

    def to(self, *args, **kwargs):
        self.calls.append(('to', args, kwargs))
        return self


def test_to_device_pins_and_does_not_block_for_cuda():
    t = _FakeHostTensor()
    out = to_device(t, 'cuda:0')
    assert t.calls == ['pin_memory']
    assert out.calls == [('to', (torch.device('cuda:0'), ),
                          dict(non_blocking=True))]
    pinned = _FakeHostTensor(pinned=True)
    to_device(pinned, torch.device('cuda'))
    assert pinned.calls == [('to', (torch.device('cuda'), ),
                             dict(non_blocking=True))]


def test_to_device_elsewhere_is_a_plain_copy():
    x = torch.arange(6, dtype=torch.uint8)
    assert to_device(x, 'cpu') is x
    m = to_device(x, META)
    assert m.device == META and m.dtype == torch.uint8


def test_tf32_sets_and_restores_flags_for_cuda_only():
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    before = (cudnn.allow_tf32, matmul.allow_tf32)
    try:
        cudnn.allow_tf32, matmul.allow_tf32 = True, True
        with tf32('cpu', False):  # not a CUDA device: untouched
            assert (cudnn.allow_tf32, matmul.allow_tf32) == (True, True)
        with tf32(torch.device('cuda', 0), False):
            assert (cudnn.allow_tf32, matmul.allow_tf32) == (False, False)
        assert (cudnn.allow_tf32, matmul.allow_tf32) == (True, True)
        cudnn.allow_tf32, matmul.allow_tf32 = False, False
        with pytest.raises(RuntimeError):
            with tf32('cuda', True):
                assert (cudnn.allow_tf32, matmul.allow_tf32) == (True, True)
                raise RuntimeError('restored on errors too')
        assert (cudnn.allow_tf32, matmul.allow_tf32) == (False, False)
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = before


# ---------------------------------------------------------------------------
# IS-CAM inference
# ---------------------------------------------------------------------------
def test_flip_pair_follows_the_device():
    img, _, _ = demo_image(20, 28, seed=0)
    from mmseg_sipe.cam.inference import flip_pair
    batch = flip_pair(img, META)
    assert batch.device == META and batch.shape == (2, 3, 20, 28)


def test_scale_is_cam_runs_on_the_models_device(model):
    """Every tensor of the per-scale path is made on the batch's device
    (a CPU-made one would fail on ``meta``), and nothing in it reads a
    device value back (``meta`` has none to read)."""
    import copy

    from mmseg_sipe.cam.inference import flip_pair, scale_is_cam
    img, _, _ = demo_image(40, 56, seed=0)
    m = copy.deepcopy(model).to(META)
    label_mask = torch.zeros(1, 21, 1, 1, device=META)
    is_cam, cam = scale_is_cam(m, flip_pair(img, META), label_mask)
    assert is_cam.device == META and cam.device == META
    assert is_cam.shape == (21, 3, 4) and cam.shape == (20, 3, 4)


def test_multiscale_is_cam_syncs_once_per_image(model, monkeypatch,
                                                no_host_sync):
    from mmseg_sipe.cam import inference
    img, _, labels = demo_image(40, 56, seed=0)
    copies = []
    real_cpu = torch.Tensor.cpu

    def counting_cpu(self, *a, **k):
        copies.append(tuple(self.shape))
        return real_cpu(self, *a, **k)

    monkeypatch.setattr(torch.Tensor, 'cpu', counting_cpu)
    tf32_calls = []
    real_tf32 = inference.tf32

    def spy_tf32(device, enabled):
        tf32_calls.append((torch.device(device).type, enabled))
        return real_tf32(device, enabled)

    monkeypatch.setattr(inference, 'tf32', spy_tf32)
    keys, out = inference.multiscale_is_cam(
        model, img, labels, scales=(1.0, 0.5, 1.5, 2.0))
    assert copies == [out.shape]  # the result, once; nothing per scale
    assert tf32_calls == [('cpu', False)]  # exact path: TF32 stated off
    inference.multiscale_is_cam(model, img, labels, scales=(1.0, ),
                                allow_tf32=True)
    assert tf32_calls[-1] == ('cpu', True)


def test_structure_seeds_has_no_host_sync(monkeypatch, no_host_sync):
    from mmseg_sipe.models.functional import structure_seeds
    g = torch.Generator().manual_seed(0)
    norm_cam = torch.rand(2, 4, 5, 6, generator=g)
    feat = torch.rand(2, 8, 5, 6, generator=g)
    feat[0, :, 0, 0] = 0  # a zero feature vector meeting ...
    norm_cam[0, 2] = 0  # ... an all-zero class map: the NaN case
    seeds = structure_seeds(norm_cam, feat, torch.ones(2, 4, 1, 1))
    monkeypatch.undo()  # values may be read again
    assert seeds.shape == (2, 4, 5, 6)
    assert torch.all(seeds.sum(1) == 1)
    # where the reference's score is NaN the first NaN channel wins
    assert seeds[0, :, 0, 0].argmax() == 2


def test_training_loss_runs_on_the_inputs_device(model):
    """SIPEClassifier.loss on ``meta``: labels, valid mask and every
    intermediate follow the inputs' device."""
    import copy

    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    m = copy.deepcopy(model).train().to(META)
    samples = []
    for i in range(2):
        ds = SegDataSample(metainfo=dict(
            img_labels=np.eye(20, dtype=np.float32)[i + 3],
            img_shape=(32, 32)))
        ds.valid_mask = PixelData(
            data=torch.ones(1, 32, 32, dtype=torch.uint8, device=META))
        samples.append(ds)
    losses = m.loss(torch.zeros(2, 3, 32, 32, device=META), samples)
    assert set(losses) == {'loss_cls', 'loss_gsc'}
    assert all(v.device == META for v in losses.values())


# ---------------------------------------------------------------------------
# IRN and the random walk
# ---------------------------------------------------------------------------
def test_irn_loss_follows_the_device():
    from mmseg_sipe.models.irn.losses import affinity_displacement_loss
    edge = torch.zeros(2, 1, 24, 24, device=META)
    disp = torch.zeros(2, 2, 24, 24, device=META)
    label = torch.zeros(2, 24, 24, dtype=torch.long, device=META)
    out = affinity_displacement_loss(edge, disp, label, radius=5)
    assert all(v.device == META for v in out.values())


def test_random_walk_uploads_in_the_stored_dtype(monkeypatch):
    """A float16 IS-CAM goes to the device as float16 and is converted
    there; the labels are those of the float32 input."""
    from mmseg_sipe.refine import random_walk as rw
    from mmseg_sipe.refine.random_walk import random_walk_labels
    g = torch.Generator().manual_seed(0)
    cam = torch.rand(3, 20, 24, generator=g).numpy()
    edge = torch.rand(1, 5, 6, generator=g)
    ref = random_walk_labels(cam, [0, 2, 5], edge, exp_times=3)
    seen = []
    real = rw.to_device

    def spy(t, device):
        seen.append(t.dtype)
        return real(t, device)

    monkeypatch.setattr(rw, 'to_device', spy)
    got = random_walk_labels(cam.astype(np.float16), [0, 2, 5], edge,
                             exp_times=3, device='cpu')
    assert seen[0] == torch.float16
    assert got.shape == ref.shape == (20, 24)


# ---------------------------------------------------------------------------
# distributed shutdown
# ---------------------------------------------------------------------------
def test_finish_launch_names_the_gpu_for_the_nccl_barrier(monkeypatch):
    import mmseg_sipe.utils.dist as d
    calls = []
    monkeypatch.setattr(d.dist, 'is_available', lambda: True)
    monkeypatch.setattr(d.dist, 'is_initialized', lambda: True)
    monkeypatch.setattr(d.dist, 'get_backend', lambda: 'nccl')
    monkeypatch.setattr(d.dist, 'barrier',
                        lambda **kw: calls.append(('barrier', kw)))
    monkeypatch.setattr(d.dist, 'destroy_process_group',
                        lambda: calls.append(('destroy', {})))
    monkeypatch.setattr(d.torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(d.torch.cuda, 'current_device', lambda: 3)
    d.finish_launch()
    assert calls == [('barrier', dict(device_ids=[3])), ('destroy', {})]
