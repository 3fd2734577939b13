"""Checkpoint loading never unpickles untrusted files, never loads partially
without saying so, and checkpoint writes are atomic (in-process, no
training)."""
import copy
import os.path as osp
import pathlib
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, get_torchvision_models

import mmseg_sipe  # noqa: F401  (installs the safe loaders)
from mmseg_sipe.registry import MODELS
from mmseg_sipe.utils.checkpoint import (CheckpointDownloadError,
                                         CheckpointMismatchError,
                                         CheckpointReadError,
                                         CheckpointWriteError,
                                         UntrustedCheckpointError,
                                         _history_buffer_getattr,
                                         check_checkpoint_fits, is_trusted,
                                         load_checkpoint_file,
                                         resolve_last_checkpoint,
                                         trust_checkpoints, untrust_all)
from mmseg_sipe.utils.checkpoint import \
    write_checkpoint_bytes as atomic_write
from mmseg_sipe.utils.cli import format_error
from mmseg_sipe.utils.config import load_config

from disk_full import full_disk_open
from pickle_payload import save_payload


def one_line(exc):
    line = format_error(exc)
    assert '\n' not in line and line.startswith('error: ')
    return line


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    untrust_all()
    monkeypatch.delenv('SIPE_TRUSTED_CHECKPOINT_DIRS', raising=False)
    yield
    untrust_all()


# --------------------------------------------------------------- unpickling
def test_torchvision_hub_cache_payload_is_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    url = get_torchvision_models()['resnet50']
    cached = tmp_path / 'torch_home' / 'hub' / 'checkpoints' / \
        osp.basename(url)
    marker = tmp_path / 'pwned'
    save_payload(cached, marker)
    with pytest.raises(UntrustedCheckpointError) as info:
        CheckpointLoader.load_checkpoint('torchvision://resnet50')
    assert not marker.exists()
    line = one_line(info.value)
    assert 'torchvision://resnet50' in line and str(cached) in line
    assert 'SIPE_TRUSTED_CHECKPOINT_DIRS' in line


def test_url_load_from_payload_is_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    cached = tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'model.pth'
    marker = tmp_path / 'pwned'
    save_payload(cached, marker)  # already "downloaded": no network use
    with pytest.raises(UntrustedCheckpointError):
        CheckpointLoader.load_checkpoint('http://127.0.0.1:9/model.pth')
    assert not marker.exists()


def test_local_payload_refused_unless_directory_trusted(tmp_path,
                                                        monkeypatch):
    ckpt = tmp_path / 'elsewhere' / 'model.pth'
    marker = tmp_path / 'pwned'
    save_payload(ckpt, marker)
    # naming the file (as make_cam / make_seg_labels do) is no opt-in
    trust_checkpoints([str(ckpt)])
    assert not is_trusted(str(ckpt))
    with pytest.raises(UntrustedCheckpointError) as info:
        CheckpointLoader.load_checkpoint(str(ckpt))
    assert not marker.exists()
    assert f'SIPE_TRUSTED_CHECKPOINT_DIRS={ckpt.parent}' in one_line(
        info.value)
    # the documented opt-in
    monkeypatch.setenv('SIPE_TRUSTED_CHECKPOINT_DIRS', str(ckpt.parent))
    CheckpointLoader.load_checkpoint(str(ckpt))
    assert marker.exists()


def test_runner_checkpoint_loads_weights_only_anywhere(tmp_path):
    buf = HistoryBuffer()
    buf.update(1.0)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict={'w': torch.ones(2)},
                    message_hub=dict(log_scalars={'loss': buf}),
                    meta=dict(np_scalar=np.float64(3.0),
                              arr=np.arange(3, dtype=np.float32))), ckpt)
    assert not is_trusted(str(ckpt))
    out = load_checkpoint_file(str(ckpt))
    hub = out['message_hub']['log_scalars']['loss']
    assert isinstance(hub, HistoryBuffer) and hub.mean() == 1.0
    assert out['meta']['np_scalar'] == 3.0


