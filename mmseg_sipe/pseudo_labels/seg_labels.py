"""IRN random walk on IS-CAM -> pseudo-label PNGs for a whole split."""
import os.path as osp
from typing import Dict, Sequence

import torch
from mmengine.config import Config

from ..utils.checkpoint import build_and_load
from ..utils.sharded import JobSummary, run_sharded


def load_irn(cfg: Config, checkpoint: str, device: torch.device):
    """Build the IRN model of ``cfg`` and load ``checkpoint`` (strict)."""
    return build_and_load(cfg.model, checkpoint, device)


def make_seg_labels(model,
                    items: Sequence[Dict],
                    cam_dir: str,
                    out_dir: str,
                    beta: float = 10.0,
                    exp_times: int = 8,
                    radius: int = 5,
                    power: float = 1.5,
                    skip_bad: bool = False,
                    allow_pickle: bool = False,
                    num_workers: int = 1) -> JobSummary:
    """Random-walk pseudo labels (reference ``make_seg_labels.py``,
    docs/method.md §11):
    IS-CAM with its background channel, ``** power``, walked over the IRN
    edge map, argmax -> ``<out_dir>/<name>.png`` (VOC palette)."""
    from ..utils.cam_io import cam_path, load_cam
    from ..cam.make_cam import prefetch_images
    from ..models.irn.inference import irn_edge
    from ..refine.random_walk import random_walk_labels
    from ..datasets.label_io import save_label_png
    device = next(model.parameters()).device

    def work(pair):
        item, img = pair
        path = cam_path(cam_dir, item['name'])
        if allow_pickle and not osp.exists(path):
            path = osp.join(cam_dir, item['name'] + '.npy')
        keys, cam = load_cam(path, allow_pickle=allow_pickle)
        if img.shape[:2] != cam.shape[1:]:
            raise ValueError(f'{path} has size {cam.shape[1:]} but image '
                             f"{item['img_path']} is {img.shape[:2]}")
        edge = irn_edge(model, img, channel_order='rgb')
        label = random_walk_labels(cam, keys, edge, power=power, beta=beta,
                                   exp_times=exp_times, radius=radius,
                                   device=device)
        out = osp.join(out_dir, item['name'] + '.png')
        return lambda: save_label_png(out, label)

    return run_sharded(
        items,
        output_of=lambda it: osp.join(out_dir, it['name'] + '.png'),
        work=work,
        name='make_seg_labels',
        skip_bad=skip_bad,
        failures_file=osp.join(out_dir, 'failed.json'),
        prefetch=prefetch_images(num_workers))
