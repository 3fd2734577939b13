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
import contextlib
import copy
import glob
import logging
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def repo_path(path: Optional[str]) -> Optional[str]:
    """``path`` as recorded in results: relative to the repository when it
    lies inside it, else its base name (no machine's absolute paths)."""
    if path is None:
        return None
    rel = osp.relpath(osp.abspath(path), ROOT)
    return osp.basename(path) if rel.startswith('..') else rel


class Unsupported(RuntimeError):
    """The variant cannot run here (reason in the message)."""


# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------
def _quiet_mmengine() -> None:
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    MMLogger.get_current_instance().setLevel(logging.ERROR)


def _cfg(path: str):
    import mmseg_sipe  # noqa: F401  (registers the plugin)
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, path))


def _sync_bn_to_bn(obj):
    """Replace every ``SyncBN`` norm config by ``BN`` (CPU has no SyncBN)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == 'type' and v == 'SyncBN':
                obj[k] = 'BN'
            else:
                _sync_bn_to_bn(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _sync_bn_to_bn(v)
    return obj


def build_model(cfg, seed: int = 0) -> torch.nn.Module:
    """Random-init model of ``cfg.model`` (no pretrained weights)."""
    _quiet_mmengine()
    from mmseg_sipe.registry import MODELS
    mcfg = copy.deepcopy(cfg.model)
    mcfg.pop('pretrained', None)
    if 'backbone' in mcfg:
        mcfg['backbone'].pop('init_cfg', None)
        mcfg['backbone'].pop('pretrained', None)
    _sync_bn_to_bn(mcfg)
    torch.manual_seed(seed)
    model = MODELS.build(mcfg)
    model.init_weights()
    return model


def demo_image(height: int, width: int, seed: int = 0):
    """A demo-dataset-style image resized to exactly ``height x width``.

    Returns ``(rgb uint8 [H,W,3], label uint8 [H,W] VOC ids, img_labels
    float32 [20])``.
    """
    from PIL import Image

    from mmseg_sipe.datasets.demo import render_demo_image
    rng = np.random.default_rng(seed)
    lo, hi = sorted((max(height, 32), max(width, 32)))
    out = render_demo_image(rng, size=(lo, hi))
    img = np.asarray(
        Image.fromarray(out['img']).resize((width, height), Image.BICUBIC))
    label = np.asarray(
        Image.fromarray(out['label']).resize((width, height), Image.NEAREST))
    img_labels = np.zeros(20, np.float32)
    for o in out['objects']:
        img_labels[o['class_id'] - 1] = 1
    if not img_labels.any():
        img_labels[0] = 1
    return np.ascontiguousarray(img), np.ascontiguousarray(label), img_labels


def synthetic_scene(height: int, width: int, class_id: int = 7,
                    seed: int = 0):
    """A decisive two-region scene: a red ellipse (class ``class_id``) on a
    green background, with pixel noise.

    Returns ``(rgb uint8 [H,W,3], label uint8 [H,W], img_labels [20])``.
    """
    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.float32)
    img[:] = (70, 110, 60)
    yy, xx = np.mgrid[:height, :width]
    obj = ((yy - height * 0.5) / (height * 0.3))**2 + (
        (xx - width * 0.55) / (width * 0.25))**2 < 1
    img[obj] = (200, 60, 50)
    img += rng.normal(0, 8, img.shape)
    label = np.where(obj, class_id, 0).astype(np.uint8)
    img_labels = np.zeros(20, np.float32)
    img_labels[class_id - 1] = 1
    return np.clip(img, 0, 255).astype(np.uint8), label, img_labels


@torch.no_grad()
def fit_class_mean_head(model, img: np.ndarray, label: np.ndarray) -> None:
    """Give a random-init :class:`SIPEClassifier` a decisive CAM head.

    With random weights every class's CAM is a random projection, so SIPE's
    seed step (an argmax over near-equal structure similarities) becomes a
    lottery that any rounding flips.  This sets the 1x1 classifier to a
    nearest-class-mean rule fitted on ``img`` itself: ``W_k = mean(x4 over
    class-k cells) - mean(x4)`` for the classes in ``label`` and
    ``W_k = -mean(x4)`` (a negative CAM, since x4 >= 0) for the others.
    The backbone and side convolutions stay random.

    Args:
        img: ``[H, W, 3]`` uint8 RGB; label: ``[H, W]`` class ids.
    """
    from PIL import Image

    from mmseg_sipe.cam.inference import normalize_rgb
    dev = next(model.parameters()).device
    x = torch.from_numpy(normalize_rgb(img))[None].to(dev)
    x4 = model.forward_features(x)['feats'][-1][0].float()
    c, h, w = x4.shape
    lab = np.asarray(Image.fromarray(label).resize((w, h), Image.NEAREST))
    f = x4.reshape(c, -1)
    mu = f.mean(1)
    weight = -mu[None].repeat(model.num_classes, 1)
    for k in np.unique(lab):
        if 0 < k <= model.num_classes:
            sel = torch.from_numpy(lab.reshape(-1) == k).to(dev)
            weight[k - 1] = f[:, sel].mean(1) - mu
    clf = model.head.classifier.weight
    clf.copy_(weight.view_as(clf).to(clf.dtype))


def smooth_maps(channels: int, height: int, width: int, seed: int = 0,
                stride: int = 16) -> np.ndarray:
    """Smooth non-negative random maps ``[C, H, W]`` float32 in [0, 1]
    (bilinear upsampling of a coarse random grid, max-normalised)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, channels, max(2, -(-height // stride)),
                        max(2, -(-width // stride)), generator=g)
    up = torch.nn.functional.interpolate(
        coarse, size=(height, width), mode='bilinear', align_corners=False)[0]
    up = up / up.amax(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    return up.numpy().astype(np.float32)


def argmax_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels where ``argmax_c a == argmax_c b``."""
    return float((a.argmax(0) == b.argmax(0)).mean())


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max())


def amp_supported(amp: str, device: str = 'cpu') -> Optional[str]:
    """``None`` if ``amp`` runs on ``device`` here, else the reason."""
    from mmseg_sipe.cam.inference import autocast_context
    try:
        autocast_context(torch.device(device), amp)
    except ValueError as e:
        return str(e)
    return None


# ---------------------------------------------------------------------------
# optimiser wrapper with CPU autocast (what AmpOptimWrapper does on GPU)
# ---------------------------------------------------------------------------
def build_wrapper(model, optim_cfg, bf16: bool):
    """The config's optimiser wrapper; with ``bf16`` the one
    ``tools/train.py --amp`` uses on CPU (``AutocastOptimWrapper``: bf16
    autocast around preprocessing + forward, no loss scaling)."""
    import mmseg_sipe  # noqa: F401  (registers AutocastOptimWrapper)
    from mmengine.optim import build_optim_wrapper
    cfg = copy.deepcopy(optim_cfg)
    for k in ('loss_scale', 'dtype'):
        cfg.pop(k, None)
    cfg['type'] = 'OptimWrapper'
    if bf16:
        cfg.update(type='AutocastOptimWrapper', dtype='bfloat16')
    return build_optim_wrapper(model, cfg)


def _log_floats(log_vars) -> Dict[str, float]:
    return {k: float(v) for k, v in log_vars.items()}


# ---------------------------------------------------------------------------
# base class
# ---------------------------------------------------------------------------
class Case:
    """One benchmark case.

    Attributes:
        name: CLI name (``--only``).
        title: table heading.
        variants: names; the first is the baseline.
        memory: measure peak memory per variant.
        items_per_call: images per timed call (times are reported per image).
        rounds / warmup: timed rounds after ``warmup`` untimed calls
            (full size; ``quick`` uses 2 and 1).
        targets: ``(label, variant, kind, threshold)`` with ``kind`` in
            ``speedup`` (>=, over the baseline), ``speedup_vs:OTHER`` (>=,
            ``median(OTHER) / median(variant)``), ``mem_ratio`` (<=,
            variant/baseline peak), ``check:KEY`` (``(op, threshold)`` on
            ``checks[variant][KEY]``).
    """
    name = ''
    title = ''
    variants: List[str] = []
    memory = False
    rounds = 3
    warmup = 1
    targets: List[tuple] = []

    def __init__(self, quick: bool, device: str = 'cpu'):
        self.quick = quick
        self.device = device
        self.items_per_call = 1
        self.params: Dict[str, Any] = {}
        self.notes: Dict[str, str] = {}

    @classmethod
    def runnable_variants(cls, device: str = 'cpu') -> List[str]:
        """Variants worth a memory worker on ``device``."""
        return list(cls.variants)

    def setup(self, variants: List[str]) -> None:
        """Build what ``make`` needs for ``variants``."""

    def make(self, variant: str) -> Callable[[], Any]:
        raise NotImplementedError

    def checks(self, outputs: Dict[str, Any]) -> Dict[str, Any]:
        return {}

    def derived(self, stats: Dict[str, Dict]) -> Dict[str, Any]:
        """Extra figures computed from the timings (e.g. extrapolations)."""
        return {}

    def teardown(self) -> None:
        pass


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
            cfg, (h, w), scales = _cfg('configs/sipe/demo_r18.py'), (61, 83), \
                (1.0, 0.5)
        else:
            cfg, (h, w) = _cfg('configs/sipe/voc_r50.py'), (375, 500)
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
    """``(data dict for train_step, valid [N,1,H,W] float, labels [N,K])``.

    Image 0 fills the crop, the others are padded on the right/bottom (as a
    random crop of a smaller image is), exercising ``valid_mask``."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    inputs, samples, valids, labels = [], [], [], []
    for i in range(batch):
        img, _, lab = demo_image(crop, crop, seed=seed + i)
        valid = np.ones((crop, crop), np.uint8)
        if i:
            valid[(crop * 3) // 4:] = 0
            valid[:, (crop * 4) // 5:] = 0
            img = img * valid[..., None]
        bgr = np.ascontiguousarray(img[..., ::-1])  # LoadImageFromFile order
        inputs.append(torch.from_numpy(bgr).permute(2, 0, 1).contiguous())
        ds = SegDataSample(metainfo=dict(
            img_labels=lab, img_shape=(crop, crop), ori_shape=(crop, crop),
            img_path=f'bench_{i}.jpg'))
        ds.valid_mask = PixelData(data=torch.from_numpy(valid[None]))
        samples.append(ds)
        valids.append(valid)
        labels.append(lab)
    valid_t = torch.from_numpy(np.stack(valids)[:, None]).float()
    return (dict(inputs=inputs, data_samples=samples), valid_t,
            torch.from_numpy(np.stack(labels)))


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
        self.cfg = _cfg('configs/sipe/demo_r18.py' if self.quick else
                        'configs/sipe/voc_r50.py')
        crop, batch = (64, 2) if self.quick else (512, 2)
        self.cfg.model.data_preprocessor['size'] = (crop, crop)
        self.items_per_call = batch
        self.data, valid, labels = _stage1_batch(crop, batch)
        self.valid, self.labels = valid.to(self.device), labels.to(
            self.device)
        base = build_model(self.cfg).to(self.device)
        self.models, self.wrappers = {}, {}
        for v in variants:
            m = copy.deepcopy(base).train()
            # naive: PyTorch's NCHW; the others: the model's default
            # (channels-last weights since SIPEClassifier/CRFEncoderDecoder
            # store them so), made explicit
            # the model's default layout (NCHW) except exact_cl, which is
            # the opt-in ``channels_last=True``
            m = m.to(memory_format=torch.channels_last if v == 'exact_cl'
                     else torch.contiguous_format)
            self.models[v] = m
            self.wrappers[v] = build_wrapper(m, self.cfg.optim_wrapper,
                                             bf16=(v == 'bf16'))
        del base
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
        from benchmarks.naive_sipe import naive_train_losses
        model, ow = self.models[variant], self.wrappers[variant]
        data = self.data
        if variant == 'naive':
            valid, labels = self.valid, self.labels

            def step():
                with ow.optim_context(model):
                    d = model.data_preprocessor(data, True)
                    losses = naive_train_losses(model, d['inputs'], valid,
                                                labels)
                loss = sum(losses.values())
                ow.update_params(loss)
                return {k: float(v) for k, v in losses.items()}

            return step
        return lambda: _log_floats(model.train_step(data, ow))

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
# (c) dense CRF (cam2ir)
# ---------------------------------------------------------------------------
def _pool_warm(_):
    """Pool warm-up task: import what a CRF job imports, then linger so that
    every worker takes one task."""
    import pydensecrf.densecrf  # noqa: F401

    import benchmarks.naive_sipe  # noqa: F401
    import mmseg_sipe.pseudo_labels.crf_labels  # noqa: F401
    time.sleep(0.5)
    return os.getpid()


class _NaiveCam2irJob:
    """Picklable: the reference ``cam2ir`` of one item into ``out_dir``."""

    def __init__(self, cam_dir: str, out_dir: str):
        self.cam_dir, self.out_dir = cam_dir, out_dir

    def __call__(self, item):
        from benchmarks.naive_sipe import naive_cam2ir
        from mmseg_sipe.utils.cam_io import cam_path
        naive_cam2ir(item['img_path'], cam_path(self.cam_dir, item['name']),
                     osp.join(self.out_dir, item['name'] + '.png'))


class CrfCase(Case):
    """``cam2ir`` on 8 images of 375x500, as it runs on VOC.

    An image's IS-CAM has ``1 + K`` channels for its ``K`` image-level
    classes, so its CRFs have ``1 + K`` labels; here ``K`` is 1 (four
    images), 2 (two), 3 and 4: mean 1.9, while most VOC images carry one or
    two classes.  :class:`Crf21Case` is the 21-label worst case.

    Variants (the pools are started in ``setup``, so the timings are the
    steady state of a long run, and 1 and 2 workers compare like for like):

    * ``naive`` / ``naive_w2``: the reference ``cam2ir.py`` (two independent
      CRFs per image, default heap) in a 1- / 2-process pool (the reference
      also spreads images over ``--num_workers`` processes);
    * ``w1`` / ``w2``: ``make_crf_labels(pool=crf_worker_pool(n))`` with
      n = 1 / 2 (shared lattices, heap retention, largest IS-CAM first);
    * ``w1_inline``: ``make_crf_labels(num_workers=1)``, in this process;
    * ``w2_spawn`` (full runs): ``make_crf_labels(num_workers=2)``, which
      starts its pool in every call (what one short call costs).
    """
    name = 'crf'
    title = 'dense CRF cam2ir, VOC-like (2-5 labels, 2 CRFs/image), per image'
    variants = ['naive', 'naive_w2', 'w1', 'w1_inline', 'w2', 'w2_spawn']
    quick_variants = ['naive', 'w1', 'w1_inline', 'w2']
    memory = False
    rounds = 5  # 2 processes on 2 cores: sensitive to any other load
    warmup = 0  # nothing to warm up but the pools, started in setup
    label_counts = [3, 2, 5, 2, 2, 4, 2, 3]  # in listing order
    pool_sizes = dict(naive=1, naive_w2=2, w1=1, w2=2)
    targets = [
        ('2 workers >= 1.8x 1 worker (VOC-like labels)', 'w2',
         'speedup_vs:w1', 1.8),
    ]

    def __init__(self, quick, device='cpu'):
        super().__init__(quick, device)
        if quick:  # spawning pools costs seconds: the smallest set in CI
            self.variants = list(self.quick_variants)

    def setup(self, variants):
        from PIL import Image

        from mmseg_sipe.utils.cam_io import cam_path, save_cam
        try:
            import pydensecrf.densecrf  # noqa: F401
        except ImportError as e:
            raise Unsupported(f'pydensecrf not installed: {e}')
        h, w = (48, 64) if self.quick else (375, 500)
        counts = self.label_counts[:2] if self.quick else self.label_counts
        self.tmp = tempfile.mkdtemp(prefix='bench_crf_')
        cam_dir = osp.join(self.tmp, 'cam')
        rng = np.random.RandomState(0)
        self.items = []
        for i, n_labels in enumerate(counts):
            img, _, _ = demo_image(h, w, seed=100 + i)
            p = osp.join(self.tmp, f'img_{i}.png')
            Image.fromarray(img).save(p)
            keys = np.concatenate([[0], np.sort(
                rng.choice(np.arange(1, 21), n_labels - 1, False))])
            save_cam(cam_path(cam_dir, f'img_{i}'), keys,
                     smooth_maps(n_labels, h, w, seed=100 + i))
            self.items.append(dict(name=f'img_{i}', img_path=p))
        self.cam_dir = cam_dir
        self.items_per_call = len(counts)
        self.calls = 0
        self.pools = {}
        import multiprocessing as mp

        from mmseg_sipe.pseudo_labels import crf_worker_pool
        for v, size in self.pool_sizes.items():  # they boot side by side
            if v in variants:
                self.pools[v] = mp.get_context('spawn').Pool(size) \
                    if v.startswith('naive') else crf_worker_pool(size)
        for v, pool in self.pools.items():
            pool.map(_pool_warm, range(self.pool_sizes[v]), chunksize=1)
        self.params = dict(
            image=f'{h}x{w} (demo render)', labels_per_image=counts,
            images_per_call=len(counts),
            crf='reference cam2ir: gt_prob 0.7, gauss(3,3), bilateral(50,5,'
            '10), 10 iters; fg + weak-bg CRF per image',
            naive='reference cam2ir.py (benchmarks/naive_sipe.py) in a '
            'started 1-process pool', naive_w2='the same, 2 processes',
            w1='make_crf_labels(pool=crf_worker_pool(1))',
            w2='make_crf_labels(pool=crf_worker_pool(2))',
            w1_inline='make_crf_labels(num_workers=1), in-process',
            w2_spawn='make_crf_labels(num_workers=2), starting its pool')

    def _out(self):
        self.calls += 1
        d = osp.join(self.tmp, f'out_{self.calls}')
        os.makedirs(d)
        return d

    def make(self, variant):
        from mmseg_sipe.pseudo_labels import make_crf_labels
        if variant.startswith('naive'):

            def run_naive():
                out = self._out()
                job = _NaiveCam2irJob(self.cam_dir, out)
                for _ in self.pools[variant].imap(job, self.items):
                    pass
                return out

            return run_naive

        workers = dict(w1=1, w1_inline=1, w2=2, w2_spawn=2)[variant]

        def run():
            out = self._out()
            s = make_crf_labels(self.items, self.cam_dir, out,
                                num_workers=workers,
                                pool=self.pools.get(variant))
            if s.failed or s.done != len(self.items):
                raise RuntimeError(f'make_crf_labels: {s.line("crf")}')
            return out

        return run

    def checks(self, outputs):
        from PIL import Image
        dirs = {v: d for v, d in outputs.items() if d}
        if 'naive' not in dirs:
            return {}
        names = sorted(f for f in os.listdir(dirs['naive'])
                       if f.endswith('.png'))
        res = {}
        for v, d in dirs.items():
            if v == 'naive':
                continue
            same = len(names) == len(self.items) and all(
                np.array_equal(
                    np.asarray(Image.open(osp.join(dirs['naive'], f))),
                    np.asarray(Image.open(osp.join(d, f)))) for f in names)
            res[v] = dict(labels_equal_to_naive=bool(same))
        return res

    def derived(self, stats):
        """``a_over_b`` = median(b) / median(a): 2 vs 1 worker, and ours vs
        the reference at the same number of processes."""
        med = {v: d.get('median_s') for v, d in stats.items()}
        out = {}
        for a, b in (('w2', 'w1'), ('naive_w2', 'naive'), ('w1', 'naive'),
                     ('w2', 'naive_w2'), ('w1_inline', 'w1')):
            if med.get(a) and med.get(b):
                out[f'{a}_over_{b}'] = med[b] / med[a]
        return out

    def teardown(self):
        for pool in getattr(self, 'pools', {}).values():
            pool.close()
            pool.join()
        shutil.rmtree(getattr(self, 'tmp', ''), ignore_errors=True)


class Crf21Case(CrfCase):
    """The worst case: every image with all 21 VOC labels (no image has
    them).  A streaming CRF this size is bound by memory bandwidth, which
    two processes share; its 2-worker ratio is reported, not targeted."""
    name = 'crf21'
    title = 'dense CRF cam2ir, 21 labels on every image (worst case), per ' \
        'image'
    variants = ['naive', 'naive_w2', 'w1', 'w2']
    quick_variants = ['naive', 'w1', 'w2']
    rounds = 4
    label_counts = [21] * 8
    targets = []


# ---------------------------------------------------------------------------
# (d) random-walk pseudo labels
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
        import torch.nn.functional as F
        h, w = (48, 64) if self.quick else (375, 500)
        self.sizes = {'voc': (h, w), 'small': (h // 2, w // 2)}
        self.inputs = {}
        for k, (hh, ww) in self.sizes.items():
            cam = smooth_maps(3, hh, ww, seed=7)
            g = torch.Generator().manual_seed(8)
            e = torch.rand(1, 1, -(-hh // 16), -(-ww // 16), generator=g)
            edge = F.interpolate(
                e, size=(-(-hh // 4), -(-ww // 4)), mode='bilinear',
                align_corners=False)[0]
            edge = torch.sigmoid((edge - 0.5) * 12)  # sharp-ish boundaries
            self.inputs[k] = (cam, edge)
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
# (e) stage-two training steps
# ---------------------------------------------------------------------------
class Stage2Case(Case):
    memory = False
    rounds = 2
    variants = ['naive', 'exact_cl', 'bf16']
    config = ''  # glob patterns under the repo root; the first match is used
    quick_config = ''

    def setup(self, variants):
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        pattern = self.quick_config if self.quick else self.config
        found = sorted(glob.glob(osp.join(ROOT, pattern)))
        if not found:
            raise Unsupported(f'no config matches {pattern}')
        path = osp.relpath(found[0], ROOT)
        self.cfg = _cfg(path)
        crop = 64 if self.quick else 512
        self.cfg.model.data_preprocessor['size'] = (crop, crop)
        img, label, _ = demo_image(crop, crop, seed=3)
        bgr = np.ascontiguousarray(img[..., ::-1])
        ds = SegDataSample(metainfo=dict(
            img_shape=(crop, crop), ori_shape=(crop, crop),
            img_path='bench.jpg', seg_map_path='bench.png',
            reduce_zero_label=False))
        ds.gt_sem_seg = PixelData(
            data=torch.from_numpy(label.astype(np.int64))[None])
        self.data = dict(
            inputs=[torch.from_numpy(bgr).permute(2, 0, 1).contiguous()],
            data_samples=[ds])
        base = build_model(self.cfg).to(self.device)
        self.models, self.wrappers = {}, {}
        for v in variants:
            m = copy.deepcopy(base).train()
            # naive: PyTorch's NCHW; the others: the model's default
            # (channels-last weights since SIPEClassifier/CRFEncoderDecoder
            # store them so), made explicit
            # naive: the configured model (NCHW fp32); exact_cl: the opt-in
            # channels_last=True; bf16: the configured model + --amp wrapper
            m = m.to(memory_format=torch.channels_last if v == 'exact_cl'
                     else torch.contiguous_format)
            self.models[v] = m
            self.wrappers[v] = build_wrapper(m, self.cfg.optim_wrapper,
                                             bf16=(v == 'bf16'))
        del base
        self.params = dict(
            config=path, crop=crop, batch=1, init='random (pretrained=None)',
            norm='SyncBN -> BN', naive='NCHW float32',
            exact_cl='channels_last=True (opt-in NHWC weights)',
            bf16='AutocastOptimWrapper(bfloat16), what tools/train.py --amp '
            'uses on CPU')

    def make(self, variant):
        model, ow, data = self.models[variant], self.wrappers[variant], \
            self.data
        return lambda: _log_floats(model.train_step(data, ow))

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


# ---------------------------------------------------------------------------
# (f) mixed-precision agreement (numbers only, not timed)
# ---------------------------------------------------------------------------
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
            model = build_model(_cfg(cfgp)).eval().to(dev)
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
            cfg = _cfg('configs/sipe/demo_r18.py')
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


CASES = [
    IsCamCase, TrainStepCase, CrfCase, Crf21Case, RandomWalkCase,
    DeepLabV2Case, SegFormerCase, AmpAgreementCase, AmpMiouCase
]
CASE_BY_NAME = {c.name: c for c in CASES}