def test_numpy_objects_load_after_numpy_core_was_imported(tmp_path):
    """numpy 1.26 has a partial ``numpy._core`` (no ``multiarray``) that a
    reference to a numpy-2 pickle imports; the allow-list must not look
    there (a checkpoint the official stack wrote failed to load)."""
    import numpy._core  # noqa: F401
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(s=np.float32(2.5), a=np.arange(4))), ckpt)
    out = load_checkpoint_file(str(ckpt))
    assert out['meta']['s'] == 2.5
    np.testing.assert_array_equal(out['meta']['a'], np.arange(4))


def test_getattr_only_for_history_buffer_statistics():
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is \
        HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(pathlib.Path, 'touch')
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(HistoryBuffer, '__init__')


def test_truncated_checkpoint_is_one_line(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(1000)}}, good)
    bad = tmp_path / 'epoch_3.pth'
    bad.write_bytes(good.read_bytes()[:500])
    with pytest.raises(CheckpointReadError) as info:
        CheckpointLoader.load_checkpoint(str(bad))
    line = one_line(info.value)
    assert str(bad) in line and 'Truncated' in line


def test_download_failure_names_url_cache_and_key(tmp_path, monkeypatch):
    from mmseg_sipe.utils.checkpoint import register_config_checkpoints
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    url = 'http://127.0.0.1:9/offline.pth'  # refused at once, no network
    register_config_checkpoints(dict(model=dict(backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=url)))))
    with pytest.raises(CheckpointDownloadError) as info:
        CheckpointLoader.load_checkpoint(url)
    line = one_line(info.value)
    assert url in line
    assert osp.join(str(tmp_path), 'torch_home', 'hub', 'checkpoints',
                    'offline.pth') in line
    assert '--cfg-options model.backbone.init_cfg=None' in line


