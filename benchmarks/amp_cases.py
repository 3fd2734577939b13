"""Mixed-precision cases: how far ``--amp`` moves the IS-CAM argmax and the
demo mIoU from float32 (numbers only, not timed)."""
import contextlib
import glob
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Any, Dict, Optional

import numpy as np
import torch

from benchmarks.common import (ROOT, Case, amp_supported, argmax_agreement,
                               build_model, demo_image, fit_class_mean_head,
                               load_config, repo_path, synthetic_scene)


def find_demo_checkpoint() -> Optional[str]:
    """Newest stage-one checkpoint of the demo config under work_dirs/."""
    pats = ['work_dirs/demo/stage1/**/*.pth', 'work_dirs/demo_s1/**/*.pth',
            'work_dirs/demo_r18/**/*.pth']
    found = []
    for p in pats:
        found += glob.glob(osp.join(ROOT, p), recursive=True)
    return max(found, key=osp.getmtime) if found else None


def _load_state(model, ckpt: str) -> None:
    """Load a (trusted, local) mmengine checkpoint's ``state_dict``."""
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    model.load_state_dict(state.get('state_dict', state), strict=True)


class AmpAgreementCase(Case):
    """bf16 / fp16 IS-CAM argmax vs float32 on several images (not timed).

    Settings (each: fp32 ``multiscale_is_cam`` vs the same with ``amp``):

    * ``*_fitted``: random backbone + class-mean CAM head fitted on each
      image (:func:`fit_class_mean_head`), demo renders with their labels;
    * ``r18_demo_trained``: the demo ResNet-18 trained by the demo pipeline
      (if a checkpoint is found), demo renders with their labels;
    * ``r18_random_all20``: plain random init with all 20 labels present --
      the seed step is then an argmax over near-ties, shown for contrast.
    """
    name = 'amp_agreement'
    title = 'IS-CAM argmax agreement, mixed precision vs float32'
    variants = []
    timed = False

    def __init__(self, quick, demo_checkpoint=None, device='cpu'):
        super().__init__(quick, device)
        self.demo_checkpoint = demo_checkpoint

    def run(self) -> Dict[str, Any]:
        from mmseg_sipe.cam.inference import (DEFAULT_SCALES,
                                              multiscale_is_cam)
        res: Dict[str, Any] = {}
        dev = self.device
        amps = [a for a in ('bf16', 'fp16') if amp_supported(a, dev) is None]
        res['rejected'] = {
            a: amp_supported(a, dev) for a in ('bf16', 'fp16')
            if amp_supported(a, dev) is not None
        }
        r18, r50 = 'configs/sipe/demo_r18.py', 'configs/sipe/voc_r50.py'
        # (tag, config, checkpoint, image kind, (h, w), scales, n, fit)
        setups = []
        if self.quick:
            setups.append(('r18_fitted_synthetic', r18, None, 'synthetic',
                           (96, 128), (1.0, 0.5), 2, True))
        else:
            setups += [
                ('r50_fitted', r50, None, 'demo', (375, 500), DEFAULT_SCALES,
                 3, True),
                ('r18_fitted', r18, None, 'demo', (191, 255), DEFAULT_SCALES,
                 6, True),
                ('r18_fitted_synthetic', r18, None, 'synthetic', (96, 128),
                 DEFAULT_SCALES, 4, True),
                ('r18_random_all20', r18, None, 'demo_all20', (191, 255),
                 DEFAULT_SCALES, 4, False),
            ]
            ckpt = self.demo_checkpoint or find_demo_checkpoint()
            if ckpt:
                setups.append(('r18_demo_trained', r18, ckpt, 'demo',
                               (191, 255), DEFAULT_SCALES, 6, False))
            else:
                res['r18_demo_trained'] = 'no demo checkpoint found'
        for tag, cfgp, ckpt, kind, (h, w), scales, n, fit in setups:
            model = build_model(load_config(cfgp)).eval().to(dev)
            if ckpt:
                try:
                    _load_state(model, ckpt)
                except Exception as e:  # noqa: BLE001  (e.g. a training run
                    # replaced the file while we read it)
                    res[tag] = f'cannot load {ckpt}: {type(e).__name__}: {e}'
                    continue
            per = {a: [] for a in amps}
            nonzero = []
            for i in range(n):
                if kind == 'synthetic':
                    img, label, lab = synthetic_scene(h, w, seed=300 + i)
                else:
                    img, label, lab = demo_image(h, w, seed=200 + i)
                    if kind == 'demo_all20':
                        lab = np.ones_like(lab)
                if fit:
                    fit_class_mean_head(model, img, label)
                ref = multiscale_is_cam(model, img, lab, scales)[1]
                nonzero.append(float((ref.max(0) > 0).mean()))
                for a in amps:
                    out = multiscale_is_cam(model, img, lab, scales, amp=a)[1]
                    per[a].append(argmax_agreement(ref, out))
            res[tag] = dict(
                image=f'{h}x{w} {kind}', scales=list(scales), images=n,
                checkpoint=repo_path(ckpt), fitted_head=fit,
                fraction_pixels_with_nonzero_is_cam=float(np.mean(nonzero)),
                **{
                    a: dict(mean=float(np.mean(v)), min=float(np.min(v)),
                            per_image=[round(x, 5) for x in v])
                    for a, v in per.items()
                })
        return res


