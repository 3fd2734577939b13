"""Evaluate localisation maps (mIoU) written by tools/make_cam.py.

    python tools/eval_cam.py CONFIG CAM_DIR [--split train] [--mode both]

Prints a table and writes JSON (default ``<CAM_DIR>/eval_<split>.json``).
``argmax``: argmax over the stored channels incl. the IS-CAM background
(SIPE protocol); ``threshold``: constant background score swept (IRN
protocol, for plain CAMs).
"""
import argparse

from mmseg_sipe.cli.common import add_dataset_args, eval_items, write_eval_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='stage-one config (dataset definition)')
    p.add_argument('cam_dir', help='directory of <name>.npz maps')
    p.add_argument('--mode', choices=['argmax', 'threshold', 'both'],
                   default='both')
    p.add_argument('--thresholds', type=float, nargs='+')
    p.add_argument('--out', help='JSON output path')
    p.add_argument('--allow-reference-format', action='store_true',
                   help='also read reference .npy dicts (unpickles: only '
                   'for files you trust)')
    add_dataset_args(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmseg_sipe.evaluation import evaluate_cams, format_table

    items, num_classes = eval_items(args)
    modes = ['argmax', 'threshold'] if args.mode == 'both' else [args.mode]
    res = evaluate_cams(items, args.cam_dir, num_classes, modes,
                        args.thresholds, args.allow_reference_format)
    rows = []
    if 'argmax' in res:
        rows.append(['argmax (IS-CAM bg)', '-', f"{res['argmax']['mIoU']:.2f}"])
    if 'threshold' in res:
        rows.append(['bg threshold (best)', res['threshold']['best_threshold'],
                     f"{res['threshold']['mIoU']:.2f}"])
    print(format_table(rows, ['protocol', 'threshold', 'mIoU']))
    write_eval_json(args, 'cam_dir', args.cam_dir, items, res)


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
