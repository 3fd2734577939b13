# Copyright (c) mmseg-sipe contributors.
"""Write the built-in demo dataset (PASCAL VOC 2012 layout).

Example::

    python tools/dataset_converters/make_demo_dataset.py data/demo
    python tools/dataset_converters/make_demo_dataset.py data/demo \
        --num-train 60 --num-val 40 --num-aug 140 --seed 0 --overwrite

See docs/demo_dataset.md.
"""
import argparse
import json
import sys
import time

from mmseg_sipe.cli.common import one_line_errors


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Generate the mmseg_sipe demo dataset (VOC layout)')
    p.add_argument('root', help='output directory')
    p.add_argument('--num-train', type=int, default=60,
                   help='images in train.txt (with SegmentationClass)')
    p.add_argument('--num-val', type=int, default=40, help='images in val.txt')
    p.add_argument('--num-aug', type=int, default=140,
                   help='extra images only in train_aug.txt')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--size', type=int, nargs='+', default=[160, 256],
                   metavar='S', help='image side range MIN MAX in px (one '
                   'value: fixed square size)')
    p.add_argument('--body-cue', type=float, default=0.0,
                   help="move each object body's colour this far towards "
                   "its class part's (default 0: bodies carry no class "
                   'cue; docs/demo_dataset.md)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace an existing demo dataset in ROOT')
    p.add_argument('--samples', metavar='PNG',
                   help='also render a sample grid to this PNG')
    return p.parse_args(argv)


@one_line_errors(FileExistsError, FileNotFoundError, ValueError, ImportError)
def main(argv=None) -> int:
    args = parse_args(argv)
    if len(args.size) not in (1, 2):
        print('error: --size takes MIN MAX or one value', file=sys.stderr)
        return 2
    from mmseg_sipe.datasets.demo import (generate_demo_dataset,
                                          render_demo_samples)
    t0 = time.time()
    summary = generate_demo_dataset(
        args.root, num_train=args.num_train, num_val=args.num_val,
        num_aug=args.num_aug, size=(args.size[0], args.size[-1]),
        seed=args.seed, body_cue=args.body_cue, overwrite=args.overwrite)
    if args.samples:
        render_demo_samples(args.root, args.samples)
    summary['seconds'] = round(time.time() - t0, 2)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
