# Copyright (c) mmseg-sipe contributors.
"""Check a PASCAL-VOC-layout dataset root (real VOC 2012 or the demo).

Prints one line per problem, naming the file, and exits with 1 if there is
any error, 0 otherwise; warnings (``<file>: warning: ...``: an EXIF
orientation tag, an image above the size limit) do not change the exit
status. Example::

    python tools/dataset_converters/check_dataset.py data/VOCdevkit/VOC2012
    python tools/dataset_converters/check_dataset.py data/demo \
        --split train_aug --split val

By default ``*aug*`` splits are checked against ``SegmentationClassAug`` and
the others against ``SegmentationClass`` (``--seg-dir`` overrides).
"""
import argparse
import sys

from mmseg_sipe.cli.common import add_splits_arg


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Validate a VOC-layout dataset root')
    p.add_argument('root', help='dataset root (e.g. VOCdevkit/VOC2012)')
    add_splits_arg(p, 'split to check (ImageSets/Segmentation/NAME.txt); '
                   'repeatable; default: train, val, train_aug, aug where '
                   'present')
    p.add_argument('--seg-dir', help='label folder for every split')
    p.add_argument('--no-xml', action='store_true',
                   help='do not check Annotations/*.xml')
    p.add_argument('--no-values', action='store_true',
                   help='do not decode label PNGs (faster)')
    p.add_argument('--no-image-decode', action='store_true',
                   help='read image headers only (faster; misses truncated '
                   'images)')
    p.add_argument('--max-pixels', type=int, default=None,
                   help='warn about images with more pixels (default: '
                   '2000000; 0: no limit)')
    p.add_argument('--max-print', type=int, default=200,
                   help='print at most this many problems')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg_sipe.datasets.checker import MAX_IMAGE_PIXELS, check_voc_root
    problems = check_voc_root(
        args.root, splits=args.splits, seg_dir=args.seg_dir,
        check_xml=not args.no_xml, check_values=not args.no_values,
        decode_images=not args.no_image_decode,
        max_pixels=MAX_IMAGE_PIXELS
        if args.max_pixels is None else args.max_pixels or None)
    for p in problems[:args.max_print]:
        print(p)
    if len(problems) > args.max_print:
        print(f'... and {len(problems) - args.max_print} more')
    errors = sum(p.level != 'warning' for p in problems)
    warnings = len(problems) - errors
    if errors:
        print(f'{errors} problem(s) found in {args.root}' +
              (f' (and {warnings} warning(s))' if warnings else ''))
        return 1
    if warnings:
        print(f'OK with {warnings} warning(s): {args.root}')
    else:
        print(f'OK: {args.root}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
