"""A non-editable ``pip install .`` runs the pipeline's commands from the
installed package, in a directory outside the checkout."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig

import pytest

from sipe_testing import ROOT


def _run(args, cwd, env, timeout=900):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f'{args} exited {proc.returncode}\nSTDOUT:\n{proc.stdout[-3000:]}\n'
        f'STDERR:\n{proc.stderr[-5000:]}')
    return proc


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """A fresh venv whose dependencies are this interpreter's packages (one
    ``.pth`` line; the checkout's editable install is *not* visible there)
    and which holds a wheel install of this checkout."""
    base = tmp_path_factory.mktemp('installed')
    venv = base / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)], check=True)
    py = str(venv / 'bin' / 'python')
    site = subprocess.run(
        [py, '-c', 'import sysconfig; print(sysconfig.get_paths()'
         '["purelib"])'], check=True, capture_output=True,
        text=True).stdout.strip()
    deps = sysconfig.get_paths()['purelib']
    with open(osp.join(site, '_deps.pth'), 'w') as f:
        f.write(deps + '\n')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    # build from a copy: a build writes build/ and mmseg_sipe/.mim/ copies
    # into its source tree, which must not touch the checkout
    src = str(base / 'src')
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        '.git', '.venv*', 'work_dirs', 'data', 'build', '*.egg-info', '.mim',
        '__pycache__', '.pytest_cache'))
    # pip of the test interpreter, installing into the new venv's site dir
    _run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
          '--no-build-isolation', '--no-compile', '--disable-pip-version-check',
          '--target', site, '--upgrade', src], cwd=str(base), env=env)
    bin_dir = osp.join(site, 'bin')  # --target puts console scripts here
    _run([py, osp.join(ROOT, 'tools/env/_sipe_tv_cpu_hook.py'), '--install',
          '--site', site], cwd=str(base), env=env)
    return dict(py=py, site=site, bin=bin_dir, cwd=str(base), env=env)


@pytest.mark.integration
def test_installed_package_is_the_one_imported(installed):
    p = _run([installed['py'], '-c',
              'import mmseg_sipe, mmseg_sipe_scopes, json; '
              'from mmseg_sipe.utils.config import package_data_root; '
              'print(json.dumps([mmseg_sipe.__file__, package_data_root()]))'],
             cwd=installed['cwd'], env=installed['env'])
    module, data_root = json.loads(p.stdout.strip().splitlines()[-1])
    assert module.startswith(installed['site'])
    assert not module.startswith(ROOT)
    # configs/ and tools/ ship inside the package (mim, config lookup)
    assert data_root == osp.join(installed['site'], 'mmseg_sipe', '.mim')
    assert osp.isfile(osp.join(data_root, 'configs/sipe/voc_r50.py'))
    assert osp.isfile(osp.join(data_root, 'tools/dist_train.sh'))
    # the wheel installs the config-scope start-up hook next to its module
    assert osp.isfile(osp.join(installed['site'], 'mmseg_sipe_scopes.pth'))


@pytest.mark.integration
def test_installed_commands_run_a_pipeline_step(installed):
    """Demo data, then stage-one training through the console script, with a
    config path that resolves to the package's own configs."""
    cwd, env, py = installed['cwd'], installed['env'], installed['py']
    _run([py, '-m', 'mmseg_sipe.cli.make_demo_dataset', 'data/demo',
          '--num-train', '4', '--num-val', '2', '--num-aug', '4'], cwd, env)
    assert osp.isfile(osp.join(cwd, 'data/demo/ImageSets/Segmentation/'
                               'train_aug.txt'))
    work = osp.join(cwd, 'work_dirs', 'stage1')
    train = [py, osp.join(installed['bin'], 'sipe-train')]
    p = _run(train + [
        'configs/sipe/demo_r18.py', '--work-dir', work, '--cfg-options',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
        'param_scheduler.0.end=1'
    ], cwd, env)
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    assert 'mIoU' in p.stdout + p.stderr
