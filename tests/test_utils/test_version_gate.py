"""The import-time version gate (two stacks) and its one-line CLI error."""
import os
import subprocess
import sys

import pytest

from mmseg_sipe.utils.version_gate import (IncompatibleVersionError,
                                           check_versions, detect_stack)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ONEDL = {
    'torch': '2.13.0+cpu',
    'onedl-mmengine': '0.10.12',
    'onedl-mmcv': '2.3.6',
    'onedl-mmsegmentation': '1.4.2',
}
OFFICIAL = {
    'torch': '2.13.0+cpu',
    'mmengine': '0.10.7',
    'mmcv': '2.1.0',
    'mmsegmentation': '1.2.2'
}


@pytest.mark.parametrize('versions,stack', [(ONEDL, 'onedl'),
                                            (OFFICIAL, 'openmmlab')])
def test_good_versions_pass_and_name_their_stack(versions, stack):
    assert check_versions(dict(versions)) == stack
    assert detect_stack(dict(versions)) == stack


def test_installed_stack_is_detected():
    import mmseg_sipe
    assert mmseg_sipe.STACK in ('onedl', 'openmmlab')
    assert check_versions() == mmseg_sipe.STACK


@pytest.mark.parametrize('base,name,version,needle', [
    (OFFICIAL, 'mmcv', '2.2.0', 'mmcv>=2.0.0,<2.2.0 but found mmcv==2.2.0'),
    (OFFICIAL, 'mmcv', '1.7.2', 'found mmcv==1.7.2'),
    (OFFICIAL, 'mmsegmentation', '1.3.0', 'found mmsegmentation==1.3.0'),
    (OFFICIAL, 'mmengine', '1.0.0', 'found mmengine==1.0.0'),
    (OFFICIAL, 'mmcv', None, 'mmcv>=2.0.0,<2.2.0 but it is not installed'),
    (ONEDL, 'onedl-mmsegmentation', '1.2.0',
     'onedl-mmsegmentation>=1.3.0,<2.0.0 but found'),
    (ONEDL, 'onedl-mmcv', None, 'onedl-mmcv>=2.3.0,<3.0.0 but it is not'),
    (ONEDL, 'torch', '1.8.0', 'torch>=1.12.0,<3.0.0, found 1.8.0'),
    (ONEDL, 'onedl-mmsegmentation', None, 'neither onedl-mmsegmentation'),
])
def test_bad_versions_raise_actionable_error(base, name, version, needle):
    versions = dict(base)
    versions[name] = version
    with pytest.raises(IncompatibleVersionError) as exc:
        check_versions(versions)
    msg = str(exc.value)
    assert needle in msg
    # names both ways out
    assert 'bash tools/setup_env.sh' in msg
    assert 'SIPE_STACK=openmmlab' in msg
    assert '\n' not in msg


def test_mmcv_lite_on_the_official_stack():
    versions = dict(OFFICIAL, mmcv=None)
    versions['mmcv-lite'] = '2.1.0'
    with pytest.raises(IncompatibleVersionError,
                       match='needs mmcv with compiled ops'):
        check_versions(versions)


def test_the_fork_wins_when_both_are_installed():
    assert detect_stack({**OFFICIAL, **ONEDL}) == 'onedl'


@pytest.mark.integration
def test_wrong_stack_gives_one_line_cli_error(tmp_path):
    """A fake onedl-mmsegmentation 1.2.0 distribution first on sys.path:
    tools/train.py must stop with one line naming it and the fixes, before
    any traceback."""
    import mmseg_sipe
    name = ('onedl_mmsegmentation' if mmseg_sipe.STACK == 'onedl' else
            'mmsegmentation')
    dist = name.replace('_', '-')
    dist_info = tmp_path / f'{name}-1.0.0.dist-info'
    dist_info.mkdir()
    (dist_info / 'METADATA').write_text(
        f'Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0.0\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/sipe/voc_r50.py'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines[-1].startswith(f'error: mmseg_sipe on the {mmseg_sipe.STACK}'
                                f' stack needs {dist}>=')
    assert f'found {dist}==1.0.0' in lines[-1]
    assert 'Traceback' not in proc.stderr
