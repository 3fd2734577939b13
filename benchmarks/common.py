"""What the benchmark cases (``cases.py``, ``crf_cases.py``,
``amp_cases.py``) and the GPU check share: configs and random-init models,
synthetic inputs, comparisons of outputs, and the :class:`Case` interface.
"""
import copy
import logging
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

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
def quiet_mmengine() -> None:
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    MMLogger.get_current_instance().setLevel(logging.ERROR)


def load_config(path: str):
    """A config of this repository (``path`` relative to its root)."""
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
    quiet_mmengine()
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


def random_walk_inputs(height: int, width: int, cam_seed: int,
                       edge_seed: int) -> Tuple[np.ndarray, torch.Tensor]:
    """``(cam [3,H,W], edge [1,H/4,W/4])`` for ``random_walk_labels``: smooth
    maps and a sharp-ish boundary map (a coarse random grid, upsampled)."""
    import torch.nn.functional as F
    cam = smooth_maps(3, height, width, seed=cam_seed)
    g = torch.Generator().manual_seed(edge_seed)
    e = torch.rand(1, 1, -(-height // 16), -(-width // 16), generator=g)
    edge = F.interpolate(e, size=(-(-height // 4), -(-width // 4)),
                         mode='bilinear', align_corners=False)[0]
    return cam, torch.sigmoid((edge - 0.5) * 12)


# ---------------------------------------------------------------------------
# train_step batches (as the data loader collates them)
# ---------------------------------------------------------------------------
def _chw(bgr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(bgr)).permute(
        2, 0, 1).contiguous()


def stage1_batch(images: Sequence[Tuple[np.ndarray, np.ndarray]], crop: int,
                 prefix: str):
    """Data for ``SIPEClassifier.train_step`` (as ``PackSIPEInputs`` packs
    it) from ``(bgr uint8 [crop,crop,3], img_labels [K])`` pairs: image 0
    fills the crop, the others are padded bottom/right (as a random crop of
    a smaller image is), exercising ``valid_mask``.

    Returns ``(data, valid [N,1,H,W] float, labels [N,K])``; the last two
    are what the naive baseline takes.
    """
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    inputs, samples, valids, labels = [], [], [], []
    for i, (bgr, lab) in enumerate(images):
        valid = np.ones((crop, crop), np.uint8)
        if i:
            valid[(crop * 3) // 4:] = 0
            valid[:, (crop * 4) // 5:] = 0
            bgr = bgr * valid[..., None]
        inputs.append(_chw(bgr))
        ds = SegDataSample(metainfo=dict(
            img_labels=lab, img_shape=(crop, crop), ori_shape=(crop, crop),
            img_path=f'{prefix}_{i}.jpg'))
        ds.valid_mask = PixelData(data=torch.from_numpy(valid[None]))
        samples.append(ds)
        valids.append(valid)
        labels.append(lab)
    valid_t = torch.from_numpy(np.stack(valids)[:, None]).float()
    return (dict(inputs=inputs, data_samples=samples), valid_t,
            torch.from_numpy(np.stack(labels)))


def seg_batch(images: Sequence[Tuple[np.ndarray, np.ndarray]], crop: int,
              prefix: str) -> Dict[str, list]:
    """Data for a segmentor's ``train_step`` from ``(bgr uint8
    [crop,crop,3], label int64 [h,w])`` pairs (``gt_sem_seg``)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    inputs, samples = [], []
    for i, (bgr, label) in enumerate(images):
        inputs.append(_chw(bgr))
        ds = SegDataSample(metainfo=dict(
            img_shape=(crop, crop), ori_shape=(crop, crop),
            img_path=f'{prefix}_{i}.jpg', seg_map_path=f'{prefix}_{i}.png',
            reduce_zero_label=False))
        ds.gt_sem_seg = PixelData(data=torch.from_numpy(label)[None])
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


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


def log_floats(log_vars) -> Dict[str, float]:
    return {k: float(v) for k, v in log_vars.items()}


def naive_stage1_step(model, ow, data, valid, labels):
    """One stage-one training step of the naive transcription
    (``benchmarks/naive_sipe.py``) under the optimiser wrapper ``ow``;
    returns ``(total loss, losses)``."""
    from benchmarks.naive_sipe import naive_train_losses
    with ow.optim_context(model):
        d = model.data_preprocessor(data, True)
        losses = naive_train_losses(model, d['inputs'], valid, labels)
    loss = sum(losses.values())
    ow.update_params(loss)
    return loss, losses


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
