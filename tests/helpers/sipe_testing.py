"""Helpers for tool-level tests (importable as ``sipe_testing``)."""
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HELPERS = osp.dirname(osp.abspath(__file__))


def tool_env(extra_pythonpath=()):
    """Environment for running tools/*.py and tools/*.sh in a subprocess."""
    env = dict(os.environ)
    paths = [ROOT, *extra_pythonpath]
    if env.get('PYTHONPATH'):
        paths.append(env['PYTHONPATH'])
    env['PYTHONPATH'] = os.pathsep.join(paths)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    env['PYTHON'] = sys.executable
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONUNBUFFERED'] = '1'
    return env


def run_tool(args, timeout=600, env=None, check=True):
    """Run a command from the repo root; on failure show its output."""
    proc = subprocess.run(
        args, cwd=ROOT, env=env or tool_env(), capture_output=True,
        text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{args} exited {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}'
            f'\nSTDERR:\n{proc.stderr[-6000:]}')
    return proc


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def demo_train_opts(data_root, epochs=1, extra=()):
    """``--cfg-options`` that make ``configs/sipe/demo_r18.py`` (or a child)
    train quickly on a tiny demo dataset: batch 4, no loader workers,
    ``epochs`` epochs with validation at the end, log every iteration."""
    return [
        '--cfg-options', f'data_root={data_root}',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
        f'param_scheduler.0.end={epochs}', 'default_hooks.logger.interval=1',
        *extra
    ]


def fp16_cpu_ok():
    """Whether this CPU has native float16 kernels (else fp16 is refused)."""
    import torch

    from mmseg_sipe.utils.amp import autocast_context
    try:
        autocast_context(torch.device('cpu'), 'fp16')
        return True
    except ValueError:
        return False
