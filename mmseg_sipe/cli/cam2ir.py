"""Step 3a: dense-CRF labels from IS-CAM files (reference ``cam2ir.py``).

    python tools/cam2ir.py CONFIG CAM_DIR --out-dir WORK/ir_label [--num-workers 8]
    tools/dist_run.sh tools/cam2ir.py 4 CONFIG CAM_DIR --out-dir WORK/ir_label

``--mode cam2ir`` (default): IR labels -- confident foreground, confident
background (background x0.5), 255 uncertain -- for IRN training.
``--mode label``: CRF of argmax IS-CAM, no ignore -- COCO's pseudo labels.
"""
import argparse

from mmseg_sipe.cli.common import (add_step_args, dataset_items_from_args,
                                   finish_step, start_step)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='stage-one config (dataset definition)')
    p.add_argument('cam_dir', help='IS-CAM directory from tools/make_cam.py')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--mode', choices=['cam2ir', 'label'], default='cam2ir')
    p.add_argument('--num-workers', type=int, default=1,
                   help='CRF processes per rank')
    p.add_argument('--bg-scale', type=float, default=0.5,
                   help='background factor of the confident-bg CRF (cam2ir)')
    p.add_argument('--skip-bad', action='store_true',
                   help='record failures in <out-dir>/failed.json, go on')
    p.add_argument('--allow-reference-format', action='store_true',
                   help='read reference .npy dicts (unpickles; trusted only)')
    add_step_args(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmseg_sipe.pseudo_labels import make_crf_labels
    cfg, _ = start_step(args)
    items = dataset_items_from_args(cfg, args)
    params = dict(bg_scale=args.bg_scale) if args.mode == 'cam2ir' else {}
    summary = make_crf_labels(items, args.cam_dir, args.out_dir, args.mode,
                              args.num_workers, args.skip_bad,
                              args.allow_reference_format, params)
    finish_step(summary, args.mode, args.out_dir)


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
