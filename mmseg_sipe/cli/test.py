# Copyright (c) mmseg-sipe contributors. Test (evaluate) a checkpoint.
"""Evaluate a checkpoint with mmengine's Runner (mmseg 1.x arguments)."""
import argparse
import os.path as osp

import mmseg_sipe  # noqa: F401  (registers everything; version gate)
from mmengine.runner import Runner  # noqa: E402

from mmseg_sipe.cli.common import (  # noqa: E402
    add_runner_launcher_arg, load_work_dir_config, parse_runner_args)
from mmseg_sipe.utils.checkpoint import (  # noqa: E402
    register_config_checkpoints)
from mmseg_sipe.utils.cli import run_cli  # noqa: E402
from mmseg_sipe.utils.errors import UserError  # noqa: E402
from mmseg_sipe.utils.dist import finish_launch, prepare_launch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MMSeg test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='if specified, the evaluation metric results will be dumped '
        'into the directory as json')
    parser.add_argument(
        '--out',
        type=str,
        help='directory to save the predicted segmentation maps (PNG)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. If specified, '
        'it will be automatically saved to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config')
    add_runner_launcher_arg(parser)
    parser.add_argument(
        '--tta', action='store_true', help='Test time augmentation')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parse_runner_args(parser, argv)


def trigger_visualization_hook(cfg, args):
    default_hooks = cfg.default_hooks
    if 'visualization' in default_hooks:
        visualization_hook = default_hooks['visualization']
        visualization_hook['draw'] = True
        if args.show:
            visualization_hook['show'] = True
            visualization_hook['wait_time'] = args.wait_time
        if args.show_dir:
            visualizer = cfg.visualizer
            visualizer['save_dir'] = args.show_dir
    else:
        raise UserError(
            '--show/--show-dir need a visualization hook in default_hooks '
            "(see mmseg's configs/_base_/default_runtime.py)")
    return cfg


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = load_work_dir_config(args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        for key in ('tta_pipeline', 'tta_model'):
            if not cfg.get(key, None):
                raise UserError(f'--tta: the config {args.config} has no '
                                f'{key}')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    # The checkpoint must fit the model exactly (else one line, not a
    # warning and the mIoU of a randomly initialised model); it is read
    # weights_only like every checkpoint outside a training work dir.
    cfg.custom_hooks = list(cfg.get('custom_hooks', None) or []) + [
        dict(type='StrictLoadHook')]
    register_config_checkpoints(cfg)
    cfg = prepare_launch(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    print(f'Test results: {metrics}')
    finish_launch()


if __name__ == '__main__':
    run_cli(main)
