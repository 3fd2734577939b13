"""One picture of every pipeline stage for N images of a pipeline work dir:
image | ground truth | CAM | IS-CAM (+ seeds) | IR label | IRN edges |
pseudo label.

    python tools/analysis_tools/diagnose_pipeline.py WORK_DIR --num 4 --out diag.png
    python tools/analysis_tools/diagnose_pipeline.py WORK_DIR --config configs/pipeline/demo.py \
        --split train --names 2007_000032 2007_000039 --out diag.png

The IRN edge map is computed with the trained IRN checkpoint in
``WORK_DIR/irn`` (as ``make_seg_labels`` computes it before the random
walk). Configs are read from the work dir -- the stage-one config mmengine
saved in ``WORK_DIR/stage1/`` and the IRN config the pipeline wrote in
``WORK_DIR/configs/irn.py`` (or the one saved in ``WORK_DIR/irn/``) -- or
from the pipeline config given with ``--config``. A stage whose output is
missing is drawn as a crossed box. ``make_cam`` stores no IS-CAM seeds; when
the map files hold none, the IS-CAM column shows the map alone and the
picture says so.
"""
import argparse
import glob
import os.path as osp

from mmseg_sipe.cli.common import add_dataset_args

COLUMNS = ('image', 'ground truth', 'CAM', 'IS-CAM', 'IR label (CRF)',
           'IRN edges', 'pseudo label')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('work_dir', help='work dir of tools/run_pipeline.py')
    p.add_argument('--config', help='pipeline config (configs/pipeline/*.py)'
                   '; default: the configs saved in WORK_DIR')
    p.add_argument('--num', type=int, default=4, help='images (first N)')
    p.add_argument('--names', nargs='+', help='image names instead of --num')
    p.add_argument('--out', required=True, help='PNG to write')
    p.add_argument('--irn-checkpoint',
                   help='default: the last checkpoint in WORK_DIR/irn')
    p.add_argument('--device', default='cpu')
    add_dataset_args(p)
    return p.parse_args(argv)


def _saved_config(run_dir: str, exclude=()) -> str:
    """The config mmengine dumped into a training work dir."""
    found = sorted(p for p in glob.glob(osp.join(run_dir, '*.py'))
                   if osp.basename(p) not in exclude)
    return found[0] if found else None


def resolve_configs(work_dir: str, pipeline_config: str = None):
    """``(stage-one config, IRN config or None)`` paths for a work dir."""
    from mmseg_sipe.utils.config import load_config, resolve_config_path
    stage1 = irn = None
    if pipeline_config:
        pcfg = load_config(pipeline_config)
        stage1 = resolve_config_path(pcfg.stage1_config)
        if pcfg.get('irn_config'):
            irn = resolve_config_path(pcfg.irn_config)
    child = osp.join(work_dir, 'configs', 'irn.py')
    if osp.isfile(child):  # the pipeline's IRN config (stage-one init)
        irn = child
    if stage1 is None:
        stage1 = _saved_config(osp.join(work_dir, 'stage1'))
    if irn is None:
        irn = _saved_config(osp.join(work_dir, 'irn'))
    if stage1 is None:
        raise FileNotFoundError(
            f'no stage-one config in {work_dir}/stage1; pass the pipeline '
            'config with --config')
    return stage1, irn


def _last_checkpoint(run_dir: str):
    """The run's last checkpoint, or None (a moved work dir finds its own)."""
    from mmseg_sipe.utils.checkpoint import resolve_last_checkpoint
    try:
        return resolve_last_checkpoint(run_dir)
    except FileNotFoundError:
        return None


def load_seeds(path: str):
    """IS-CAM seeds stored next to the maps (a ``seeds`` array in the
    ``.npz``), or None: ``make_cam`` does not store them."""
    import numpy as np
    if not osp.isfile(path):
        return None
    with np.load(path, allow_pickle=False) as z:
        return np.asarray(z['seeds']) if 'seeds' in z.files else None


