"""Step 2: multi-scale + flip IS-CAM for every image of a split.

    python tools/make_cam.py CONFIG CHECKPOINT --out-dir WORK/cam --split train_aug
    tools/dist_run.sh tools/make_cam.py 4 CONFIG CHECKPOINT --out-dir WORK/cam

Each rank takes its own shard (every image exactly once), writes one
``<name>.npz`` per image (keys + maps, no pickle) atomically, and a rerun skips
finished images.
"""
import argparse

from mmseg_sipe.cli.common import (add_step_args, dataset_items_from_args,
                                   finish_step, start_step)

from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='stage-one config')
    p.add_argument('checkpoint', help='stage-one checkpoint')
    p.add_argument('--out-dir', required=True, help='output directory')
    p.add_argument('--scales', type=float, nargs='+',
                   default=[1.0, 0.5, 1.5, 2.0])
    p.add_argument('--dtype', choices=['float16', 'float32'],
                   default='float16', help='stored map precision')
    p.add_argument('--amp', choices=['bf16', 'fp16'],
                   help='mixed-precision network forward (seed/prototype math '
                   'stays fp32)')
    p.add_argument('--no-fold-bn', action='store_true',
                   help='keep BatchNorm layers separate (default: fold them '
                   'into the convolutions; same maps to float rounding)')
    p.add_argument('--cam-out-dir', help='also write the plain multi-scale '
                   'CAM (for CAM-vs-IS-CAM evaluation)')
    p.add_argument('--num-workers', type=int, default=2,
                   help='image-loading workers per rank')
    p.add_argument('--skip-bad', action='store_true',
                   help='record unreadable images in <out-dir>/failed.json '
                   'and go on (default: stop with an error naming the file)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings (key=value)')
    add_step_args(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmseg_sipe.cam import load_classifier, make_cams
    cfg, device = start_step(args, args.cfg_options)
    items = dataset_items_from_args(cfg, args)
    model = load_classifier(cfg, args.checkpoint, device)
    summary = make_cams(
        model, items, args.out_dir, scales=args.scales, dtype=args.dtype,
        amp=args.amp, num_workers=args.num_workers, skip_bad=args.skip_bad,
        cam_out_dir=args.cam_out_dir, fold_bn=not args.no_fold_bn)
    finish_step(summary, 'make_cam', args.out_dir)


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
