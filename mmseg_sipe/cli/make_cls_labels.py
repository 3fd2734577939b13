# Copyright (c) mmseg-sipe contributors.
"""Write a reference-style ``cls_labels.npy``: a pickled dict
``{image id: float32[K] multi-hot}`` (K = 20 for VOC, 80 for COCO).

Not needed by mmseg_sipe's datasets (they read the XML / JSON directly), but
handy to reuse labels with the reference code, or to avoid parsing the
~330 MB COCO JSON on every start (``label_source='cls_labels'``).

Examples::

    # VOC: every image of the given splits, labels from Annotations/*.xml
    # (difficult objects included, as IRN / SIPE)
    python tools/dataset_converters/make_cls_labels.py voc \
        data/VOCdevkit/VOC2012 data/cls_labels_voc.npy \
        --split train_aug --split val
    # COCO: every image of the instances JSON
    python tools/dataset_converters/make_cls_labels.py coco \
        data/coco2014/annotations/instances_train2014.json \
        data/cls_labels_coco.npy
"""
import argparse
import io
import os.path as osp
import sys

from mmseg_sipe.cli.common import add_splits_arg, one_line_errors


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Write a cls_labels.npy dict {image id: float32[K]}')
    p.add_argument('dataset', choices=['voc', 'coco'])
    p.add_argument('source', help='voc: dataset root; coco: instances JSON')
    p.add_argument('out', help='output .npy file')
    add_splits_arg(p, 'voc: ImageSets/Segmentation/NAME.txt (repeatable; '
                   'default: train_aug and val)')
    p.add_argument('--exclude-difficult', action='store_true',
                   help='voc: ignore objects marked difficult')
    return p.parse_args(argv)


def build_table(args) -> dict:
    """``{image id: float32[K] multi-hot}`` of the parsed arguments."""
    import numpy as np

    from mmseg_sipe.datasets.labels import (labels_from_xml,
                                            load_coco_instances,
                                            read_split_file)
    from mmseg_sipe.datasets.metainfo import COCO_CLASSES, VOC_CLASSES
    if args.dataset == 'coco':
        table, _ = load_coco_instances(args.source, COCO_CLASSES[1:])
        return table
    table = {}
    for split in args.splits or ['train_aug', 'val']:
        names = read_split_file(
            osp.join(args.source, 'ImageSets', 'Segmentation', split + '.txt'))
        for name in names:
            if name not in table:
                table[name] = labels_from_xml(
                    osp.join(args.source, 'Annotations', name + '.xml'),
                    VOC_CLASSES[1:],
                    include_difficult=not args.exclude_difficult).astype(
                        np.float32)
    return table


@one_line_errors()
def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np

    from mmseg_sipe.utils.fileio import atomic_write_bytes
    table = build_table(args)
    buf = io.BytesIO()
    np.save(buf, table, allow_pickle=True)
    atomic_write_bytes(args.out, buf.getvalue())
    print(f'wrote {len(table)} entries to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
