"""Benchmark cases: what is timed, against which baseline, at which size.

A case builds its inputs once (``setup``), then hands out one zero-argument
callable per *variant* (``make``).  The first variant is the baseline; every
other variant's speed-up is ``median(baseline) / median(variant)`` from the
same worker process, with the variants interleaved round by round so that
load changes on a shared machine hit all of them alike.  ``checks`` compares
the variants' outputs (numbers, not timings).

Sizes: ``quick=False`` are the sizes the targets are stated for (VOC image
375x500, 512 crops); ``quick=True`` shrinks everything for a CI smoke run.
"""
import copy
import glob
import os.path as osp
from typing import Dict, Sequence, Tuple

import numpy as np
import torch

from benchmarks.amp_cases import AmpAgreementCase, AmpMiouCase
from benchmarks.common import (ROOT, Case, Unsupported, amp_supported,
                               argmax_agreement, build_model, build_wrapper,
                               demo_image, fit_class_mean_head,
                               load_config, log_floats, max_abs_diff,
                               naive_stage1_step, random_walk_inputs,
                               seg_batch, stage1_batch, synthetic_scene)
from benchmarks.crf_cases import Crf21Case, CrfCase

# also what the tests import from here
__all__ = [
    'CASES', 'CASE_BY_NAME', 'AmpMiouCase', 'Case', 'Unsupported',
    'amp_supported', 'build_model', 'demo_image', 'fit_class_mean_head',
    'synthetic_scene'
]


# ---------------------------------------------------------------------------
# (a) IS-CAM generation
# ---------------------------------------------------------------------------
class IsCamCase(Case):
    name = 'iscam'
    title = 'IS-CAM generation (multi-scale + flip), per image'
    variants = ['naive', 'exact', 'bf16', 'fp16', 'exact_nofold',
                'bf16_nofold']
    memory = True
    rounds = 3
    targets = [
        ('exact >= 1.3x naive', 'exact', 'speedup', 1.3),
        ('exact peak <= 50% naive', 'exact', 'mem_ratio', 0.5),
        ('exact == naive (max |diff| <= 1e-4)', 'exact',
         'check:max_abs_diff_vs_naive', ('<=', 1e-4)),
        ('bf16 >= 3x naive', 'bf16', 'speedup', 3.0),
        ('bf16 argmax agreement >= 99.5%', 'bf16',
         'check:argmax_agreement_vs_exact', ('>=', 0.995)),
    ]

    @classmethod
    def runnable_variants(cls, device='cpu'):
        return [
            v for v in cls.variants
            if v.split('_')[0] not in ('bf16', 'fp16')
            or amp_supported(v.split('_')[0], device) is None
        ]

    def setup(self, variants):
        from mmseg_sipe.cam.inference import DEFAULT_SCALES
        if self.quick:
            cfg = load_config('configs/sipe/demo_r18.py')
            (h, w), scales = (61, 83), (1.0, 0.5)
        else:
            cfg, (h, w) = load_config('configs/sipe/voc_r50.py'), (375, 500)
            scales = DEFAULT_SCALES
        self.model = build_model(cfg).eval().to(self.device)
        self.img, label, self.labels = demo_image(h, w, seed=1)
        fit_class_mean_head(self.model, self.img, label)
        # what make_cam runs by default: BatchNorms folded into the convs
        # (``*_nofold``: the same without folding, to measure its share)
        from mmseg_sipe.cam.inference import fold_batchnorm
        self.fast_model = fold_batchnorm(self.model)
        # the naive baseline: PyTorch's NCHW weights
        self.naive_model = copy.deepcopy(self.model).to(
            memory_format=torch.contiguous_format)
        self.scales = scales
        self.params = dict(
            model='ResNet-18 demo' if self.quick else 'ResNet-50 OS16 (VOC)',
            init='random backbone, class-mean CAM head fitted on the image',
            image=f'{h}x{w} (demo render)', scales=list(scales), flip=True,
            classes_in_image=int(self.labels.sum()),
            threads=torch.get_num_threads())

    def make(self, variant):
        from mmseg_sipe.cam.inference import multiscale_is_cam

        from benchmarks.naive_sipe import naive_multiscale_is_cam
        img, lab, sc = self.img, self.labels, self.scales
        if variant == 'naive':
            m = self.naive_model
            return lambda: naive_multiscale_is_cam(m, img, lab, sc)
        kind, _, nofold = variant.partition('_')
        m = self.model if nofold else self.fast_model
        if kind == 'exact':
            return lambda: multiscale_is_cam(m, img, lab, sc)
        if kind in ('bf16', 'fp16'):
            why = amp_supported(kind, self.device)
            if why:
                raise Unsupported(why)
            return lambda: multiscale_is_cam(m, img, lab, sc, amp=kind)
        raise KeyError(variant)

    def checks(self, outputs):
        res = {}
        ref = outputs.get('naive')
        exact = outputs.get('exact')
        if ref is not None and exact is not None:
            res['exact'] = dict(
                keys_equal=bool(np.array_equal(ref[0], exact[0])),
                max_abs_diff_vs_naive=max_abs_diff(ref[1], exact[1]),
                argmax_agreement_vs_naive=argmax_agreement(ref[1], exact[1]))
        for amp in ('bf16', 'fp16'):
            if exact is not None and outputs.get(amp) is not None:
                res[amp] = dict(
                    argmax_agreement_vs_exact=argmax_agreement(
                        exact[1], outputs[amp][1]),
                    max_abs_diff_vs_exact=max_abs_diff(exact[1],
                                                       outputs[amp][1]))
        for v in ('exact', 'bf16'):
            folded, plain = outputs.get(v), outputs.get(v + '_nofold')
            if folded is not None and plain is not None:
                res.setdefault(v, {})['max_abs_diff_vs_nofold'] = \
                    max_abs_diff(plain[1], folded[1])
        return res

    def derived(self, stats):
        """BN folding's own gain: ``median(X_nofold) / median(X)``."""
        d = {}
        for v in ('exact', 'bf16'):
            a = stats.get(v + '_nofold', {}).get('median_s')
            b = stats.get(v, {}).get('median_s')
            if a and b:
                d[f'fold_bn_speedup_{v}'] = a / b
        return d


