# Copyright (c) mmseg-sipe contributors.
"""Build ``SegmentationClassAug`` and ``train_aug.txt`` from VOC 2012 + SBD.

Example::

    python tools/dataset_converters/voc_aug.py \
        data/VOCdevkit/VOC2012 data/benchmark_RELEASE/dataset --nproc 8

Writes ``VOC2012/SegmentationClassAug/{id}.png`` for every VOC train/val and
SBD train/val image (VOC's own label wins where both exist) and
``VOC2012/ImageSets/Segmentation/train_aug.txt`` = (VOC train | SBD train |
SBD val) - VOC val, sorted (10,582 images). Existing PNGs are skipped, so an
interrupted run can simply be started again. See docs/dataset_prepare.md.
"""
import argparse
import sys

from mmseg_sipe.cli.common import one_line_errors


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='VOC 2012 + SBD -> SegmentationClassAug + train_aug.txt')
    p.add_argument('voc_root', help='VOC 2012 folder (.../VOCdevkit/VOC2012)')
    p.add_argument('sbd_root', help='SBD folder holding cls/, train.txt, '
                   'val.txt (.../benchmark_RELEASE/dataset)')
    p.add_argument('--nproc', type=int, default=1, help='worker processes')
    p.add_argument('--overwrite', action='store_true',
                   help='rewrite labels that exist (default: skip them)')
    p.add_argument('--seg-dir', default='SegmentationClassAug',
                   help='output label folder, relative to voc_root')
    p.add_argument('--list-name', default='train_aug.txt',
                   help='output list file name in ImageSets/Segmentation')
    return p.parse_args(argv)


@one_line_errors()
def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg_sipe.datasets.converters.voc_aug import (TRAIN_AUG_SIZE,
                                                        convert_voc_aug)
    res = convert_voc_aug(args.voc_root, args.sbd_root, nproc=args.nproc,
                          overwrite=args.overwrite, seg_dir=args.seg_dir,
                          list_name=args.list_name)
    print(f'labels: {res["num_labels"]} ({res["num_from_voc"]} from VOC, '
          f'{res["num_from_sbd"]} from SBD); written {res["written"]}, '
          f'skipped {res["skipped"]} existing -> {res["seg_dir"]}')
    print(f'{res["list_file"]}: {res["num_train_aug"]} images')
    if res['num_train_aug'] != TRAIN_AUG_SIZE:
        print(f'note: the full VOC 2012 + SBD gives {TRAIN_AUG_SIZE} '
              'images; yours differs (a subset?)')
    if res['missing_images']:
        miss = res['missing_images']
        print(f'warning: {len(miss)} listed images have no '
              f'JPEGImages/{{id}}.jpg, e.g. {miss[0]}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
