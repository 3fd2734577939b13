"""Config scopes on the fork (mmseg_sipe_scopes) and a quiet start-up."""
import pytest
import os
import subprocess
import sys
import textwrap

import mmseg_sipe_scopes
from mmseg_sipe.utils.quiet import without_noise_lines


def _fake_installed(names):
    return lambda dist: dist in names


def test_alias_only_where_the_fork_alone_is_installed(monkeypatch):
    mapping = {'mmseg': 'mmsegmentation', 'mmpretrain': 'mmpretrain',
               'mmdet': 'mmdet', 'mmcls': 'mmcls'}
    monkeypatch.setattr(mmseg_sipe_scopes, '_installed', _fake_installed(
        {'onedl-mmsegmentation', 'mmpretrain', 'onedl-mmpretrain'}))
    changed = mmseg_sipe_scopes.alias_scopes(mapping)
    assert changed == {'mmseg': 'onedl-mmsegmentation'}
    assert mapping == {'mmseg': 'onedl-mmsegmentation',
                       'mmpretrain': 'mmpretrain',  # official one present
                       'mmdet': 'mmdet', 'mmcls': 'mmcls'}
    assert mmseg_sipe_scopes.alias_scopes(mapping) == {}  # idempotent


def test_official_stack_is_left_alone(monkeypatch):
    mapping = {'mmseg': 'mmsegmentation'}
    monkeypatch.setattr(mmseg_sipe_scopes, '_installed', _fake_installed(
        {'mmsegmentation'}))
    assert mmseg_sipe_scopes.alias_scopes(mapping) == {}
    assert mapping == {'mmseg': 'mmsegmentation'}


@pytest.mark.integration
def test_scoped_config_loads_before_any_plugin_import(tmp_path):
    """What mmseg's own tools/train.py and `mim train` do: Config.fromfile on
    a config with ``mmseg::`` bases, with no mmseg_sipe import before it --
    the start-up hook (installed by the set-up / the wheel) makes it work on
    the fork; the official stack needs nothing."""
    cfg = tmp_path / 'scoped.py'
    cfg.write_text("_base_ = ['mmseg::_base_/default_runtime.py']\n")
    code = textwrap.dedent(f'''
        import sys
        from mmengine.config import Config
        cfg = Config.fromfile({str(cfg)!r})
        assert cfg.default_scope == 'mmseg', cfg.default_scope
        assert 'mmseg_sipe' not in sys.modules
        print('ok')
    ''')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == 'ok'


def test_pth_install_and_uninstall(tmp_path):
    site = tmp_path / 'site'
    site.mkdir()
    assert mmseg_sipe_scopes.main(['--install', '--site', str(site)]) == 0
    pth = site / mmseg_sipe_scopes.PTH_NAME
    assert pth.read_text() == mmseg_sipe_scopes.PTH_LINE
    assert mmseg_sipe_scopes.main(['--uninstall', '--site', str(site)]) == 0
    assert not pth.exists()


@pytest.mark.integration
def test_import_is_quiet():
    """No stack noise on a plain import with Python's default warning
    filters: no printed line, no warning."""
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONWARNINGS', )}
    proc = subprocess.run([sys.executable, '-c', 'import mmseg_sipe'],
                          capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == ''
    assert 'Warning' not in proc.stderr, proc.stderr[-2000:]


def test_noise_filter_keeps_other_lines(capsys):
    with without_noise_lines():
        print('Could not import OneDL')
        print('a real line')
    assert capsys.readouterr().out == 'a real line\n'