# ---------------------------------------------------------------------------
# (b) stage-one training step
# ---------------------------------------------------------------------------
def _stage1_batch(crop: int, batch: int, seed: int = 0):
    """``(data dict for train_step, valid [N,1,H,W] float, labels [N,K])``
    of demo renders (:func:`benchmarks.common.stage1_batch`)."""
    images = []
    for i in range(batch):
        img, _, lab = demo_image(crop, crop, seed=seed + i)
        images.append((img[..., ::-1], lab))  # LoadImageFromFile order: BGR
    return stage1_batch(images, crop, 'bench')


def _variant_models(base: torch.nn.Module, optim_cfg,
                    variants: Sequence[str]) -> Tuple[Dict, Dict]:
    """``(models, optimiser wrappers)`` per variant: copies of ``base`` in
    train mode, each with the config's optimiser wrapper.  Every variant
    keeps the model's default layout (NCHW) except ``exact_cl``, the opt-in
    ``channels_last=True``; ``bf16`` gets the wrapper ``tools/train.py
    --amp`` uses on CPU."""
    models, wrappers = {}, {}
    for v in variants:
        m = copy.deepcopy(base).train()
        m = m.to(memory_format=torch.channels_last if v == 'exact_cl' else
                 torch.contiguous_format)
        models[v] = m
        wrappers[v] = build_wrapper(m, optim_cfg, bf16=(v == 'bf16'))
    return models, wrappers


