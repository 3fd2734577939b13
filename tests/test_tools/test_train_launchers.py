"""tools/train.py, tools/dist_train.sh (2 CPU processes, gloo), resume after
a killed run, tools/test.py -- through the real Runner on the demo data."""
import glob
import json
import os.path as osp
import sys

import pytest

from sipe_testing import HELPERS, free_port, run_tool, tool_env
from sipe_testing import demo_train_opts as opts

CFG = 'configs/sipe/demo_r18.py'


def losses_from_log(work_dir):
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert files, f'no scalars.json in {work_dir}'
    out = []
    with open(files[0]) as f:
        for line in f:
            d = json.loads(line)
            if 'loss' in d:
                out.append(d['loss'])
    return out


@pytest.mark.integration
def test_train_py_reduces_loss_and_validates(tiny_demo, tmp_path):
    work = str(tmp_path / 'work')
    proc = run_tool([
        sys.executable, 'tools/train.py', CFG, '--work-dir', work,
        *opts(tiny_demo, epochs=6, extra=['optim_wrapper.optimizer.lr=0.05'])
    ])
    assert 'Outputs (checkpoints, logs) are in' in proc.stdout + proc.stderr
    assert osp.isfile(osp.join(work, 'epoch_6.pth'))
    losses = losses_from_log(work)
    assert len(losses) >= 6
    first = sum(losses[:2]) / 2
    last = sum(losses[-2:]) / 2
    assert last < first, losses
    assert 'mIoU' in (proc.stdout + proc.stderr)


@pytest.mark.integration
def test_dist_train_two_cpu_processes(tiny_demo, tmp_path):
    work = str(tmp_path / 'work')
    env = tool_env()
    env['PORT'] = str(free_port())
    proc = run_tool(
        ['bash', 'tools/dist_train.sh', CFG, '2', '--work-dir', work,
         *opts(tiny_demo, epochs=2)], env=env)
    out = proc.stdout + proc.stderr
    assert 'total batch 4 = 2 process(es) x 2 images' in out
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    assert 'MMDistributedDataParallel' in out or 'world_size: 2' in out or \
        'Distributed launcher: pytorch' in out


@pytest.mark.integration
def test_resume_after_kill(tiny_demo, tmp_path):
    work = str(tmp_path / 'work')
    env = tool_env(extra_pythonpath=[HELPERS])
    base = [sys.executable, 'tools/train.py', CFG, '--work-dir', work]
    kill_cfg = tmp_path / 'demo_killed.py'
    kill_cfg.write_text(
        f"_base_ = ['{osp.abspath(CFG)}']\n"
        "custom_imports = dict(imports=['mmseg_sipe', 'kill_hook'], "
        "allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='KillAfterEpochHook', epoch=2)]\n")
    killed = run_tool(
        [sys.executable, 'tools/train.py', str(kill_cfg), '--work-dir', work]
        + opts(tiny_demo, epochs=3), env=env, check=False)
    assert killed.returncode != 0  # SIGKILLed after epoch 2
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    assert not osp.isfile(osp.join(work, 'epoch_3.pth'))
    resumed = run_tool(base + ['--resume'] + opts(tiny_demo, epochs=3),
                       env=env)
    out = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 2' in out, out[-3000:]
    assert osp.isfile(osp.join(work, 'epoch_3.pth'))


@pytest.mark.integration
def test_test_py_evaluates_checkpoint(tiny_demo, tmp_path):
    work = str(tmp_path / 'work')
    run_tool([sys.executable, 'tools/train.py', CFG, '--work-dir', work,
              *opts(tiny_demo, epochs=1)])
    proc = run_tool([
        sys.executable, 'tools/test.py', CFG,
        osp.join(work, 'epoch_1.pth'), '--work-dir', str(tmp_path / 'test'),
        *opts(tiny_demo, epochs=1)
    ])
    assert 'Test results:' in proc.stdout and 'mIoU' in proc.stdout


@pytest.mark.integration
@pytest.mark.parametrize('case', ['unregistered', 'missing_data', 'no_config'])
def test_one_line_errors(tiny_demo, tmp_path, case):
    args = [sys.executable, 'tools/train.py', CFG, '--work-dir',
            str(tmp_path / 'w')]
    if case == 'unregistered':
        args += opts(tiny_demo) + ['model.head.type=IPEHeadTypo']
        needle = 'IPEHeadTypo is not in the mmseg::model registry'
    elif case == 'missing_data':
        args += opts(str(tmp_path / 'nowhere'))
        needle = 'nowhere'
    else:
        args[2] = 'configs/sipe/does_not_exist.py'
        needle = 'config file not found: configs/sipe/does_not_exist.py'
    proc = run_tool(args, check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and needle in last, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
