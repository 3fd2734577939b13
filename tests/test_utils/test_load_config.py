"""load_config: top-level variable overrides re-point their uses."""
import pytest

from mmseg_sipe.utils.config import load_config


def test_data_root_override_repoints_datasets(repo_root):
    cfg = load_config(f'{repo_root}/configs/sipe/demo_r18.py',
                      dict(data_root='/elsewhere/demo'))
    assert cfg.train_dataloader.dataset.data_root == '/elsewhere/demo'
    assert cfg.val_dataloader.dataset.data_root == '/elsewhere/demo'
    assert cfg.data_root == '/elsewhere/demo'


def test_plain_override_untouched(repo_root):
    cfg = load_config(f'{repo_root}/configs/sipe/demo_r18.py',
                      {'train_dataloader.dataset.data_root': '/x'})
    assert cfg.train_dataloader.dataset.data_root == '/x'
    assert cfg.val_dataloader.dataset.data_root == 'data/demo'


def test_missing_config(tmp_path):
    with pytest.raises(FileNotFoundError, match='config file not found'):
        load_config(str(tmp_path / 'nope.py'))
