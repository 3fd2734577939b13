"""Step 3c: IRN random walk on IS-CAM -> pseudo-label PNGs.

    python tools/make_seg_labels.py IRN_CONFIG IRN_CKPT CAM_DIR --out-dir WORK/pseudo_label
    tools/dist_run.sh tools/make_seg_labels.py 4 IRN_CONFIG IRN_CKPT CAM_DIR --out-dir ...

Reference recipe: IS-CAM including its background channel to the power 1.5,
beta 10, exp_times 8, radius 5, no background threshold; any image size.
"""
import argparse

from mmseg_sipe.cli.common import (add_step_args, dataset_items_from_args,
                                   finish_step, start_step)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='IRN config (its test dataset = images)')
    p.add_argument('checkpoint', help='IRN checkpoint')
    p.add_argument('cam_dir', help='IS-CAM directory from tools/make_cam.py')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--stage1-config', help='config whose dataset lists the '
                   'images (default: the IRN config\'s stage1_config or '
                   'the IRN dataset)')
    p.add_argument('--beta', type=float, default=10.0)
    p.add_argument('--exp-times', type=int, default=8)
    p.add_argument('--radius', type=int, default=5)
    p.add_argument('--power', type=float, default=1.5)
    p.add_argument('--num-workers', type=int, default=1)
    p.add_argument('--skip-bad', action='store_true')
    p.add_argument('--allow-reference-format', action='store_true')
    add_step_args(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmseg_sipe.pseudo_labels.seg_labels import load_irn, make_seg_labels
    from mmseg_sipe.utils.config import load_config
    cfg, device = start_step(args)
    list_cfg = load_config(args.stage1_config or cfg.get(
        'stage1_config', args.config))
    items = dataset_items_from_args(list_cfg, args)
    model = load_irn(cfg, args.checkpoint, device)
    summary = make_seg_labels(model, items, args.cam_dir, args.out_dir,
                              args.beta, args.exp_times, args.radius,
                              args.power, args.skip_bad,
                              args.allow_reference_format, args.num_workers)
    finish_step(summary, 'make_seg_labels', args.out_dir)


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
