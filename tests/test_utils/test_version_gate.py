"""The import-time version gate and its one-line CLI error."""
import os
import subprocess
import sys

import pytest

from mmseg_sipe.utils.version_gate import (IncompatibleVersionError,
                                           check_versions)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
GOOD = {
    'torch': '2.13.0+cpu',
    'mmengine': '0.10.7',
    'mmcv': '2.1.0',
    'mmsegmentation': '1.2.2'
}


def test_good_versions_pass():
    check_versions(dict(GOOD))


@pytest.mark.parametrize('name,version,needle', [
    ('mmcv', '2.2.0', 'mmcv>=2.0.0,<2.2.0 but found mmcv==2.2.0'),
    ('mmcv', '1.7.2', 'found mmcv==1.7.2'),
    ('mmsegmentation', '1.3.0', 'found mmsegmentation==1.3.0'),
    ('mmengine', '1.0.0', 'found mmengine==1.0.0'),
    ('mmcv', None, 'mmcv>=2.0.0,<2.2.0 but it is not installed'),
    ('mmcv', 'lite-2.1.0', 'full mmcv with compiled ops'),
])
def test_bad_versions_raise_actionable_error(name, version, needle):
    versions = dict(GOOD)
    versions[name] = version
    with pytest.raises(IncompatibleVersionError) as exc:
        check_versions(versions)
    msg = str(exc.value)
    assert needle in msg
    assert 'tools/setup_env.sh' in msg  # says what to do
    assert '\n' not in msg


def test_wrong_mmcv_gives_one_line_cli_error(tmp_path):
    """A fake mmcv 2.2.0 distribution first on sys.path: tools/train.py must
    stop with one line naming mmcv and the fix, before any traceback."""
    dist_info = tmp_path / 'mmcv-2.2.0.dist-info'
    dist_info.mkdir()
    (dist_info / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: mmcv\nVersion: 2.2.0\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/sipe/voc_r50.py'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines[-1].startswith('error: mmseg_sipe needs mmcv>=2.0.0,<2.2.0 '
                                'but found mmcv==2.2.0')
    assert 'Traceback' not in proc.stderr