class TrainStepCase(Case):
    name = 'train_step'
    title = 'stage-one training step (fwd + bwd + SGD), per image'
    variants = ['naive', 'exact', 'bf16', 'exact_cl']
    memory = True
    rounds = 3
    targets = [
        ('exact no slower than naive', 'exact', 'speedup', 1.0),
        ('bf16 >= 2x naive', 'bf16', 'speedup', 2.0),
    ]

    def setup(self, variants):
        self.cfg = load_config('configs/sipe/demo_r18.py' if self.quick
                               else 'configs/sipe/voc_r50.py')
        crop, batch = (64, 2) if self.quick else (512, 2)
        self.cfg.model.data_preprocessor['size'] = (crop, crop)
        self.items_per_call = batch
        self.data, valid, labels = _stage1_batch(crop, batch)
        self.valid, self.labels = valid.to(self.device), labels.to(
            self.device)
        self.models, self.wrappers = _variant_models(
            build_model(self.cfg).to(self.device), self.cfg.optim_wrapper,
            variants)
        self.params = dict(
            model='ResNet-18 demo' if self.quick else 'ResNet-50 OS16 (VOC)',
            init='random', crop=crop, batch=batch,
            optimizer='config optim_wrapper (SGD, clip 1.0, head x10)',
            exact='SIPEClassifier.train_step as configured (NCHW weights)',
            exact_cl='the same with channels_last=True (opt-in NHWC)',
            bf16='AutocastOptimWrapper(bfloat16) (what tools/train.py --amp '
            'uses on CPU): autocast around preprocessing, forward and losses, '
            'backward/step outside')

    def make(self, variant):
        model, ow = self.models[variant], self.wrappers[variant]
        data = self.data
        if variant == 'naive':
            valid, labels = self.valid, self.labels
            return lambda: log_floats(
                naive_stage1_step(model, ow, data, valid, labels)[1])
        return lambda: log_floats(model.train_step(data, ow))

    def checks(self, outputs):
        res = {}
        ref = outputs.get('naive')
        for v in ('exact', 'bf16', 'exact_cl'):
            if ref is not None and outputs.get(v) is not None:
                out = outputs[v]
                res[v] = {
                    f'{k}_abs_diff_vs_naive (first step)':
                    abs(out[k] - ref[k])
                    for k in ('loss_cls', 'loss_gsc')
                }
        if ref is not None:
            res['naive'] = {k: ref[k] for k in ('loss_cls', 'loss_gsc')}
        return res