def edge_tile(edge, height: int, width: int):
    """``[1, h4, w4]`` edge probabilities -> ``[H, W, 3]`` uint8 grey tile
    (white = edge), upsampled x4 as the random walk's output."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    e = torch.as_tensor(edge, dtype=torch.float32).reshape(
        1, 1, *edge.shape[-2:])
    e = F.interpolate(e, scale_factor=4, mode='bilinear',
                      align_corners=False)[0, 0, :height, :width]
    g = (e.clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def seed_overlay(tile, seeds):
    """Mark seed pixels (``seeds > 0``, any class) in black on a tile."""
    import numpy as np
    out = tile.copy()
    mask = np.asarray(seeds)
    if mask.ndim == 3:
        mask = mask.max(0)
    if mask.shape == out.shape[:2]:
        out[mask > 0] = 0
    return out


def main(argv=None):
    args = parse_args(argv)
    import mmseg_sipe  # noqa: F401
    import numpy as np
    import torch
    from mmengine.registry import init_default_scope
    from PIL import Image, ImageDraw

    from mmseg_sipe.cam import cam_path, load_cam, read_rgb
    from mmseg_sipe.evaluation import read_label_png
    from mmseg_sipe.cli.common import dataset_items_from_args, select_items
    from mmseg_sipe.utils.config import load_config
    from mmseg_sipe.visualization import (cam_overlay, colorize_label,
                                          render_row, render_sheet,
                                          save_sheet)

    wd = args.work_dir
    if not osp.isdir(wd):
        raise FileNotFoundError(f'work dir not found: {wd}')
    stage1_path, irn_path = resolve_configs(wd, args.config)
    cfg = load_config(stage1_path)
    items = dataset_items_from_args(cfg, args)
    chosen = select_items(items, args.names, args.num, 'the split')
    if not chosen:
        raise ValueError('no images selected')

    notes = []
    model = None
    ckpt = args.irn_checkpoint or _last_checkpoint(osp.join(wd, 'irn'))
    if irn_path and ckpt:
        from mmseg_sipe.pseudo_labels.seg_labels import load_irn
        init_default_scope('mmseg')
        model = load_irn(load_config(irn_path), ckpt,
                         torch.device(args.device))
    else:
        notes.append('IRN edges: no IRN config/checkpoint in the work dir')
    pseudo_dir = osp.join(wd, 'pseudo_label')
    if not osp.isdir(pseudo_dir) and not osp.isdir(osp.join(wd, 'irn')):
        # COCO route (no IRN): the CRF labels are the pseudo labels
        pseudo_dir = osp.join(wd, 'ir_label')

    any_seeds = False
    rows = []
    for it in chosen:
        img = read_rgb(it['img_path'])
        h, w = img.shape[:2]
        tiles = []
        gt = it.get('seg_map_path')
        tiles.append(colorize_label(read_label_png(gt))
                     if gt and osp.isfile(gt) else None)
        for d in ('cam_plain', 'cam'):
            path = cam_path(osp.join(wd, d), it['name'])
            if not osp.isfile(path):
                tiles.append(None)
                continue
            keys, cam = load_cam(path)
            tile = cam_overlay(img, cam, keys)
            if d == 'cam':
                seeds = load_seeds(path)
                if seeds is not None:
                    any_seeds = True
                    tile = seed_overlay(tile, seeds)
            tiles.append(tile)
        ir = osp.join(wd, 'ir_label', it['name'] + '.png')
        tiles.append(colorize_label(read_label_png(ir))
                     if osp.isfile(ir) else None)
        if model is not None:
            from mmseg_sipe.models.irn.inference import irn_edge
            tiles.append(edge_tile(irn_edge(model, img, channel_order='rgb'),
                                   h, w))
        else:
            tiles.append(None)
        pl = osp.join(pseudo_dir, it['name'] + '.png')
        tiles.append(colorize_label(read_label_png(pl))
                     if osp.isfile(pl) else None)
        rows.append(render_row(img, tiles))
    if not any_seeds:
        notes.insert(0, 'IS-CAM: seeds are not stored by make_cam, the map '
                     'is shown without them')
    sheet = render_sheet(rows, [it['name'] for it in chosen],
                         columns=COLUMNS)
    if notes:
        foot = Image.new('RGB', (sheet.shape[1], 14 * len(notes) + 4),
                         (255, 255, 255))
        draw = ImageDraw.Draw(foot)
        for i, n in enumerate(notes):
            draw.text((4, 2 + 14 * i), n, fill=(120, 0, 0))
        sheet = np.concatenate([sheet, np.asarray(foot)], 0)
    save_sheet(args.out, sheet)
    print(f'wrote {args.out} ({len(rows)} images)')
    for n in notes:
        print(f'note: {n}')
    return dict(out=args.out, images=[it['name'] for it in chosen],
                notes=notes)


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
