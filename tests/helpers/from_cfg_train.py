"""mmseg's own ``tools/train.py``, reduced to its logic: read the config with
``Config.fromfile`` (before any plugin is imported), ``Runner.from_cfg``,
``train()``.  Without CUDA, mmengine's pytorch launcher would call
``torch.cuda.set_device``; the CPU adaptation (gloo, DDP without device ids)
is applied then -- it does not touch the data loader.

    python -m torch.distributed.run --nproc_per_node 2 from_cfg_train.py \
        CONFIG --work-dir WORK_DIR [--cfg-options key=value ...]
"""
import argparse

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', default='pytorch')
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    cfg.launcher = 'pytorch'
    if not torch.cuda.is_available():
        from mmseg_sipe.utils.dist import prepare_launch
        cfg = prepare_launch(cfg, 'pytorch')
    runner = Runner.from_cfg(cfg)
    runner.train()
    from mmseg_sipe.utils.dist import finish_launch
    finish_launch()


if __name__ == '__main__':
    main()
