"""Trusted loading of the user's own checkpoints on torch >= 2.6."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from mmseg_sipe.utils.checkpoint import (is_trusted, trust_checkpoints,
                                         trusted_checkpoints, untrust_all)


def _runner_like_checkpoint(path):
    # what makes mmengine Runner checkpoints fail weights_only loading
    buf = HistoryBuffer()
    buf.update(1.0)
    torch.save(dict(state_dict={'w': torch.ones(2)},
                    message_hub=dict(buf=buf),
                    meta=dict(np_scalar=np.float64(3.0))), path)


@pytest.fixture(autouse=True)
def _clean():
    untrust_all()
    yield
    untrust_all()


def test_untrusted_checkpoint_keeps_weights_only(tmp_path):
    ckpt = tmp_path / 'elsewhere' / 'iter_1.pth'
    ckpt.parent.mkdir()
    _runner_like_checkpoint(ckpt)
    trust_checkpoints([str(tmp_path / 'work_dir')])
    assert not is_trusted(str(ckpt))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(ckpt))


def test_work_dir_checkpoint_loads_fully(tmp_path):
    work = tmp_path / 'work_dir'
    work.mkdir()
    ckpt = work / 'epoch_1.pth'
    _runner_like_checkpoint(ckpt)
    with trusted_checkpoints([str(work)]):
        assert is_trusted(str(ckpt))
        out = torch.load(str(ckpt))
        assert isinstance(out['message_hub']['buf'], HistoryBuffer)
    # restored afterwards: weights_only again
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(ckpt))


def test_prefix_directory_is_not_trusted(tmp_path):
    trust_checkpoints([str(tmp_path / 'work')])
    assert not is_trusted(str(tmp_path / 'work_other' / 'a.pth'))
    assert is_trusted(str(tmp_path / 'work' / 'sub' / 'a.pth'))


def test_env_var_trusts_directory(tmp_path, monkeypatch):
    monkeypatch.setenv('SIPE_TRUSTED_CHECKPOINT_DIRS', str(tmp_path))
    assert is_trusted(str(tmp_path / 'x.pth'))


def test_explicit_weights_only_is_respected(tmp_path):
    ckpt = tmp_path / 'a.pth'
    _runner_like_checkpoint(ckpt)
    trust_checkpoints([str(tmp_path)])
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(ckpt), weights_only=True)
