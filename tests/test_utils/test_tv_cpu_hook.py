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
        return
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
    # CPU torch + CUDA torchvision wheel: torchvision's own clear error
    # (a CPU or CUDA torchvision with working ops runs nms).
    assert lines[2] in ('nms-unavailable', 'nms-ran')


def _fake_torchvision(root, with_extension):
    pkg = root / 'torchvision'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('FAKE = True\n')
    if with_extension:
        import importlib.machinery
        suffix = importlib.machinery.EXTENSION_SUFFIXES[-1]  # '.so'
        (pkg / ('_C' + suffix)).write_bytes(b'not an ELF file')


@pytest.mark.parametrize('with_extension,expected',
                         [(True, 'defined'), (False, 'no-extension')])
def test_hook_defines_schemas_only_when_the_extension_cannot_load(
        tmp_path, with_extension, expected):
    if not CPU_TORCH:
        pytest.skip('the hook acts on a CPU-only torch only')
    _fake_torchvision(tmp_path, with_extension)
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
