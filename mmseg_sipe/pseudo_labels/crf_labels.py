"""``cam2ir``: dense-CRF labels from IS-CAM files for a whole split."""
import multiprocessing as mp
import os.path as osp
from typing import Dict, Optional, Sequence

from ..utils.sharded import JobSummary, run_sharded


class _CRFJob:
    """Picklable per-image job run in pool workers: load the IS-CAM and the
    image, CRF, write the PNG atomically.  Returns None or the exception."""

    def __init__(self, cam_dir: str, out_dir: str, mode: str,
                 allow_pickle: bool, params: Dict):
        self.cam_dir = cam_dir
        self.out_dir = out_dir
        self.mode = mode
        self.allow_pickle = allow_pickle
        self.params = params

    def __call__(self, item: Dict):
        try:
            from ..cam.io import cam_path, load_cam
            from ..cam.make_cam import read_rgb
            from ..refine.crf import cam_to_ir_label, crf_refine_label
            from ..utils.label_io import save_label_png
            path = cam_path(self.cam_dir, item['name'])
            if self.allow_pickle and not osp.exists(path):
                path = osp.join(self.cam_dir, item['name'] + '.npy')
            keys, cam = load_cam(path, allow_pickle=self.allow_pickle)
            img = read_rgb(item['img_path'])
            if img.shape[:2] != cam.shape[1:]:
                raise ValueError(f'{path} has size {cam.shape[1:]} but image '
                                 f"{item['img_path']} is {img.shape[:2]}")
            fn = cam_to_ir_label if self.mode == 'cam2ir' else \
                crf_refine_label
            label = fn(img, cam, keys, **self.params)
            save_label_png(osp.join(self.out_dir, item['name'] + '.png'),
                           label)
            return None
        except Exception as e:  # noqa: BLE001  (reported by run_sharded)
            return e


def make_crf_labels(items: Sequence[Dict],
                    cam_dir: str,
                    out_dir: str,
                    mode: str = 'cam2ir',
                    num_workers: int = 1,
                    skip_bad: bool = False,
                    allow_pickle: bool = False,
                    crf_params: Optional[Dict] = None) -> JobSummary:
    """Write ``<out_dir>/<name>.png`` for this rank's share of ``items``.

    Args:
        mode: ``'cam2ir'`` -- IR labels (confident fg, bg, 255 uncertain;
            reference ``cam2ir.py``); ``'label'`` -- CRF of argmax IS-CAM
            (the COCO pseudo label, no ignore).
        num_workers: CRF processes inside this rank.
        crf_params: overrides of the reference CRF parameters.
    """
    if mode not in ('cam2ir', 'label'):
        raise ValueError(f"mode must be 'cam2ir' or 'label', got {mode!r}")
    job = _CRFJob(cam_dir, out_dir, mode, allow_pickle, dict(crf_params or {}))

    def prefetch(todo):
        if num_workers <= 1 or len(todo) <= 1:
            for it in todo:
                yield it, job(it)
            return
        ctx = mp.get_context('spawn')
        with ctx.Pool(min(num_workers, len(todo))) as pool:
            for it, res in zip(todo, pool.imap(job, todo)):
                yield it, res

    return run_sharded(
        items,
        output_of=lambda it: osp.join(out_dir, it['name'] + '.png'),
        work=lambda pair: None,
        name='cam2ir' if mode == 'cam2ir' else 'crf_labels',
        skip_bad=skip_bad,
        failures_file=osp.join(out_dir, 'failed.json'),
        prefetch=prefetch,
        async_write=False)
