"""Per-class statistics of a stage-one training split for SFC's
class-balance weights (docs/method.md §17.3).

    python tools/analysis_tools/class_stats.py configs/sfc/coco_r50.py \\
        --seg-dir SegmentationClass/train2014

Reads the config's training set (``train_dataloader.dataset``, its pipeline
dropped): image counts per class from the image-level labels it trains on,
pixel counts per class from the class-index PNGs in ``--seg-dir`` (default:
the dataset's ``data_prefix.seg_map_path``; ``--no-pixels`` to skip), and
writes them with the image-bank term ``extra_images`` to ``--out`` (default:
the config's ``model.class_stats_file``).  See
:mod:`mmseg_sipe.datasets.class_stats` for what each number is.
"""
import argparse
import copy
import os.path as osp

import numpy as np
from mmengine.config import DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='stage-one config (its train dataset)')
    p.add_argument('--out', help="output JSON (default: the config's "
                   'model.class_stats_file)')
    p.add_argument('--data-root', help='override the dataset root')
    p.add_argument('--ann-file', help='override the split / annotation file')
    p.add_argument('--seg-dir', help='class-index PNG folder (absolute or '
                   'relative to the data root) for the pixel counts; '
                   "default: the dataset's data_prefix.seg_map_path")
    p.add_argument('--no-pixels', action='store_true',
                   help='write no pixel counts (pixel_counts: null)')
    p.add_argument('--batch-size', type=int, default=None,
                   help='total batch for extra_images (default: the '
                   "config's train_dataloader.batch_size)")
    p.add_argument('--bank-samples', type=int, default=4,
                   help='bank images per step (reference 4)')
    p.add_argument('--bank-epochs', type=float, default=3,
                   help='epochs factor of extra_images (reference 3)')
    p.add_argument('--extra-images', type=float,
                   help='extra_images itself, overriding the formula')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings (key=value)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import mmseg_sipe  # noqa: F401
    from mmseg_sipe.datasets.class_stats import (compute_class_stats,
                                                 save_class_stats,
                                                 seg_paths_for)
    from mmseg_sipe.registry import DATASETS
    from mmseg_sipe.utils.config import load_config

    cfg = load_config(args.config, args.cfg_options)
    out = args.out or cfg.model.get('class_stats_file')
    if not out:
        raise ValueError(f'{args.config} has no model.class_stats_file; '
                         'pass --out FILE')
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg['pipeline'] = []
    ds_cfg.pop('serialize_data', None)
    if args.data_root:
        ds_cfg['data_root'] = args.data_root
    if args.ann_file:
        ds_cfg['ann_file'] = args.ann_file
    ds = DATASETS.build(ds_cfg)
    classes = list(ds.metainfo['classes'])[1:]  # drop 'background'
    items, labels = [], []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        name = osp.splitext(osp.basename(info['img_path']))[0]
        items.append(dict(name=name))
        labels.append(np.asarray(info['img_labels'], np.float32))
    labels = np.stack(labels) if labels else np.zeros((0, len(classes)))
    seg_paths, seg_src = None, ''
    if not args.no_pixels:
        seg_dir = args.seg_dir or (ds_cfg.get('data_prefix') or {}).get(
            'seg_map_path')
        if not seg_dir:
            raise ValueError('no pixel-level ground truth folder: pass '
                             '--seg-dir DIR (class-index PNGs) or '
                             '--no-pixels')
        seg_paths = seg_paths_for(items, ds.data_root or '', seg_dir)
        seg_src = f'in {seg_dir}'
    ann = osp.basename(str(ds_cfg.get('ann_file', '')))
    stats = compute_class_stats(
        labels, classes, seg_paths,
        dataset=f'{ds_cfg["type"]} {ann} ({len(items)} images)',
        batch_size=args.batch_size or cfg.train_dataloader.batch_size,
        bank_samples=args.bank_samples, bank_epochs=args.bank_epochs,
        extra_images=args.extra_images, seg_source=seg_src)
    save_class_stats(out, stats)
    print(f'class statistics of {len(items)} images -> {out}')
    return 0


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
