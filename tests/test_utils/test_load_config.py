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


def test_cfg_options_typo_is_an_error_with_suggestion(repo_root):
    from mmseg_sipe.utils.cli import format_error
    with pytest.raises(KeyError) as info:
        load_config(f'{repo_root}/configs/sipe/demo_r18.py',
                    {'data_rot': '/elsewhere/demo'})
    line = format_error(info.value)
    assert line.startswith('error: --cfg-options data_rot:')
    assert "no key 'data_rot'" in line and 'did you mean data_root' in line


@pytest.mark.parametrize('config,options', [
    ('configs/sipe/demo_r18.py', {'model.backbone.init_cfg': None,
                                  'train_dataloader.batch_size': 4,
                                  'randomness.seed': 1,
                                  'model.backbone.new_key': 1}),
    ('configs/sipe/irn_demo.py', {'ir_label_dir': 'x', 'data_root': 'y',
                                  'randomness.seed': 1}),
    # stage two: no randomness in the config, but the Runner reads it
    ('configs/sipe/deeplabv2_r18-d8_1xb8-800i_demo-pseudo-128x128.py',
     {'pseudo_label_dir': 'x', 'data_root': 'y', 'randomness.seed': 1,
      'train_dataloader.dataset.data_prefix.seg_map_path': 'x'}),
])
def test_cfg_options_that_exist_or_extend_are_accepted(repo_root, config,
                                                       options):
    cfg = load_config(f'{repo_root}/{config}', options)
    assert cfg.randomness.seed == 1
