"""Step 2: multi-scale + flip IS-CAM for every image of a split.

    python tools/make_cam.py CONFIG CHECKPOINT --out-dir WORK/cam --split train_aug
    tools/dist_run.sh tools/make_cam.py 4 CONFIG CHECKPOINT --out-dir WORK/cam

Each rank takes its own shard (every image exactly once), writes one
``<name>.npz`` per image (keys + maps, no pickle) atomically, and a rerun skips
finished images.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='stage-one config')
    p.add_argument('checkpoint', help='stage-one checkpoint')
    p.add_argument('--out-dir', required=True, help='output directory')
    p.add_argument('--split', default=None,
                   help='VOC-layout split (ImageSets/Segmentation/<split>.txt)'
                   ', e.g. train_aug for pseudo labels; default: the '
                   'config\'s test dataset as it is (VOC train / COCO '
                   'train2014)')
    p.add_argument('--ann-file', help='annotation/split file overriding '
                   '--split (e.g. a COCO instances JSON)')
    p.add_argument('--data-root', help='override the dataset root')
    p.add_argument('--scales', type=float, nargs='+',
                   default=[1.0, 0.5, 1.5, 2.0])
    p.add_argument('--dtype', choices=['float16', 'float32'],
                   default='float16', help='stored map precision')
    p.add_argument('--amp', choices=['bf16', 'fp16'],
                   help='mixed-precision network forward (seed/prototype math '
                   'stays fp32)')
    p.add_argument('--cam-out-dir', help='also write the plain multi-scale '
                   'CAM (for CAM-vs-IS-CAM evaluation)')
    p.add_argument('--num-workers', type=int, default=2,
                   help='image-loading workers per rank')
    p.add_argument('--skip-bad', action='store_true',
                   help='record unreadable images in <out-dir>/failed.json '
                   'and go on (default: stop with an error naming the file)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings (key=value)')
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import mmseg_sipe  # noqa: F401
    from mmseg_sipe.cam import (dataset_items, load_classifier, make_cams,
                                split_dataset_cfg)
    from mmseg_sipe.utils.checkpoint import trust_checkpoints
    from mmseg_sipe.utils.config import load_config
    from mmseg_sipe.utils.dist import finish_launch
    from mmseg_sipe.utils.sharded import dist_info, init_dist_for_tool

    cfg = load_config(args.config, args.cfg_options)
    device = init_dist_for_tool(args.launcher)
    ds_cfg = split_dataset_cfg(cfg, args.split, args.ann_file)
    if args.data_root:
        ds_cfg['data_root'] = args.data_root
    items = dataset_items(ds_cfg)
    trust_checkpoints([args.checkpoint])
    model = load_classifier(cfg, args.checkpoint, device)
    summary = make_cams(
        model, items, args.out_dir, scales=args.scales, dtype=args.dtype,
        amp=args.amp, num_workers=args.num_workers, skip_bad=args.skip_bad,
        cam_out_dir=args.cam_out_dir)
    rank, _ = dist_info()
    if rank == 0:
        print(summary.line('make_cam') + f' -> {args.out_dir}')
    failed = summary.failed
    finish_launch()
    if failed:
        sys.exit(1)


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
