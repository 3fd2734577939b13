"""One PNG row per image: image | ground truth | CAM | IS-CAM | CRF labels |
pseudo label.

    python tools/visualize_pseudo_labels.py CONFIG --cam-dir W/cam_plain \
        --is-cam-dir W/cam --crf-dir W/ir_label --pseudo-dir W/pseudo_label \
        --out W/visualization.png [--names 2007_000032 ...] [--num 4]

Any directory may be omitted (its column is drawn as a crossed box).
"""
import argparse
import os.path as osp

from mmseg_sipe.cli.common import (add_dataset_args, dataset_items_from_args,
                                   select_items)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='stage-one config (dataset definition)')
    p.add_argument('--names', nargs='+', help='image names (default: first)')
    p.add_argument('--num', type=int, default=4)
    p.add_argument('--cam-dir')
    p.add_argument('--is-cam-dir')
    p.add_argument('--crf-dir')
    p.add_argument('--pseudo-dir')
    p.add_argument('--out', required=True)
    add_dataset_args(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import mmseg_sipe  # noqa: F401
    from mmseg_sipe.cam import cam_path, load_cam, read_rgb
    from mmseg_sipe.evaluation import read_label_png
    from mmseg_sipe.utils.config import load_config
    from mmseg_sipe.visualization import (cam_overlay, colorize_label,
                                          render_row, render_sheet,
                                          save_sheet)

    cfg = load_config(args.config)
    items = dataset_items_from_args(cfg, args)
    chosen = select_items(items, args.names, args.num, f'split {args.split}')
    rows = []
    for it in chosen:
        img = read_rgb(it['img_path'])
        tiles = []
        gt = it.get('seg_map_path')
        tiles.append(colorize_label(read_label_png(gt)) if gt else None)
        for d in (args.cam_dir, args.is_cam_dir):
            if d and osp.exists(cam_path(d, it['name'])):
                keys, cam = load_cam(cam_path(d, it['name']))
                tiles.append(cam_overlay(img, cam, keys))
            else:
                tiles.append(None)
        for d in (args.crf_dir, args.pseudo_dir):
            path = osp.join(d, it['name'] + '.png') if d else None
            tiles.append(colorize_label(read_label_png(path))
                         if path and osp.exists(path) else None)
        rows.append(render_row(img, tiles))
    save_sheet(args.out, render_sheet(rows, [it['name'] for it in chosen]))
    print(f'wrote {args.out} ({len(rows)} images)')


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
