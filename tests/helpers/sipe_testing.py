"""Helpers shared by the tests (importable as ``sipe_testing``): running
the tools, their options, and small models."""
import importlib.util
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


def load_tool(path, name=None):
    """The module of the tool script at ``path`` (relative to the
    repository root), loaded as ``name`` (default: its file name)."""
    name = name or osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SPLITS = ('train', 'val', 'test')


def data_root_opts(data_root):
    """``--cfg-options`` values pointing a config and its three data
    loaders at ``data_root``."""
    return [f'data_root={data_root}'] + [
        f'{split}_dataloader.dataset.data_root={data_root}'
        for split in SPLITS
    ]


def loader_opts(batch_size):
    """``--cfg-options`` values: total batch ``batch_size``, and no loader
    worker processes."""
    opts = [f'train_dataloader.batch_size={batch_size}']
    for split in SPLITS:
        opts += [f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    return opts


def demo_train_opts(data_root, epochs=1, extra=()):
    """``--cfg-options`` that make ``configs/sipe/demo_r18.py`` (or a child)
    train quickly on a tiny demo dataset: batch 4, no loader workers,
    ``epochs`` epochs with validation at the end, log every iteration."""
    return [
        '--cfg-options', *data_root_opts(data_root), *loader_opts(4),
        f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
        f'param_scheduler.0.end={epochs}', 'default_hooks.logger.interval=1',
        *extra
    ]


def seg_preprocessor(**kw):
    """The configs' ``SegDataPreProcessor`` (ImageNet mean and std, BGR
    images to RGB), with ``kw`` added."""
    return dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        **kw)


def build_seeded(cfg, seed=0, init_weights=True):
    """``MODELS.build(cfg)`` after ``torch.manual_seed(seed)`` (and its
    ``init_weights``): the same random model for the same ``seed``."""
    import torch

    from mmseg_sipe.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    if init_weights:
        model.init_weights()
    return model


def fp16_cpu_ok():
    """Whether this CPU has native float16 kernels (else fp16 is refused)."""
    import torch

    from mmseg_sipe.utils.amp import autocast_context
    try:
        autocast_context(torch.device('cpu'), 'fp16')
        return True
    except ValueError:
        return False
