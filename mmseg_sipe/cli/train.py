# Copyright (c) mmseg-sipe contributors. Train any mmseg_sipe / mmseg config.
"""Train a model (stage one, IRN or stage two) with mmengine's Runner.

Same arguments as mmsegmentation 1.x ``tools/train.py``.  Works on GPU
clusters (NCCL) and on CPU-only machines (gloo) unchanged.
"""
import argparse
import logging
import os
import os.path as osp
import sys

import mmseg_sipe  # noqa: F401  (registers everything; version gate)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmseg_sipe.utils.checkpoint import trust_checkpoints  # noqa: E402
from mmseg_sipe.utils.cli import run_cli  # noqa: E402
from mmseg_sipe.utils.config import load_config  # noqa: E402
from mmseg_sipe.utils.dist import finish_launch, prepare_launch  # noqa: E402


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
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local_rank, torchrun/PyTorch 2 pass
    # --local-rank; accept both.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_cfg(args) -> Config:
    cfg = load_config(args.config, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        enable_amp(cfg, args.amp_dtype)
    elif args.amp_dtype != 'auto':
        raise ValueError('--amp-dtype needs --amp')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    cfg = prepare_launch(cfg, args.launcher)
    return cfg


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
    # The run's own work dir (and a checkpoint the user named) are trusted for
    # full loading on torch>=2.6; everything else keeps weights_only loading.
    trust_checkpoints([cfg.work_dir, args.resume if args.resume not in
                       (None, 'auto') else None])
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
