# Copyright (c) mmseg-sipe contributors. Train any mmseg_sipe / mmseg config.
"""Train a model (stage one, IRN or stage two) with mmengine's Runner.

Same arguments as mmsegmentation 1.x ``tools/train.py``.  Works on GPU
clusters (NCCL) and on CPU-only machines (gloo) unchanged.
"""
import argparse
import logging
import os
import os.path as osp

import mmseg_sipe  # noqa: F401  (registers everything; version gate)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmseg_sipe.cli.common import (  # noqa: E402
    add_runner_launcher_arg, load_work_dir_config, parse_runner_args)
from mmseg_sipe.utils.checkpoint import (  # noqa: E402
    register_config_checkpoints, resolve_last_checkpoint, trust_checkpoints)
from mmseg_sipe.utils.cli import run_cli  # noqa: E402
from mmseg_sipe.utils.errors import PeerFailedError, UserError  # noqa: E402
from mmseg_sipe.utils.dist import finish_launch, prepare_launch  # noqa: E402
from mmseg_sipe.utils.process import (die_with_parent,  # noqa: E402
                                      lock_work_dir)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the latest checkpoint in the work dir, or from the '
        'given checkpoint path')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='mixed-precision training: fp16 with loss scaling on CUDA, '
        'bf16 on CPU (see --amp-dtype)')
    parser.add_argument(
        '--amp-dtype',
        choices=['auto', 'bf16', 'fp16'],
        default='auto',
        help='low-precision type for --amp (default auto: fp16 on CUDA, bf16 '
        'on CPU; fp16 training on CPU is refused: it needs loss scaling)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    add_runner_launcher_arg(parser)
    # torch.distributed.launch passes --local_rank, torchrun/PyTorch 2 pass
    # --local-rank; accept both.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parse_runner_args(parser, argv)


def build_cfg(args) -> Config:
    cfg = load_work_dir_config(args)
    if args.amp:
        enable_amp(cfg, args.amp_dtype)
    elif args.amp_dtype != 'auto':
        raise ValueError('--amp-dtype needs --amp')
    check_work_dir(cfg.work_dir)
    if args.resume == 'auto':
        cfg.resume = True
        # this work dir's own checkpoint, also in a copied or moved work dir
        # (None: mmengine starts from scratch, saying so)
        cfg.load_from = resolve_last_checkpoint(cfg.work_dir)
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    use_sipe_checkpoint_hook(cfg)
    register_config_checkpoints(cfg)
    cfg = prepare_launch(cfg, args.launcher)
    return cfg


def check_work_dir(work_dir: str) -> None:
    """Create ``work_dir`` and make sure files can be written in it: one line
    naming the directory instead of a traceback from deep in the Runner."""
    import tempfile
    if '://' in str(work_dir):
        return
    try:
        os.makedirs(work_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=work_dir):
            pass
    except OSError as exc:
        msg = (f'cannot write to the work dir {work_dir}: '
               f'{exc.strerror or exc}; choose another with --work-dir (or '
               'fix its permissions)')
        if int(os.environ.get('RANK', '0') or 0) != 0:
            raise PeerFailedError(msg) from None  # rank 0 says it
        raise UserError(msg) from None


def use_sipe_checkpoint_hook(cfg: Config) -> None:
    """Save through :class:`~mmseg_sipe.engine.hooks.SIPECheckpointHook`
    (atomic writes, resumable copied work dirs) where the config names
    mmengine's plain ``CheckpointHook``."""
    hook = (cfg.get('default_hooks', None) or {}).get('checkpoint', None)
    if isinstance(hook, dict) and hook.get('type') in (
            'CheckpointHook', 'mmengine.CheckpointHook'):
        hook['type'] = 'SIPECheckpointHook'


def enable_amp(cfg: Config, amp: str = 'auto') -> None:
    """Switch ``cfg.optim_wrapper`` to mixed precision.

    CUDA: mmengine's ``AmpOptimWrapper`` (``fp16`` with dynamic loss scaling
    by default, or ``bf16``).  CPU: our ``AutocastOptimWrapper`` (bf16
    autocast, no loss scaling; mmengine's wrapper cannot be built without a
    GPU) -- also replacing an ``AmpOptimWrapper`` the config already names.
    fp16 training on CPU is refused: it would need loss scaling.
    """
    import torch
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    cuda = torch.cuda.is_available()
    if amp == 'auto':
        amp = 'fp16' if cuda else 'bf16'
    if not cuda and amp == 'fp16':
        raise ValueError('--amp-dtype fp16: fp16 training needs loss scaling, '
                         'which mmengine provides on CUDA only; use bf16 on '
                         'CPU (the default there)')
    dtype = {'bf16': 'bfloat16', 'fp16': 'float16'}[amp]
    if wrapper not in ('OptimWrapper', 'AmpOptimWrapper',
                       'AutocastOptimWrapper'):
        raise ValueError('--amp needs optim_wrapper.type = OptimWrapper in '
                         f'the config, got {wrapper!r}')
    if wrapper != 'OptimWrapper':
        print_log(f'--amp: the config already uses {wrapper}; setting its '
                  f'dtype to {dtype}', logger='current', level=logging.WARNING)
    if cuda:
        if wrapper != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    else:
        cfg.optim_wrapper.type = 'AutocastOptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
    cfg.optim_wrapper.dtype = dtype


def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    # Only the run's own work dir (and SIPE_TRUSTED_CHECKPOINT_DIRS) may hold
    # checkpoints that need a full unpickle; everything else, including a
    # --resume path elsewhere, is read weights_only (Runner checkpoints are).
    trust_checkpoints([cfg.work_dir])
    if cfg.launcher != 'none':
        die_with_parent()  # a killed launcher takes its workers down
    if int(os.environ.get('RANK', '0')) == 0:
        lock_work_dir(cfg.work_dir)  # one run at a time per work dir
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        from mmseg_sipe.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    runner.train()
    print_log(f'Training finished. Outputs (checkpoints, logs) are in '
              f'{osp.abspath(cfg.work_dir)}', logger='current')
    finish_launch()


if __name__ == '__main__':
    run_cli(main)
