"""Step 2: localisation maps (multi-scale + flip IS-CAM) for a whole split."""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config

from mmseg_sipe.registry import DATASETS
from ..datasets.transforms.loading import read_rgb
from ..utils.checkpoint import build_and_load
from ..utils.sharded import JobSummary, run_sharded
from .inference import DEFAULT_SCALES, fold_batchnorm, multiscale_is_cam
from ..utils.cam_io import cam_path, save_cam


def dataset_items(dataset_cfg: dict) -> List[Dict]:
    """Image list of a dataset config: ``name, img_path, img_labels`` (and
    ``seg_map_path`` when the dataset has one).  The pipeline is dropped."""
    cfg = copy.deepcopy(dataset_cfg)
    cfg['pipeline'] = []
    cfg.pop('serialize_data', None)
    ds = DATASETS.build(cfg)
    items = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        name = osp.splitext(osp.basename(info['img_path']))[0]
        item = dict(
            name=name,
            img_path=info['img_path'],
            img_labels=np.asarray(info['img_labels'], np.float32))
        if info.get('seg_map_path'):
            item['seg_map_path'] = info['seg_map_path']
        items.append(item)
    return items


def split_dataset_cfg(cfg: Config, split: Optional[str] = None,
                      ann_file: Optional[str] = None) -> dict:
    """The test dataset of a stage-one config, re-pointed at ``split``
    (``ImageSets/Segmentation/<split>.txt``) or ``ann_file``."""
    ds = copy.deepcopy(cfg.test_dataloader.dataset)
    if ann_file:
        ds['ann_file'] = ann_file
    elif split:
        ds['ann_file'] = f'ImageSets/Segmentation/{split}.txt'
        if split != 'train' and split != 'val':
            # train_aug images have no SegmentationClass ground truth
            ds['with_seg_map'] = False
    return ds


def load_classifier(cfg: Config, checkpoint: str,
                    device: torch.device) -> torch.nn.Module:
    """Build the stage-one model and load ``checkpoint`` (strict)."""
    return build_and_load(cfg.model, checkpoint, device)


class _ImageReader(torch.utils.data.Dataset):
    """Reads images in loader workers so decoding overlaps compute."""

    def __init__(self, items: Sequence[Dict]):
        self.items = list(items)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        try:
            return i, read_rgb(self.items[i]['img_path'])
        except Exception as e:  # noqa: BLE001  (reported by the job runner)
            return i, e


def _keep(x):
    """Identity collate: keep numpy images (default_convert makes tensors)."""
    return x


def prefetch_images(num_workers: int):
    """``todo -> iterator of (item, rgb image or exception)``."""

    def _iter(todo):
        loader = torch.utils.data.DataLoader(
            _ImageReader(todo),
            batch_size=None,
            shuffle=False,
            num_workers=num_workers,
            collate_fn=_keep,
            prefetch_factor=2 if num_workers else None)
        for i, img in loader:
            yield todo[i], img

    return _iter


def make_cams(model: torch.nn.Module,
              items: Sequence[Dict],
              out_dir: str,
              scales: Sequence[float] = DEFAULT_SCALES,
              dtype: str = 'float16',
              amp: Optional[str] = None,
              seed_feature: str = 'hie',
              num_workers: int = 2,
              skip_bad: bool = False,
              cam_out_dir: Optional[str] = None,
              fold_bn: bool = True) -> JobSummary:
    """Write ``<out_dir>/<name>.npz`` (IS-CAM) for this rank's share of
    ``items``; with ``cam_out_dir`` also the plain multi-scale CAM there.
    Temp files a killed run left in those folders are removed first; a
    failed write (e.g. disk full) removes its own and names its image.

    ``fold_bn`` folds the frozen BatchNorms into the convolutions first
    (:func:`~mmseg_sipe.cam.inference.fold_batchnorm`; same maps to float
    rounding, faster: ``docs/benchmarks.md``)."""
    device = next(model.parameters()).device
    if fold_bn:
        model = fold_batchnorm(model)

    def work(pair):
        item, img = pair
        out = multiscale_is_cam(
            model, img, item['img_labels'], scales=scales,
            seed_feature=seed_feature, amp=amp, device=device,
            return_cam=cam_out_dir is not None)
        path = cam_path(out_dir, item['name'])

        def write():
            # the plain CAM first: the IS-CAM file marks the item as done
            if cam_out_dir is not None:
                save_cam(cam_path(cam_out_dir, item['name']), out[0], out[2],
                         dtype=dtype)
            save_cam(path, out[0], out[1], dtype=dtype)

        return write

    return run_sharded(
        items,
        output_of=lambda it: cam_path(out_dir, it['name']),
        work=work,
        name='make_cam',
        skip_bad=skip_bad,
        failures_file=osp.join(out_dir, 'failed.json'),
        prefetch=prefetch_images(num_workers),
        temp_dirs=[out_dir, cam_out_dir])
