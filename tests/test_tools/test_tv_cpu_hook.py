"""The torchvision start-up hook installed by tools/setup_env.sh on a CPU torch
(tools/env/_sipe_tv_cpu_hook.py): torchvision, mmpretrain and mmengine's
Runner environment report import; start-up does not import torch."""
import os
import os.path as osp
import subprocess
import sys
import sysconfig
import textwrap

import pytest
import torch

from sipe_testing import ROOT

HOOK_SRC = osp.join(ROOT, 'tools', 'env', '_sipe_tv_cpu_hook.py')
SITE = sysconfig.get_paths()['purelib']
CPU_TORCH = torch.version.cuda is None


def _skip_without_mmpretrain_setup():
    if os.environ.get('SIPE_WITH_MMPRETRAIN') == '0':
        pytest.skip('set-up without mmpretrain/torchvision '
                    '(SIPE_WITH_MMPRETRAIN=0)')


def _python(code, env=None, cwd=None):
    proc = subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_installed_hook_is_the_repository_version():
    _skip_without_mmpretrain_setup()
    installed = osp.join(SITE, '_sipe_tv_cpu_hook.py')
    pth = osp.join(SITE, '_sipe_tv_cpu_hook.pth')
    if not CPU_TORCH:
        assert not osp.exists(pth), 'hook must not be installed on CUDA torch'
        pytest.skip('CUDA torch: the start-up hook is installed only on a '
                    'CPU torch')
    assert osp.isfile(pth), 'run bash tools/setup_env.sh'
    with open(pth) as f:
        assert f.read().strip() == 'import _sipe_tv_cpu_hook'
    with open(installed) as a, open(HOOK_SRC) as b:
        assert a.read() == b.read(), 'stale hook: run bash tools/setup_env.sh'


def test_startup_does_not_import_torch():
    out = _python("""
        import sys
        print('torch' in sys.modules, '_sipe_tv_cpu_hook' in sys.modules)
    """)
    torch_loaded, hook_loaded = out.split()
    assert torch_loaded == 'False'
    if CPU_TORCH and os.environ.get('SIPE_WITH_MMPRETRAIN') != '0':
        assert hook_loaded == 'True'


def test_torchvision_mmpretrain_and_runner_env_import():
    _skip_without_mmpretrain_setup()
    out = _python("""
        import torchvision
        import torch
        from torchvision.ops.boxes import box_iou
        import torchvision.transforms as T
        import mmpretrain.models
        from mmengine.utils.dl_utils import collect_env
        iou = box_iou(torch.tensor([[0., 0., 2., 2.]]),
                      torch.tensor([[1., 1., 3., 3.]]))
        print(round(float(iou), 6))
        print(collect_env()['TorchVision'] == torchvision.__version__)
        print('cuda-wheel' if '+cu' in torchvision.__version__ else 'other')
        try:
            torchvision.ops.nms(torch.rand(3, 4), torch.rand(3), 0.5)
            print('nms-ran')
        except RuntimeError as e:
            print('nms-unavailable' if "Couldn't load custom C++ ops" in str(e)
                  else f'other: {e}')
    """)
    lines = out.split()
    assert float(lines[0]) == pytest.approx(1 / 7, abs=1e-6)  # 1 / (4+4-1)
    assert lines[1] == 'True'
    if CPU_TORCH and lines[2] == 'cuda-wheel':
        # the tested set-up: CUDA wheel on a CPU torch -> torchvision's own
        # clear error, never a crash at import
        assert lines[3] == 'nms-unavailable'
    else:  # torchvision with working ops
        assert lines[3] == 'nms-ran'


LOADABLE_LIB = '/lib/x86_64-linux-gnu/libz.so.1'  # any real shared library


def _fake_torchvision(root, extension):
    pkg = root / 'torchvision'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('FAKE = True\n')
    if extension:
        import importlib.machinery
        import shutil
        suffix = importlib.machinery.EXTENSION_SUFFIXES[-1]  # '.so'
        target = pkg / ('_C' + suffix)
        if extension == 'broken':
            target.write_bytes(b'not an ELF file')
        else:  # 'loadable': stands for a CPU torchvision's own ops
            shutil.copyfile(LOADABLE_LIB, target)


@pytest.mark.parametrize('extension,expected',
                         [('broken', 'defined'), (None, 'no-extension'),
                          ('loadable', 'native-ops')])
def test_hook_defines_schemas_only_when_the_extension_cannot_load(
        tmp_path, extension, expected):
    if not CPU_TORCH:
        pytest.skip('the hook acts on a CPU-only torch only')
    if extension == 'loadable' and not osp.exists(LOADABLE_LIB):
        pytest.skip(f'{LOADABLE_LIB} not on this system')
    _fake_torchvision(tmp_path, extension)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(tmp_path), osp.dirname(HOOK_SRC)] +
        ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    out = _python("""
        import sys
        import _sipe_tv_cpu_hook as hook
        hook.uninstall()
        import torch
        status = hook.define_missing_schemas()
        has_nms = hasattr(torch.ops.torchvision, 'nms')
        print(status, has_nms)
        # the finder acts once, then removes itself
        hook.install()
        import torchvision
        print(torchvision.FAKE, any(
            type(f).__name__ == '_TorchvisionFinder' for f in sys.meta_path))
    """, env=env, cwd=str(tmp_path))
    first, second = out.strip().splitlines()
    assert first == f'{expected} {expected == "defined"}'
    assert second == 'True False'


@pytest.mark.integration
def test_install_and_uninstall_into_a_site_dir(tmp_path):
    """``python tools/env/_sipe_tv_cpu_hook.py --install`` (what set-up and
    users run): copies itself + a ``.pth`` on a CPU torch, atomically;
    ``--uninstall`` removes both."""
    site = tmp_path / 'site'
    site.mkdir()
    cmd = [sys.executable, HOOK_SRC]
    proc = subprocess.run(cmd + ['--install', '--site', str(site)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in site.iterdir())
    if CPU_TORCH:
        assert files == ['_sipe_tv_cpu_hook.pth', '_sipe_tv_cpu_hook.py']
        assert (site / '_sipe_tv_cpu_hook.pth').read_text() == \
            'import _sipe_tv_cpu_hook\n'
        with open(HOOK_SRC) as f:
            assert (site / '_sipe_tv_cpu_hook.py').read_text() == f.read()
    else:
        assert files == []
    proc = subprocess.run(cmd + ['--uninstall', '--site', str(site)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert list(site.iterdir()) == []
