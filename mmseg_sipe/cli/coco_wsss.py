# Copyright (c) mmseg-sipe contributors.
"""COCO 2014 instances JSON -> class-index PNGs (no pycocotools needed).

Example::

    python tools/dataset_converters/coco_wsss.py data/coco2014 \
        --split train2014 --nproc 8
    python tools/dataset_converters/coco_wsss.py data/coco2014 \
        --split val2014 --nproc 8

Reads ``COCO_ROOT/annotations/instances_{split}.json`` and writes
``COCO_ROOT/SegmentationClass/{split}/COCO_{split}_{id:012d}.png``:
0 = background, 1..80 = categories in ascending id order (as
``SIPECOCODataset``), 255 = crowd regions (``--crowd-as-class``: their class).
Smaller objects are painted over larger ones. Existing PNGs are skipped.
Image-level labels need no conversion (the dataset reads the JSON); to
precompute them run ``tools/dataset_converters/make_cls_labels.py coco``.
See docs/dataset_prepare.md.
"""
import argparse
import sys

from mmseg_sipe.cli.common import one_line_errors


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='COCO 2014 instances -> class-index PNGs for WSSS')
    p.add_argument('coco_root', help='COCO root (holds annotations/)')
    p.add_argument('--split', default='train2014', help='train2014 or val2014')
    p.add_argument('--ann-file', help='instances JSON (default: '
                   'COCO_ROOT/annotations/instances_SPLIT.json)')
    p.add_argument('--out-dir', help='output folder (default: '
                   'COCO_ROOT/SegmentationClass/SPLIT)')
    p.add_argument('--nproc', type=int, default=1, help='worker processes')
    p.add_argument('--crowd-as-class', action='store_true',
                   help='paint crowd regions with their class instead of 255')
    p.add_argument('--poly-method', choices=['scanline', 'cv2'],
                   default='scanline',
                   help='polygon fill: pixel centres inside (scanline, close '
                   'to pycocotools) or cv2.fillPoly (also fills the outline '
                   'pixels)')
    p.add_argument('--overwrite', action='store_true',
                   help='rewrite PNGs that exist (default: skip them)')
    return p.parse_args(argv)


@one_line_errors()
def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg_sipe.datasets.converters.coco_wsss import convert_coco_wsss
    res = convert_coco_wsss(
        args.coco_root, split=args.split, ann_file=args.ann_file,
        out_dir=args.out_dir, nproc=args.nproc,
        crowd_as_class=args.crowd_as_class, poly_method=args.poly_method,
        overwrite=args.overwrite)
    print(f'{res["num_images"]} images, {res["num_annotations"]} annotations '
          f'({res["num_crowd"]} crowd), {res["num_empty"]} images without '
          f'annotations (all background)')
    print(f'written {res["written"]}, skipped {res["skipped"]} existing -> '
          f'{res["out_dir"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