class AmpMiouCase(Case):
    """Demo CAM / IS-CAM mIoU with ``--amp`` vs float32 (not timed).

    Runs the real step-2 job (:func:`mmseg_sipe.cam.make_cams`, the code
    behind ``tools/make_cam.py``) on the demo dataset's ``train`` split
    (60 images with ground truth) with the demo model trained by
    ``bash tools/run_demo.sh``, once in float32 and once per mixed-precision
    mode, and evaluates both maps as the demo pipeline does: IS-CAM by argmax
    over its channels (background included), the plain CAM by the best
    constant background threshold.  Needs a trained demo checkpoint
    (``--demo-checkpoint`` or the newest under ``work_dirs/demo*``); the
    dataset is ``data/demo`` or, if missing, generated into a temp dir.
    """
    name = 'amp_miou'
    title = 'demo CAM / IS-CAM mIoU, mixed precision vs float32'
    variants = []
    timed = False
    targets = [
        ('bf16 demo IS-CAM mIoU within 0.5 of fp32', 'bf16',
         'check:abs_is_cam_miou_diff', ('<=', 0.5)),
        ('bf16 demo CAM mIoU within 0.5 of fp32', 'bf16',
         'check:abs_cam_miou_diff', ('<=', 0.5)),
    ]

    def __init__(self, quick, demo_checkpoint=None, device='cpu'):
        super().__init__(quick, device)
        self.demo_checkpoint = demo_checkpoint
        self.check_values: Dict[str, Dict[str, float]] = {}

    def run(self) -> Dict[str, Any]:
        from mmseg_sipe.cam import dataset_items, make_cams, split_dataset_cfg
        from mmseg_sipe.datasets.demo import generate_demo_dataset
        from mmseg_sipe.evaluation.eval_maps import evaluate_cams
        ckpt = self.demo_checkpoint or find_demo_checkpoint()
        if not ckpt:
            return dict(skipped='no trained demo checkpoint: run '
                        'bash tools/run_demo.sh (or pass --demo-checkpoint)')
        dev = self.device
        amps = [a for a in ('bf16', 'fp16') if amp_supported(a, dev) is None]
        tmp = tempfile.mkdtemp(prefix='sipe_amp_miou_')
        try:
            data_root = osp.join(ROOT, 'data', 'demo')
            if not osp.isdir(osp.join(data_root, 'JPEGImages')):
                data_root = osp.join(tmp, 'demo')
                generate_demo_dataset(data_root)
            cfg = load_config('configs/sipe/demo_r18.py')
            cfg.test_dataloader.dataset.data_root = data_root
            items = dataset_items(split_dataset_cfg(cfg, 'train'))
            if self.quick:
                items = items[:6]
            model = build_model(cfg).eval().to(dev)
            _load_state(model, ckpt)
            k = cfg.model.head.num_classes + 1
            res: Dict[str, Any] = dict(
                checkpoint=repo_path(ckpt), data_root=repo_path(data_root),
                split='train',
                images=len(items), scales=[1.0, 0.5, 1.5, 2.0])
            for amp in [None] + amps:
                tag = amp or 'fp32'
                is_dir, cam_dir = osp.join(tmp, tag), osp.join(tmp, tag + '_c')
                t0 = time.perf_counter()
                with open(os.devnull, 'w') as devnull, \
                        contextlib.redirect_stdout(devnull):
                    make_cams(model, items, is_dir, amp=amp, num_workers=0,
                              cam_out_dir=cam_dir)
                    iscam = evaluate_cams(items, is_dir, k, progress=False)
                    cam = evaluate_cams(items, cam_dir, k,
                                        modes=('threshold', ),
                                        progress=False)
                res[tag] = dict(
                    is_cam_miou=iscam['argmax']['mIoU'],
                    cam_miou=cam['threshold']['mIoU'],
                    cam_best_threshold=cam['threshold']['best_threshold'],
                    seconds=round(time.perf_counter() - t0, 1))
            for amp in amps:
                d = {
                    f'{m}_diff': res[amp][m] - res['fp32'][m]
                    for m in ('is_cam_miou', 'cam_miou')
                }
                res[amp].update(d)
                self.check_values[amp] = {
                    f'abs_{m}': abs(v) for m, v in d.items()}
            return res
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