# ------------------------------------------------------------ strict loads
def _demo_model(repo_root, **backbone):
    cfg = load_config(osp.join(repo_root, 'configs/sipe/demo_r18.py'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.update(backbone)
    if backbone.get('base_channels') == 64:
        model_cfg.head.in_channels = (64, 128, 256, 512)
    return MODELS.build(model_cfg)


def test_mismatch_is_one_line_with_counts(repo_root):
    model = _demo_model(repo_root)
    other = _demo_model(repo_root, base_channels=64)
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_fits(model, {'state_dict': other.state_dict()},
                              'other.pth')
    line = one_line(info.value)
    assert 'other.pth' in line
    assert '100 shape mismatch(es)' in line and '+95 more' in line
    assert line.count('backbone.') <= 15  # the first keys, not all
    sd = {'module.' + k: v for k, v in model.state_dict().items()}
    check_checkpoint_fits(model, {'state_dict': sd}, 'same.pth')


def _stage_one_checkpoint(repo_root, path, base_channels):
    src = _demo_model(repo_root, base_channels=base_channels)
    with torch.no_grad():
        for p in src.parameters():
            p.uniform_(-1, 1)
    torch.save(dict(state_dict=src.state_dict(), meta=dict()), path)
    return src


def _irn_backbone(repo_root, checkpoint, base_channels, prefix='backbone.'):
    cfg = load_config(osp.join(repo_root, 'configs/sipe/irn_demo.py'))
    bb = copy.deepcopy(cfg.model.backbone)
    bb.base_channels = base_channels
    bb.init_cfg = dict(type='Pretrained', checkpoint=str(checkpoint),
                       prefix=prefix)
    model = MODELS.build(bb)
    model.init_weights()
    return model


def test_pretrained_prefix_same_width_loads(repo_root, tmp_path):
    ckpt = tmp_path / 'stage1.pth'
    src = _stage_one_checkpoint(repo_root, ckpt, 32)
    backbone = _irn_backbone(repo_root, ckpt, 32)
    for k, v in src.backbone.state_dict().items():
        assert torch.equal(backbone.state_dict()[k], v), k


def test_pretrained_prefix_other_width_is_error(repo_root, tmp_path):
    ckpt = tmp_path / 'stage1.pth'
    _stage_one_checkpoint(repo_root, ckpt, 32)
    with pytest.raises(CheckpointMismatchError) as info:
        _irn_backbone(repo_root, ckpt, 64)
    line = one_line(info.value)
    assert str(ckpt) in line and "prefix 'backbone.'" in line
    assert 'shape mismatch(es)' in line


def test_pretrained_prefix_matching_nothing_is_error(repo_root, tmp_path):
    ckpt = tmp_path / 'stage1.pth'
    _stage_one_checkpoint(repo_root, ckpt, 32)
    with pytest.raises(CheckpointMismatchError, match='no key of'):
        _irn_backbone(repo_root, ckpt, 32, prefix='backbon.')


def test_pretrained_without_prefix_tolerates_extra_keys(repo_root,
                                                        tmp_path):
    """ImageNet weights: a classifier ``fc`` is extra, as before."""
    src = _demo_model(repo_root).backbone
    sd = dict(src.state_dict())
    sd['fc.weight'] = torch.zeros(1000, 256)
    ckpt = tmp_path / 'imagenet.pth'
    torch.save(sd, ckpt)
    cfg = load_config(osp.join(repo_root, 'configs/sipe/demo_r18.py'))
    bb = copy.deepcopy(cfg.model.backbone)
    bb.init_cfg = dict(type='Pretrained', checkpoint=str(ckpt))
    model = MODELS.build(bb)
    model.init_weights()
    assert torch.equal(model.conv1.weight, src.conv1.weight)


# ------------------------------------------------------------ atomic writes
def test_atomic_write_on_full_disk_keeps_old_file(tmp_path, monkeypatch):
    import builtins
    target = tmp_path / 'epoch_2.pth'
    target.write_bytes(b'old complete checkpoint')
    monkeypatch.setattr(builtins, 'open', full_disk_open('epoch_2.pth'))
    with pytest.raises(CheckpointWriteError) as info:
        atomic_write(str(target), b'new' * 1000)
    monkeypatch.undo()
    line = one_line(info.value)
    assert str(target) in line and 'No space left on device' in line
    assert target.read_bytes() == b'old complete checkpoint'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_2.pth']
    atomic_write(str(target), b'new')  # a rerun recovers
    assert target.read_bytes() == b'new'


# ------------------------------------------------------------- resuming
def _work_dir_with_checkpoint(root, name='work'):
    wd = root / name
    wd.mkdir()
    (wd / 'epoch_1.pth').write_bytes(b'1')
    (wd / 'last_checkpoint').write_text(str(wd / 'epoch_1.pth'))
    return wd


def test_resolve_last_checkpoint_copied_and_moved(tmp_path):
    import shutil
    orig = _work_dir_with_checkpoint(tmp_path)
    copy_ = tmp_path / 'copy'
    shutil.copytree(orig, copy_)
    assert resolve_last_checkpoint(str(copy_)) == str(copy_ / 'epoch_1.pth')
    shutil.rmtree(orig)
    assert resolve_last_checkpoint(str(copy_)) == str(copy_ / 'epoch_1.pth')
    assert resolve_last_checkpoint(str(tmp_path / 'fresh')) is None


def test_resolve_last_checkpoint_stale_or_empty(tmp_path):
    wd = _work_dir_with_checkpoint(tmp_path)
    (wd / 'epoch_2.pth').write_bytes(b'2')
    (wd / 'last_checkpoint').write_text('')  # cut short by a full disk
    assert resolve_last_checkpoint(str(wd)) == str(wd / 'epoch_2.pth')
    for f in wd.glob('epoch_*.pth'):
        f.unlink()
    (wd / 'last_checkpoint').write_text('/nowhere/epoch_9.pth')
    with pytest.raises(FileNotFoundError, match='epoch_9.pth'):
        resolve_last_checkpoint(str(wd))