# ---------------------------------------------------------------------------
# (c) random-walk pseudo labels
# ---------------------------------------------------------------------------
class RandomWalkCase(Case):
    name = 'random_walk'
    title = 'random-walk pseudo label (radius 5, beta 10, 2^8 steps), ' \
        'per image'
    variants = ['naive', 'fast', 'fast_voc']
    memory = True
    rounds = 2
    targets = []

    def setup(self, variants):
        h, w = (48, 64) if self.quick else (375, 500)
        self.sizes = {'voc': (h, w), 'small': (h // 2, w // 2)}
        self.inputs = {
            k: random_walk_inputs(hh, ww, cam_seed=7, edge_seed=8)
            for k, (hh, ww) in self.sizes.items()
        }
        n = {k: (-(-hh // 4)) * (-(-ww // 4))
             for k, (hh, ww) in self.sizes.items()}
        self.n = n
        self.params = dict(
            image=f'{h}x{w} (voc), {h // 2}x{w // 2} (small)',
            channels=3, edge_stride=4, n_pixels=n,
            naive="mode='dense' (the reference arithmetic: n x n matrix "
            'squared 8 times) at the small size',
            fast="mode='auto' (sparse on CPU, dense on CUDA) at the small "
            'size',
            fast_voc="mode='auto' at the VOC size",
            note='dense at the VOC size needs 2 x n^2 float32 = '
            f'{2 * n["voc"] ** 2 * 4 / 2**30:.2f} GiB and 8 products of '
            f'2 n^3 = {16 * n["voc"] ** 3 / 1e12:.1f} TFLOP: too slow to '
            'time on 2 cores; its time is extrapolated (n^3) from the small '
            'size')

    def make(self, variant):
        from mmseg_sipe.refine.random_walk import random_walk_labels
        size = 'voc' if variant == 'fast_voc' else 'small'
        cam, edge = self.inputs[size]
        mode = 'dense' if variant == 'naive' else 'auto'
        keys = np.array([0, 3, 7])
        dev = self.device
        return lambda: random_walk_labels(
            cam, keys, edge, mode=mode, device=dev)

    def checks(self, outputs):
        if outputs.get('naive') is None or outputs.get('fast') is None:
            return {}
        return dict(fast=dict(label_agreement_vs_dense=float(
            (outputs['naive'] == outputs['fast']).mean())))

    def derived(self, stats):
        d = {}
        if stats.get('naive', {}).get('median_s'):
            scale = (self.n['voc'] / self.n['small'])**3
            d['naive_voc_extrapolated_s'] = stats['naive']['median_s'] * scale
            d['naive_voc_peak_mb_estimate'] = 2 * self.n['voc']**2 * 4 / 2**20
            if stats.get('fast_voc', {}).get('median_s'):
                d['fast_voc_speedup_vs_extrapolated_dense'] = \
                    d['naive_voc_extrapolated_s'] / \
                    stats['fast_voc']['median_s']
        return d


# ---------------------------------------------------------------------------
# (d) stage-two training steps
# ---------------------------------------------------------------------------
class Stage2Case(Case):
    memory = False
    rounds = 2
    variants = ['naive', 'exact_cl', 'bf16']
    config = ''  # glob patterns under the repo root; the first match is used
    quick_config = ''

    def setup(self, variants):
        pattern = self.quick_config if self.quick else self.config
        found = sorted(glob.glob(osp.join(ROOT, pattern)))
        if not found:
            raise Unsupported(f'no config matches {pattern}')
        path = osp.relpath(found[0], ROOT)
        self.cfg = load_config(path)
        crop = 64 if self.quick else 512
        self.cfg.model.data_preprocessor['size'] = (crop, crop)
        img, label, _ = demo_image(crop, crop, seed=3)
        self.data = seg_batch([(img[..., ::-1], label.astype(np.int64))],
                              crop, 'bench')
        self.models, self.wrappers = _variant_models(
            build_model(self.cfg).to(self.device), self.cfg.optim_wrapper,
            variants)
        self.params = dict(
            config=path, crop=crop, batch=1, init='random (pretrained=None)',
            norm='SyncBN -> BN', naive='NCHW float32',
            exact_cl='channels_last=True (opt-in NHWC weights)',
            bf16='AutocastOptimWrapper(bfloat16), what tools/train.py --amp '
            'uses on CPU')

    def make(self, variant):
        model, ow, data = self.models[variant], self.wrappers[variant], \
            self.data
        return lambda: log_floats(model.train_step(data, ow))

    def checks(self, outputs):
        ref = outputs.get('naive')
        res = {}
        for v in ('exact_cl', 'bf16'):
            if ref is not None and outputs.get(v) is not None:
                key = next(k for k in ref if k.startswith('decode.loss')
                           or k == 'loss')
                res[v] = {f'{key}_abs_diff_vs_naive (first step)':
                          abs(outputs[v][key] - ref[key])}
        return res


class DeepLabV2Case(Stage2Case):
    name = 'stage2_deeplabv2'
    title = 'stage-two train step DeepLabV2-R101 (OS8), per image'
    config = 'configs/sipe/deeplabv2_r101-d8_*voc12aug-pseudo-512x512.py'
    quick_config = 'configs/sipe/deeplabv2_r18-d8_*demo*.py'


class SegFormerCase(Stage2Case):
    name = 'stage2_segformer'
    title = 'stage-two train step SegFormer MiT-B2, per image'
    config = 'configs/sipe/segformer_mit-b2_*voc12aug-pseudo-512x512.py'
    quick_config = 'configs/sipe/segformer_mit-b0_*demo*.py'


CASES = [
    IsCamCase, TrainStepCase, CrfCase, Crf21Case, RandomWalkCase,
    DeepLabV2Case, SegFormerCase, AmpAgreementCase, AmpMiouCase
]
CASE_BY_NAME = {c.name: c for c in CASES}
