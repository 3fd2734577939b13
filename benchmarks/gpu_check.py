#!/usr/bin/env python
"""GPU readiness check: every CUDA path of mmseg-sipe, measured in one run.

    bash tools/gpu_check.sh OUT_DIR [options]               # on one CUDA GPU
    python benchmarks/gpu_check.py --out-dir OUT_DIR [options]
    bash tools/gpu_check.sh OUT_DIR --device cpu --tiny     # rehearsal

Sections (each in its own process, with its own time budget; a failure is
recorded as ``FAIL`` with a one-line reason and the next section runs):

``env``               GPU, memory, torch / CUDA / cuDNN / NCCL versions,
                      TF32 flags, ``mmseg_sipe.__version__`` and ``STACK``.
``stage1``            ``configs/sipe/voc_r50.py`` train steps (random init,
                      512 crop, batch 16): the naive transcription
                      (``benchmarks/naive_sipe.py``), fp32, fp16 with loss
                      scaling (mmengine ``AmpOptimWrapper``, what
                      ``tools/train.py --amp`` builds on CUDA) and bf16.
``launch``            ``tools/dist_train.sh`` with 1 process (NCCL) on a
                      generated demo dataset, a checkpoint, ``--resume``,
                      then ``tools/dist_test.sh``; the real Runner.
``iscam``             ``multiscale_is_cam`` on 375x500 images (scales 1.0,
                      0.5, 1.5, 2.0 + flip): float32 on the GPU vs the same on
                      the CPU, then images/s of the naive path, exact, TF32,
                      bf16 and fp16 with their argmax agreement.
``random_walk``       ``random_walk_labels`` dense on the GPU vs the sparse
                      CPU form (and sparse on the GPU).
``irn``               ``configs/sipe/irn_voc_r50.py`` train steps, fp32 / AMP.
``stage2_deeplabv2``  stage-two train steps at 512, fp32 / AMP / AMP with
``stage2_segformer``  channels-last weights.

Writes ``OUT_DIR/gpu_check.json`` and ``OUT_DIR/gpu_check.md`` (after every
section, so an interrupted run leaves what it measured) and the launcher logs
under ``OUT_DIR/launch/``.  Exit status: 0 when every section is OK, 1 when
one failed (or, with ``--strict-targets``, a target was missed), 2 when no
CUDA device is visible and ``--device cpu`` was not given.

``--device cpu --tiny`` runs every section's code on toy sizes (ResNet-18 at
half width, 48-64 px inputs, 1-2 iterations, gloo instead of NCCL): a
rehearsal whose numbers mean nothing.  See docs/benchmarks.md, "GPU check".
"""
import argparse
import copy
import datetime
import gc
import json
import math
import os
import os.path as osp
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SCHEMA = 1
GRACE_S = 5  # after a section's budget, before its process is killed

# (name, title, budget in seconds on an H100/H200-class GPU).  The sum plus
# GRACE_S per section and the parent's imports stays under 8 minutes.
SECTIONS = [
    ('env', 'environment', 20),
    ('stage1', 'stage-one train step (voc_r50)', 65),
    ('launch', 'dist_train.sh / --resume / dist_test.sh', 100),
    ('iscam', 'IS-CAM inference (make_cam)', 60),
    ('random_walk', 'random-walk pseudo labels', 35),
    ('irn', 'IRN train step (irn_voc_r50)', 40),
    ('stage2_deeplabv2', 'stage-two train step DeepLabV2-R101', 55),
    ('stage2_segformer', 'stage-two train step SegFormer MiT-B2', 40),
]
SECTION_NAMES = [s[0] for s in SECTIONS]

# (section, variant, key, op, threshold, label)
TARGETS = [
    ('stage1', 'fp32', 'images_per_s', '>=', 150.0,
     'stage one fp32 >= 150 images/s'),
    ('stage1', 'fp16', 'images_per_s', '>=', 400.0,
     'stage one AMP (fp16, loss scaling) >= 400 images/s'),
    ('iscam', 'exact', 'images_per_s', '>=', 35.0,
     'IS-CAM exact (4 scales + flip, 375x500) >= 35 images/s'),
    ('iscam', 'bf16', 'speedup_vs_exact', '>=', 2.0,
     'IS-CAM bf16 >= 2x exact'),
    ('iscam', 'bf16', 'argmax_agreement', '>=', 0.995,
     'IS-CAM bf16 argmax agreement with fp32 >= 99.5%'),
    ('iscam', 'fp16', 'speedup_vs_exact', '>=', 2.0,
     'IS-CAM fp16 >= 2x exact'),
    ('iscam', 'fp16', 'argmax_agreement', '>=', 0.995,
     'IS-CAM fp16 argmax agreement with fp32 >= 99.5%'),
    ('stage2_deeplabv2', 'amp', 'images_per_s', '>=', 100.0,
     'stage two DeepLabV2-R101 at 512 with AMP >= 100 images/s'),
]

LOSS_RTOL = 1e-2  # first-step losses of AMP vs fp32 (relative)
CAM_ATOL = 1e-4  # IS-CAM float32: device vs CPU, exact vs naive
RW_MIN_AGREEMENT = 0.99  # random walk: dense (device) vs sparse (CPU)


# ---------------------------------------------------------------------------
# small helpers (no torch import at module level: --device cpu must be able
# to hide CUDA before torch is loaded)
# ---------------------------------------------------------------------------
def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds')


def _one_line(text: str, limit: int = 240) -> str:
    lines = [s.strip() for s in str(text).strip().splitlines() if s.strip()]
    line = lines[0] if lines else ''
    return line if len(line) <= limit else line[:limit - 3] + '...'


def _exc_line(e: BaseException) -> str:
    return _one_line(f'{type(e).__name__}: {e}')


class Clock:
    """A section's time budget."""

    def __init__(self, budget_s: float):
        self.t0 = time.monotonic()
        self.budget = float(budget_s)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def left(self) -> float:
        return self.budget - self.elapsed()

    def share(self, parts_left: int, frac: float = 0.85) -> float:
        """A monotonic deadline giving the next of ``parts_left`` parts
        (variants) its fair share of the time that is left."""
        return time.monotonic() + max(0.0, self.left()) * frac / max(
            1, parts_left)


class SkipVariant(Exception):
    """A variant that does not exist on this device (reason in message)."""


def check(name: str, value, op: str, threshold) -> Dict[str, Any]:
    ok = None
    if value is not None:
        if op == '>=':
            ok = value >= threshold
        elif op == '<=':
            ok = value <= threshold
        elif op == '==':
            ok = value == threshold
        ok = bool(ok)
    return dict(name=name, value=value, op=op, threshold=threshold,
                passed=ok)


def _rel(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(b), 1e-12)


class Ctx:
    """What a section gets: options, device, budget, output directory."""

    def __init__(self, name: str, args, budget_s: float):
        import torch
        self.name = name
        self.args = args
        self.tiny = bool(args.tiny)
        self.device = torch.device('cuda', 0) if args.device == 'cuda' \
            else torch.device('cpu')
        self.cuda = self.device.type == 'cuda'
        self.clock = Clock(budget_s)
        self.out_dir = args.out_dir

    def log(self, msg: str) -> None:
        print(f'[gpu_check] {self.name}: {msg}', flush=True)

    def sync(self) -> None:
        if self.cuda:
            import torch
            torch.cuda.synchronize(self.device)

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            import torch
            torch.cuda.empty_cache()

    def need(self, seconds: float, what: str) -> None:
        """Refuse to start ``what`` with less than ``seconds`` left."""
        if self.clock.left() < seconds:
            raise TimeoutError(
                f'out of time budget before {what} ({self.clock.left():.0f} '
                f's of {self.clock.budget:.0f} s left)')


def _set_precision(ctx: Ctx, tf32: bool, benchmark: bool) -> Dict[str, Any]:
    """State a section's cuDNN / TF32 settings explicitly and return them."""
    import torch
    torch.backends.cudnn.benchmark = bool(benchmark)
    torch.backends.cudnn.allow_tf32 = bool(tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    return dict(cudnn_benchmark=bool(benchmark), cudnn_allow_tf32=bool(tf32),
                matmul_allow_tf32=False)


# ---------------------------------------------------------------------------
# synthetic inputs (demo renders: labels, objects and textures like the demo
# dataset; rendered at half size and upsampled, which is cheap)
# ---------------------------------------------------------------------------
_RENDERS: Dict[tuple, tuple] = {}


def _render(size: int, seed: int):
    """``(bgr uint8 [S,S,3], label uint8 [S,S] VOC ids, img_labels [20])``."""
    key = (size, seed)
    if key not in _RENDERS:
        import numpy as np
        from PIL import Image

        from benchmarks.cases import demo_image
        half = max(32, size // 2)
        img, label, labels = demo_image(half, half, seed=seed)
        if half != size:
            img = np.asarray(
                Image.fromarray(img).resize((size, size), Image.BICUBIC))
            label = np.asarray(
                Image.fromarray(label).resize((size, size), Image.NEAREST))
        _RENDERS[key] = (np.ascontiguousarray(img[..., ::-1]),
                         np.ascontiguousarray(label), labels)
    return _RENDERS[key]


def _stage1_batch(crop: int, batch: int):
    """Data for ``SIPEClassifier.train_step`` (as ``PackSIPEInputs`` packs
    it): image 0 fills the crop, the others are padded bottom/right (as a
    random crop of a smaller image is).  Also ``valid [N,1,H,W]`` and
    ``labels [N,K]`` for the naive baseline."""
    import numpy as np
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    inputs, samples, valids, labels = [], [], [], []
    for i in range(batch):
        bgr, _, lab = _render(crop, seed=i % 2)
        valid = np.ones((crop, crop), np.uint8)
        if i:
            valid[(crop * 3) // 4:] = 0
            valid[:, (crop * 4) // 5:] = 0
            bgr = bgr * valid[..., None]
        inputs.append(torch.from_numpy(np.ascontiguousarray(bgr)).permute(
            2, 0, 1).contiguous())
        ds = SegDataSample(metainfo=dict(
            img_labels=lab, img_shape=(crop, crop), ori_shape=(crop, crop),
            img_path=f'gpu_check_{i}.jpg'))
        ds.valid_mask = PixelData(data=torch.from_numpy(valid[None]))
        samples.append(ds)
        valids.append(valid)
        labels.append(lab)
    valid_t = torch.from_numpy(np.stack(valids)[:, None]).float()
    return (dict(inputs=inputs, data_samples=samples), valid_t,
            torch.from_numpy(np.stack(labels)))


def _seg_batch(crop: int, batch: int, label_stride: int = 1):
    """Data for a segmentor's ``train_step``: images and ``gt_sem_seg`` at
    ``crop / label_stride`` with a few uncertain (255) pixels."""
    import numpy as np
    import torch
    from mmengine.structures import PixelData
    from PIL import Image
    from mmseg.structures import SegDataSample
    inputs, samples = [], []
    for i in range(batch):
        bgr, label, _ = _render(crop, seed=i % 2)
        if label_stride > 1:
            s = crop // label_stride
            label = np.asarray(
                Image.fromarray(label).resize((s, s), Image.NEAREST))
        label = label.astype(np.int64)
        label[::7, ::5] = 255  # uncertain pixels (ignore_index)
        inputs.append(torch.from_numpy(bgr).permute(2, 0, 1).contiguous())
        ds = SegDataSample(metainfo=dict(
            img_shape=(crop, crop), ori_shape=(crop, crop),
            img_path=f'gpu_check_{i}.jpg', seg_map_path=f'gpu_check_{i}.png',
            reduce_zero_label=False))
        ds.gt_sem_seg = PixelData(data=torch.from_numpy(label)[None])
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


# ---------------------------------------------------------------------------
# training-step variants
# ---------------------------------------------------------------------------
def _wrapper_cfg(cfg, amp: Optional[str]):
    """The config's optimiser wrapper, switched to mixed precision the way
    ``tools/train.py --amp --amp-dtype AMP`` does (``enable_amp``)."""
    from mmengine.config import Config

    from mmseg_sipe.cli.train import enable_amp
    mini = Config(dict(optim_wrapper=copy.deepcopy(cfg.optim_wrapper)))
    if amp:
        import torch
        try:
            enable_amp(mini, amp)
        except ValueError as e:
            if torch.cuda.is_available():
                raise  # every AMP mode must build on CUDA
            raise SkipVariant(_exc_line(e))  # fp16 training on a CPU
    return mini.optim_wrapper


def _detached(log_vars) -> Dict[str, Any]:
    return {k: v.detach() if hasattr(v, 'detach') else v
            for k, v in log_vars.items()}


def _floats(d) -> Dict[str, float]:
    return {k: float(v) for k, v in d.items()}


def _time_steps(ctx: Ctx, step: Callable[[], Dict], items: int,
                deadline: float) -> Dict[str, Any]:
    """First step (kept for the loss checks), warm-up, timed steps (fewer
    when the variant's share of the budget, ``deadline``, runs out)."""
    import torch
    a = ctx.args
    torch.manual_seed(0)
    first = _floats(step())
    for _ in range(max(0, a.warmup - 1)):
        step()
    ctx.sync()
    outs = []
    t0 = time.perf_counter()
    while len(outs) < a.iters:
        outs.append(step())
        if time.monotonic() > deadline:
            break
    ctx.sync()
    dt = time.perf_counter() - t0
    vals = [_floats(o) for o in outs]
    finite = all(math.isfinite(x) for d in [first] + vals for x in d.values())
    return dict(
        images_per_s=len(outs) * items / dt, s_per_step=dt / len(outs),
        iters=len(outs), warmup=a.warmup, batch=items, first_losses=first,
        last_losses=vals[-1], losses_finite=finite,
        truncated=len(outs) < a.iters)


def _run_train_variants(ctx: Ctx, cfg, data, items: int,
                        variants: List[Dict[str, Any]],
                        baseline: str) -> Dict[str, Any]:
    """Each variant: a fresh copy of one random-init model on the device,
    its optimiser wrapper, timed steps, peak memory."""
    import torch

    from benchmarks.cases import build_model
    from benchmarks.memory import measure_peak
    from mmengine.optim import build_optim_wrapper
    base = build_model(cfg)  # on the CPU; copied per variant
    out: Dict[str, Any] = {}
    for k, spec in enumerate(variants):
        v = spec['name']
        deadline = ctx.clock.share(len(variants) - k)
        res: Dict[str, Any] = dict(what=spec['what'])
        out[v] = res
        model = ow = step = None
        try:
            ctx.need(8, f'variant {v}')
            if ctx.cuda:
                ctx.free()
                torch.cuda.reset_peak_memory_stats(ctx.device)
            owcfg = _wrapper_cfg(cfg, spec.get('amp'))
            model = copy.deepcopy(base).to(ctx.device).train()
            if spec.get('channels_last'):
                model = model.to(memory_format=torch.channels_last)
            ow = build_optim_wrapper(model, copy.deepcopy(owcfg))
            res['optim_wrapper'] = type(ow).__name__
            if getattr(ow, 'cast_dtype', None) is not None:
                res['dtype'] = str(ow.cast_dtype).replace('torch.', '')
            step = spec['make_step'](model, ow)
            res.update(_time_steps(ctx, step, items, deadline))
            if ctx.cuda:
                res['peak_mb'] = torch.cuda.max_memory_allocated(
                    ctx.device) / 2**20
                res['memory_method'] = 'torch.cuda.max_memory_allocated'
            else:
                _, info = measure_peak(step, 'cpu')
                res['peak_mb'] = info['peak_mb']
                res['memory_method'] = info['method'] + ' (one extra step)'
            res['status'] = 'ok'
            ctx.log(f"{v}: {res['images_per_s']:.3g} images/s, peak "
                    f"{res['peak_mb']:.0f} MB, first-step losses "
                    f"{_fmt_losses(res['first_losses'])}")
        except SkipVariant as e:
            res.update(status='skipped', reason=str(e))
            ctx.log(f'{v}: skipped ({e})')
        except Exception as e:  # noqa: BLE001  (recorded, next variant)
            res.update(status='error', reason=_exc_line(e),
                       traceback=traceback.format_exc()[-3000:])
            ctx.log(f'{v}: ERROR {_exc_line(e)}')
        finally:
            del model, ow, step  # the step closure holds the model too
            ctx.free()
    base_ips = out.get(baseline, {}).get('images_per_s')
    for v, res in out.items():
        if base_ips and res.get('images_per_s'):
            res['speedup_vs_baseline'] = res['images_per_s'] / base_ips
    return out


def _fmt_losses(d: Dict[str, float]) -> str:
    return ', '.join(f'{k}={v:.4g}' for k, v in d.items())


def _total_loss(d: Dict[str, float]) -> float:
    if 'loss' in d:
        return d['loss']
    return sum(v for k, v in d.items() if k.startswith('loss'))


def _loss_checks(variants: Dict[str, Any], ref: str, others: List[str],
                 per_component: bool) -> List[Dict[str, Any]]:
    """Finite losses everywhere; first-step losses of ``others`` within
    LOSS_RTOL (relative) of ``ref``'s."""
    checks = []
    ran = {v: r for v, r in variants.items() if r.get('status') == 'ok'}
    checks.append(check('losses finite (all steps, all variants)',
                        all(r['losses_finite'] for r in ran.values()),
                        '==', True))
    r0 = ran.get(ref)
    if r0 is None:
        return checks
    f0 = r0['first_losses']
    for v in others:
        if v not in ran:
            continue
        f = ran[v]['first_losses']
        keys = ['loss']
        if per_component:
            keys += [k for k in f0 if k.startswith('loss_') and k in f]
        worst = 0.0
        for k in keys:
            a = _total_loss(f) if k == 'loss' else f[k]
            b = _total_loss(f0) if k == 'loss' else f0[k]
            worst = max(worst, _rel(a, b))
        ran[v]['first_step_loss_rel_diff_vs_' + ref] = worst
        checks.append(check(f'{v} first-step losses vs {ref} (relative)',
                            worst, '<=', LOSS_RTOL))
    return checks


def _variant_failures(variants: Dict[str, Any]) -> List[str]:
    return [f"{v}: {r.get('reason')}" for v, r in variants.items()
            if r.get('status') == 'error']


# ---------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------
def sec_env(ctx: Ctx) -> Dict[str, Any]:
    import mmcv
    import mmengine
    import mmseg
    import torch

    import mmseg_sipe
    info: Dict[str, Any] = dict(
        device=str(ctx.device), python=platform.python_version(),
        platform=platform.platform(), cpu_count=os.cpu_count(),
        processor=_cpu_name(), torch=torch.__version__,
        torch_cuda_build=torch.version.cuda,
        torch_threads=torch.get_num_threads(),
        mmseg_sipe=mmseg_sipe.__version__, stack=mmseg_sipe.STACK,
        mmengine=mmengine.__version__, mmcv=mmcv.__version__,
        mmseg=mmseg.__version__,
        cudnn=torch.backends.cudnn.version()
        if torch.backends.cudnn.is_available() else None,
        default_cudnn_benchmark=torch.backends.cudnn.benchmark,
        default_cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
        default_matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
        float32_matmul_precision=torch.get_float32_matmul_precision(),
        # these override the TF32 flags process-wide (NGC containers set the
        # first): the float32 exactness checks can then fail
        tf32_env={k: os.environ.get(k) for k in (
            'TORCH_ALLOW_TF32_CUBLAS_OVERRIDE', 'NVIDIA_TF32_OVERRIDE')},
        cuda_visible_devices=os.environ.get('CUDA_VISIBLE_DEVICES'))
    checks = []
    if ctx.cuda:
        props = torch.cuda.get_device_properties(ctx.device)
        info.update(
            gpu=torch.cuda.get_device_name(ctx.device),
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            compute_capability='.'.join(
                map(str, torch.cuda.get_device_capability(ctx.device))),
            multiprocessors=props.multi_processor_count,
            device_count=torch.cuda.device_count(),
            bf16_supported=torch.cuda.is_bf16_supported(),
            nccl=_nccl_version(), driver_smi=_nvidia_smi())
        x = torch.randn(256, 256, device=ctx.device)
        ref = x.cpu() @ x.cpu().t()
        err = float((x @ x.t()).cpu().sub_(ref).abs().max() /
                    ref.abs().max())
        checks.append(check('a matmul runs on the GPU (relative error vs '
                            'CPU)', err, '<=', 1e-2))
        checks.append(check('NCCL available',
                            torch.distributed.is_nccl_available(), '==',
                            True))
    else:
        from mmseg_sipe.utils.amp import _fast_half_on_cpu
        info.update(gpu=None, cpu_native_bf16=_fast_half_on_cpu(
            torch.bfloat16), cpu_native_fp16=_fast_half_on_cpu(
                torch.float16))
        checks.append(check('gloo available',
                            torch.distributed.is_gloo_available(), '==',
                            True))
    gpu = info.get('gpu') or 'no GPU (cpu)'
    mem = f", {info['gpu_memory_gib']} GiB" if info.get('gpu_memory_gib') \
        else ''
    ctx.log(f"{gpu}{mem}; torch {info['torch']}, CUDA "
            f"{info['torch_cuda_build']}, cuDNN {info['cudnn']}; mmseg_sipe "
            f"{info['mmseg_sipe']} ({info['stack']})")
    return dict(info=info, checks=checks)


def _nccl_version() -> Optional[str]:
    import torch
    try:
        if not torch.distributed.is_nccl_available():
            return None
        v = torch.cuda.nccl.version()
        return '.'.join(map(str, v)) if isinstance(v, (tuple, list)) \
            else str(v)
    except Exception as e:  # noqa: BLE001  (informational only)
        return f'unknown ({_exc_line(e)})'


def _nvidia_smi() -> Optional[str]:
    exe = shutil.which('nvidia-smi')
    if not exe:
        return None
    try:
        p = subprocess.run(
            [exe, '--query-gpu=name,driver_version,memory.total',
             '--format=csv,noheader'], capture_output=True, text=True,
            timeout=10)
        return p.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def sec_stage1(ctx: Ctx) -> Dict[str, Any]:
    from benchmarks.cases import _cfg
    from benchmarks.naive_sipe import naive_train_losses
    a = ctx.args
    precision = _set_precision(ctx, tf32=True, benchmark=True)
    cfg_path = 'configs/sipe/demo_r18.py' if ctx.tiny else \
        'configs/sipe/voc_r50.py'
    cfg = _cfg(cfg_path)
    crop = 64 if ctx.tiny else 512
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor['size'] = (crop, crop)
    data, valid, labels = _stage1_batch(crop, a.stage1_batch)
    valid, labels = valid.to(ctx.device), labels.to(ctx.device)

    def plain(model, ow):
        return lambda: _detached(model.train_step(data, ow))

    def naive(model, ow):

        def step():
            with ow.optim_context(model):
                d = model.data_preprocessor(data, True)
                losses = naive_train_losses(model, d['inputs'], valid,
                                            labels)
            loss = sum(losses.values())
            ow.update_params(loss)
            return dict(loss=loss.detach(),
                        **{k: v.detach() for k, v in losses.items()})

        return step

    variants = [
        dict(name='naive', make_step=naive,
             what='naive_train_losses (benchmarks/naive_sipe.py), fp32'),
        dict(name='fp32', make_step=plain,
             what='SIPEClassifier.train_step, OptimWrapper, fp32'),
        dict(name='fp16', make_step=plain, amp='fp16',
             what='--amp: AmpOptimWrapper fp16, dynamic loss scaling'),
        dict(name='bf16', make_step=plain, amp='bf16',
             what='--amp --amp-dtype bf16'),
    ]
    res = _run_train_variants(ctx, cfg, data, a.stage1_batch, variants,
                              'naive')
    checks = _loss_checks(res, 'fp32', ['naive', 'fp16', 'bf16'],
                          per_component=True)
    return dict(
        params=dict(config=cfg_path, crop=crop, batch=a.stage1_batch,
                    init='random (backbone init_cfg=None)',
                    input='demo renders, images 1.. padded (valid_mask)',
                    **precision),
        variants=res, baseline='naive', checks=checks,
        errors=_variant_failures(res))


def sec_iscam(ctx: Ctx) -> Dict[str, Any]:
    import numpy as np
    import torch

    from benchmarks.cases import (_cfg, amp_supported, argmax_agreement,
                                  build_model, demo_image,
                                  fit_class_mean_head, max_abs_diff)
    from benchmarks.naive_sipe import naive_multiscale_is_cam
    from mmseg_sipe.cam.inference import (DEFAULT_SCALES, fold_batchnorm,
                                          multiscale_is_cam)
    a = ctx.args
    # what make_cam runs: no cuDNN autotuning (every image size differs),
    # float32 without TF32 unless a variant says otherwise
    precision = _set_precision(ctx, tf32=False, benchmark=False)
    cfg_path = 'configs/sipe/demo_r18.py' if ctx.tiny else \
        'configs/sipe/voc_r50.py'
    h, w = (48, 64) if ctx.tiny else (375, 500)
    scales = tuple(DEFAULT_SCALES)
    n = a.iscam_images
    n_cpu, n_naive = min(a.iscam_cpu_images, n), min(a.iscam_naive_images, n)
    dev = ctx.device
    base = build_model(_cfg(cfg_path)).eval()
    images = [demo_image(h, w, seed=200 + i) for i in range(n)]
    # a class-mean CAM head fitted on each image (random weights make the
    # seed step an argmax over near-ties; see docs/benchmarks.md)
    fit = copy.deepcopy(base).to(dev)
    heads = []
    for img, label, _ in images:
        fit_class_mean_head(fit, img, label)
        heads.append(fit.head.classifier.weight.detach().clone())
    del fit
    # per device, so that swapping heads never copies across devices
    heads = {dev.type: heads, 'cpu': [t.cpu() for t in heads]}
    folded_cpu = fold_batchnorm(base)
    if folded_cpu is base or not torch.equal(
            folded_cpu.head.classifier.weight, base.head.classifier.weight):
        raise RuntimeError('fold_batchnorm did not fold the backbone or '
                           'changed the CAM classifier')
    models = dict(
        exact_cpu=folded_cpu,
        naive=copy.deepcopy(base).to(dev).to(
            memory_format=torch.contiguous_format),
        exact=copy.deepcopy(folded_cpu).to(dev))
    for m in ('tf32', 'bf16', 'fp16'):
        models[m] = models['exact']

    def call(v, i):
        img, _, lab = images[i]
        if v == 'naive':
            return naive_multiscale_is_cam(models[v], img, lab, scales)
        kw = dict(allow_tf32=True) if v == 'tf32' else \
            dict(amp=v) if v in ('bf16', 'fp16') else {}
        return multiscale_is_cam(models[v], img, lab, scales, **kw)

    what = dict(
        exact_cpu='multiscale_is_cam, fp32, folded BN, on the CPU',
        naive='naive_multiscale_is_cam (benchmarks/naive_sipe.py), fp32',
        exact='multiscale_is_cam, fp32 (TF32 off), folded BN (make_cam)',
        tf32='the same with allow_tf32=True',
        bf16="the same with amp='bf16'", fp16="the same with amp='fp16'")
    counts = dict(exact_cpu=n_cpu, naive=n_naive)
    outputs: Dict[str, list] = {}
    variants: Dict[str, Any] = {}
    order = ['exact_cpu', 'naive', 'exact', 'tf32', 'bf16', 'fp16']
    for k, v in enumerate(order):
        deadline = ctx.clock.share(len(order) - k)
        res: Dict[str, Any] = dict(what=what[v])
        variants[v] = res
        model = models[v]
        vdev = next(model.parameters()).device
        try:
            if v in ('bf16', 'fp16'):
                why = amp_supported(v, str(vdev))
                if why:
                    raise SkipVariant(_one_line(why))
            ctx.need(5, f'variant {v}')
            if vdev.type == 'cuda':
                ctx.free()
                torch.cuda.reset_peak_memory_stats(vdev)
            count = counts.get(v, n)
            vheads = heads[vdev.type]
            with torch.no_grad():
                model.head.classifier.weight.copy_(vheads[0])
            call(v, 0)  # warm-up (lazy initialisation, autocast caches)
            outs = []
            t0 = time.perf_counter()
            for i in range(count):
                with torch.no_grad():  # same device: no host sync
                    model.head.classifier.weight.copy_(vheads[i])
                outs.append(call(v, i))  # ends with the result's copy
                if time.monotonic() > deadline:
                    break
            dt = time.perf_counter() - t0
            outputs[v] = outs
            res.update(images=len(outs), images_per_s=len(outs) / dt,
                       s_per_image=dt / len(outs),
                       truncated=len(outs) < count, status='ok')
            if vdev.type == 'cuda':
                res['peak_mb'] = torch.cuda.max_memory_allocated(vdev) / 2**20
                res['memory_method'] = 'torch.cuda.max_memory_allocated'
            ctx.log(f"{v}: {res['images_per_s']:.3g} images/s over "
                    f'{len(outs)} image(s)')
        except SkipVariant as e:
            res.update(status='skipped', reason=str(e))
            ctx.log(f'{v}: skipped ({e})')
        except Exception as e:  # noqa: BLE001
            res.update(status='error', reason=_exc_line(e),
                       traceback=traceback.format_exc()[-3000:])
            ctx.log(f'{v}: ERROR {_exc_line(e)}')
        ctx.free()

    checks = []
    ex = outputs.get('exact', [])
    finite = all(np.isfinite(o[1]).all() for outs in outputs.values()
                 for o in outs)
    checks.append(check('IS-CAM finite (all variants)', finite, '==', True))
    pairs = [('exact_cpu', 'device fp32 vs CPU fp32'),
             ('naive', 'exact vs naive (fp32)')]
    for ref, label in pairs:
        got = outputs.get(ref, [])
        m = min(len(got), len(ex))
        if not m:
            continue
        keys_equal = all(np.array_equal(got[i][0], ex[i][0])
                         for i in range(m))
        diff = max(max_abs_diff(got[i][1], ex[i][1]) for i in range(m))
        variants[ref]['max_abs_diff_vs_exact'] = diff
        variants[ref]['compared_images'] = m
        checks.append(check(f'IS-CAM {label}: keys equal ({m} images)',
                            keys_equal, '==', True))
        checks.append(check(f'IS-CAM {label}: max |diff| ({m} images)',
                            diff, '<=', CAM_ATOL))
    ex_ips = variants['exact'].get('images_per_s')
    for v in ('naive', 'tf32', 'bf16', 'fp16', 'exact_cpu'):
        r = variants[v]
        if r.get('images_per_s') and ex_ips:
            r['speedup_vs_exact'] = r['images_per_s'] / ex_ips
        if v in ('tf32', 'bf16', 'fp16') and outputs.get(v):
            m = min(len(outputs[v]), len(ex))
            agree = [argmax_agreement(ex[i][1], outputs[v][i][1])
                     for i in range(m)]
            r['argmax_agreement'] = float(np.mean(agree))
            r['argmax_agreement_min'] = float(np.min(agree))
            r['max_abs_diff_vs_exact'] = max(
                max_abs_diff(ex[i][1], outputs[v][i][1]) for i in range(m))
    naive_ips = variants['naive'].get('images_per_s')
    for r in variants.values():
        if naive_ips and r.get('images_per_s'):
            r['speedup_vs_baseline'] = r['images_per_s'] / naive_ips
    return dict(
        params=dict(config=cfg_path, image=f'{h}x{w} demo renders',
                    scales=list(scales), flip=True, images=n,
                    cpu_images=n_cpu, naive_images=n_naive,
                    init='random backbone, class-mean CAM head fitted per '
                    'image', **precision),
        variants=variants, baseline='naive', checks=checks,
        errors=_variant_failures(variants))


def sec_random_walk(ctx: Ctx) -> Dict[str, Any]:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from benchmarks.cases import smooth_maps
    from mmseg_sipe.refine.random_walk import random_walk_labels
    precision = _set_precision(ctx, tf32=False, benchmark=False)
    h, w = (48, 64) if ctx.tiny else (375, 500)
    n = ctx.args.rw_images
    inputs = []
    for i in range(n):
        cam = smooth_maps(3, h, w, seed=7 + i)
        g = torch.Generator().manual_seed(8 + i)
        e = torch.rand(1, 1, -(-h // 16), -(-w // 16), generator=g)
        edge = F.interpolate(e, size=(-(-h // 4), -(-w // 4)),
                             mode='bilinear', align_corners=False)[0]
        inputs.append((cam, torch.sigmoid((edge - 0.5) * 12)))
    keys = np.array([0, 3, 7])
    specs = [('sparse_cpu', 'sparse', 'cpu',
              "mode='sparse' on the CPU (the CPU default)"),
             ('dense', 'dense', str(ctx.device),
              "mode='dense' (the reference arithmetic; 'auto' on CUDA)")]
    if ctx.cuda:
        specs.append(('sparse', 'sparse', str(ctx.device),
                      "mode='sparse' on the GPU (cuSPARSE)"))
    outputs, variants = {}, {}
    for k, (v, mode, vdev, what) in enumerate(specs):
        deadline = ctx.clock.share(len(specs) - k)
        res: Dict[str, Any] = dict(what=what, mode=mode, device=vdev)
        variants[v] = res
        try:
            ctx.need(5, f'variant {v}')
            cuda = vdev.startswith('cuda')
            if cuda:
                ctx.free()
                torch.cuda.reset_peak_memory_stats(ctx.device)

            def run(i, mode=mode, vdev=vdev):
                cam, edge = inputs[i]
                return random_walk_labels(cam, keys, edge, mode=mode,
                                          device=vdev)

            run(0)  # warm-up
            outs = []
            t0 = time.perf_counter()
            for i in range(n):
                outs.append(run(i))
                if time.monotonic() > deadline:
                    break
            dt = time.perf_counter() - t0
            outputs[v] = outs
            res.update(images=len(outs), s_per_image=dt / len(outs),
                       images_per_s=len(outs) / dt, status='ok')
            if cuda:
                res['peak_mb'] = torch.cuda.max_memory_allocated(
                    ctx.device) / 2**20
                res['memory_method'] = 'torch.cuda.max_memory_allocated'
            ctx.log(f"{v}: {1000 * res['s_per_image']:.1f} ms per image")
        except Exception as e:  # noqa: BLE001
            res.update(status='error', reason=_exc_line(e),
                       traceback=traceback.format_exc()[-3000:])
            ctx.log(f'{v}: ERROR {_exc_line(e)}')
        ctx.free()
    checks = []
    ref = outputs.get('sparse_cpu', [])
    for v in ('dense', 'sparse'):
        got = outputs.get(v, [])
        m = min(len(ref), len(got))
        if not m:
            continue
        agree = float(np.mean([(ref[i] == got[i]).mean() for i in range(m)]))
        variants[v]['pixel_agreement_vs_sparse_cpu'] = agree
        checks.append(check(f'random walk {v} ({variants[v]["device"]}) vs '
                            'sparse CPU: pixel agreement', agree, '>=',
                            RW_MIN_AGREEMENT))
    base_ips = variants['sparse_cpu'].get('images_per_s')
    for r in variants.values():
        if base_ips and r.get('images_per_s'):
            r['speedup_vs_baseline'] = r['images_per_s'] / base_ips
    n_pix = (-(-h // 4)) * (-(-w // 4))
    return dict(
        params=dict(image=f'{h}x{w}', channels=3, edge_stride=4,
                    n_pixels=n_pix, radius=5, beta=10, steps=256, images=n,
                    dense_matrix_mb=2 * n_pix**2 * 4 / 2**20, **precision),
        variants=variants, baseline='sparse_cpu', checks=checks,
        errors=_variant_failures(variants))


def sec_irn(ctx: Ctx) -> Dict[str, Any]:
    from benchmarks.cases import _cfg
    a = ctx.args
    precision = _set_precision(ctx, tf32=True, benchmark=True)
    cfg_path = 'configs/sipe/irn_demo.py' if ctx.tiny else \
        'configs/sipe/irn_voc_r50.py'
    cfg = _cfg(cfg_path)
    # radius-10 pairs need a stride-4 map wider than 18: irn_demo's crop
    crop = 128 if ctx.tiny else 512
    data = _seg_batch(crop, a.irn_batch, label_stride=4)

    def plain(model, ow):
        return lambda: _detached(model.train_step(data, ow))

    variants = [
        dict(name='fp32', make_step=plain, what='IRNet.train_step, fp32'),
        dict(name='amp', make_step=plain, amp='auto',
             what='--amp (fp16 + loss scaling on CUDA, bf16 on CPU)'),
    ]
    res = _run_train_variants(ctx, cfg, data, a.irn_batch, variants, 'fp32')
    checks = _loss_checks(res, 'fp32', ['amp'], per_component=False)
    return dict(
        params=dict(config=cfg_path, crop=crop, batch=a.irn_batch,
                    labels='demo label at stride 4 with 255 pixels',
                    init='random, frozen backbone', **precision),
        variants=res, baseline='fp32', checks=checks,
        errors=_variant_failures(res))


def _stage2(ctx: Ctx, cfg_path: str, tiny_path: str) -> Dict[str, Any]:
    from benchmarks.cases import _cfg
    a = ctx.args
    precision = _set_precision(ctx, tf32=True, benchmark=True)
    path = tiny_path if ctx.tiny else cfg_path
    cfg = _cfg(path)
    crop = 64 if ctx.tiny else 512
    cfg.model.data_preprocessor['size'] = (crop, crop)
    data = _seg_batch(crop, a.stage2_batch)

    def plain(model, ow):
        return lambda: _detached(model.train_step(data, ow))

    variants = [
        dict(name='fp32', make_step=plain,
             what='the configured model (NCHW), fp32'),
        dict(name='amp', make_step=plain, amp='auto',
             what='--amp (fp16 + loss scaling on CUDA, bf16 on CPU)'),
        dict(name='amp_cl', make_step=plain, amp='auto', channels_last=True,
             what='--amp with channels-last weights (channels_last=True)'),
    ]
    res = _run_train_variants(ctx, cfg, data, a.stage2_batch, variants,
                              'fp32')
    checks = _loss_checks(res, 'fp32', ['amp', 'amp_cl'],
                          per_component=False)
    return dict(
        params=dict(config=path, crop=crop, batch=a.stage2_batch,
                    init='random (pretrained=None)', norm='SyncBN -> BN',
                    **precision),
        variants=res, baseline='fp32', checks=checks,
        errors=_variant_failures(res))


def sec_stage2_deeplabv2(ctx: Ctx) -> Dict[str, Any]:
    return _stage2(
        ctx,
        'configs/sipe/deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py',
        'configs/sipe/deeplabv2_r18-d8_1xb8-200i_demo-pseudo-128x128.py')


def sec_stage2_segformer(ctx: Ctx) -> Dict[str, Any]:
    return _stage2(
        ctx,
        'configs/sipe/segformer_mit-b2_4xb4-20k_voc12aug-pseudo-512x512.py',
        'configs/sipe/segformer_mit-b0_1xb8-300i_demo-pseudo-160x160.py')


# -- launch ------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _launch_opts(data_root: str, epochs: int, batch: int) -> List[str]:
    return [
        '--cfg-options', f'data_root={data_root}',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'train_dataloader.batch_size={batch}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1000',
        'param_scheduler.0.end=2', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1'
    ]


def _run_launcher(ctx: Ctx, name: str, cmd: List[str], log_dir: str,
                  env: Dict[str, str], reserve: float = 2.0):
    """Run one launcher command (output in ``<log_dir>/<name>.log``);
    returns ``(result dict, output text)``."""
    log = osp.join(log_dir, f'{name}.log')
    timeout = max(5.0, ctx.clock.left() - reserve)
    t0 = time.time()
    with open(log, 'w') as f:
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f,
                                  stderr=subprocess.STDOUT, timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
    with open(log, errors='replace') as f:
        text = f.read()
    res = dict(command=' '.join(osp.relpath(c, ROOT) if c.startswith(ROOT)
                                else c for c in cmd[:4]) + ' ...',
               exit_code=rc, seconds=round(time.time() - t0, 1),
               log=osp.relpath(log, ctx.out_dir))
    if rc != 0:
        res['reason'] = 'timed out' if rc is None else _error_line(text)
    ctx.log(f"{name}: exit code {rc} in {res['seconds']} s")
    return res, text


_ERROR_RE = re.compile(
    r'^(error: .+|[\w.]*(Error|Exception|Interrupt)(: .*)?)$')


def _error_line(text: str) -> str:
    """The launched tool's own last error line (``error: ...`` from the
    tools, or ``SomeError: ...``), not the launcher's summary."""
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    found = [s for s in lines
             if _ERROR_RE.match(s) and 'ChildFailedError' not in s]
    return _one_line(found[-1] if found else (lines[-1] if lines else
                                              'no output'))


def sec_launch(ctx: Ctx) -> Dict[str, Any]:
    from mmseg_sipe.datasets.demo import generate_demo_dataset
    a = ctx.args
    log_dir = osp.join(ctx.out_dir, 'launch')
    os.makedirs(log_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='sipe_gpu_check_')  # no spaces in paths
    try:
        data = osp.join(tmp, 'demo')
        generate_demo_dataset(
            data, num_train=8, num_val=4, num_aug=8,
            size=(64, 96) if ctx.tiny else (160, 256), seed=0)
        work = osp.join(tmp, 'work')
        cfg = osp.join(ROOT, 'configs', 'sipe', 'demo_r18.py')
        env = dict(os.environ)
        env['PYTHON'] = sys.executable
        env['PYTHONUNBUFFERED'] = '1'
        env['PYTHONPATH'] = os.pathsep.join(
            [ROOT] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
        if ctx.tiny:
            env.setdefault('OMP_NUM_THREADS', '1')
        expected = 'nccl' if ctx.cuda else 'gloo'
        runs, checks = {}, []
        sh = ['bash']
        steps = [
            ('train', sh + [osp.join(ROOT, 'tools', 'dist_train.sh'), cfg,
                            '1', '--work-dir', work] +
             _launch_opts(data, 1, a.launch_batch)),
            ('resume', sh + [osp.join(ROOT, 'tools', 'dist_train.sh'), cfg,
                             '1', '--work-dir', work, '--resume'] +
             _launch_opts(data, 2, a.launch_batch)),
            ('test', sh + [osp.join(ROOT, 'tools', 'dist_test.sh'), cfg,
                           osp.join(work, 'epoch_2.pth'), '1', '--work-dir',
                           osp.join(tmp, 'test')] +
             _launch_opts(data, 2, a.launch_batch)),
        ]
        for name, cmd in steps:
            ctx.need(10, f'the {name} launch')
            env['PORT'] = str(_free_port())
            res, text = _run_launcher(ctx, name, cmd, log_dir, env)
            runs[name] = res
            checks.append(check(f'{name}: exit code', res['exit_code'], '==',
                                0))
            m = re.findall(r"backend['\"]?\s*[=:]\s*['\"](\w+)['\"]", text)
            res['backend'] = m[-1] if m else None
            if name == 'train':
                checks.append(check('train: process-group backend',
                                    res['backend'], '==', expected))
                checks.append(check(
                    'train: checkpoint epoch_1.pth written',
                    osp.isfile(osp.join(work, 'epoch_1.pth')), '==', True))
            elif name == 'resume':
                checks.append(check('resume: "resumed epoch: 1" logged',
                                    'resumed epoch: 1' in text, '==', True))
                checks.append(check(
                    'resume: checkpoint epoch_2.pth written',
                    osp.isfile(osp.join(work, 'epoch_2.pth')), '==', True))
            else:
                checks.append(check('test: metrics printed',
                                    'Test results:' in text and 'mIoU' in
                                    text, '==', True))
            if res['exit_code'] != 0:
                break  # the next step needs this one's output
        return dict(
            params=dict(config='configs/sipe/demo_r18.py', processes=1,
                        backend=expected,
                        dataset='generated demo (8 train, 4 val, 8 aug)',
                        batch=a.launch_batch,
                        epochs='1, then --resume to 2'),
            runs=runs, checks=checks,
            errors=[f"{k}: {r['reason']}" for k, r in runs.items()
                    if r.get('reason')])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


SECTION_FUNCS = dict(
    env=sec_env, stage1=sec_stage1, launch=sec_launch, iscam=sec_iscam,
    random_walk=sec_random_walk, irn=sec_irn,
    stage2_deeplabv2=sec_stage2_deeplabv2,
    stage2_segformer=sec_stage2_segformer)


# ---------------------------------------------------------------------------
# running a section in its own process
# ---------------------------------------------------------------------------
def run_section_here(name: str, args, budget: float) -> Dict[str, Any]:
    """Run one section in this process; never raises."""
    t0 = time.time()
    out: Dict[str, Any] = dict(status='FAIL', budget_s=round(budget, 1))
    try:
        import logging

        from benchmarks.cases import _quiet_mmengine
        _quiet_mmengine()
        logging.getLogger('mmengine').setLevel(logging.ERROR)
        if args.tiny:
            import torch
            torch.set_num_threads(1)
        ctx = Ctx(name, args, budget)
        res = SECTION_FUNCS[name](ctx)
        out.update(res)
        failed = [c for c in res.get('checks', []) if c['passed'] is False]
        if res.get('errors'):
            out['reason'] = _one_line(res['errors'][0])
        elif failed:
            c = failed[0]
            out['reason'] = _one_line(
                f"check failed: {c['name']} (got {_fmt_val(c['value'])}, "
                f"needs {c['op']} {_fmt_val(c['threshold'])})")
        else:
            out['status'] = 'OK'
    except Exception as e:  # noqa: BLE001  (recorded; other sections run)
        out['reason'] = _exc_line(e)
        out['traceback'] = traceback.format_exc()[-4000:]
    out['elapsed_s'] = round(time.time() - t0, 1)
    return out


def _child_main(name: str, args, budget: float, result_file: str) -> None:
    res = run_section_here(name, args, budget)
    tmp = result_file + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(res, f, default=_json_default)
    os.replace(tmp, result_file)


def _fork_target(name, args, budget, result_file):
    os.setpgrp()  # its launchers belong to it: one kill ends them all
    _child_main(name, args, budget, result_file)


def _kill_group(pid: int) -> None:
    try:
        if os.getpgid(pid) == pid:  # a group of its own (never ours)
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_section_isolated(name: str, args, budget: float, mode: str,
                         argv: List[str]) -> Dict[str, Any]:
    """Run a section in a child process (``fork`` or ``spawn``); a crash
    or a budget overrun is a FAIL with a one-line reason."""
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix='gpu_check_') as d:
        result = osp.join(d, 'result.json')
        if mode == 'fork':
            import multiprocessing as mp
            p = mp.get_context('fork').Process(
                target=_fork_target, args=(name, args, budget, result))
            p.start()
            try:
                p.join(budget + GRACE_S)
            except BaseException:  # e.g. Ctrl-C: the section goes too
                _kill_group(p.pid)
                raise
            alive, pid = p.is_alive(), p.pid
            if alive:
                _kill_group(pid)
                p.join(10)
            code = p.exitcode
        else:
            cmd = [sys.executable, osp.abspath(__file__), *argv,
                   '--_section', name, '--_result', result, '--_budget',
                   str(budget)]
            p = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
            try:
                code = p.wait(budget + GRACE_S)
                alive = False
            except subprocess.TimeoutExpired:
                alive = True
                _kill_group(p.pid)
                code = p.wait(10)
            except BaseException:
                _kill_group(p.pid)
                raise
        if osp.isfile(result):
            with open(result) as f:
                return json.load(f)
        if alive:
            reason = f'exceeded its time budget of {budget:.0f} s (killed)'
        else:
            reason = f'section process died (exit code {code})'
        return dict(status='FAIL', reason=reason, budget_s=round(budget, 1),
                    elapsed_s=round(time.time() - t0, 1))


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------
def _json_default(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
    except ImportError:
        pass
    return str(o)


def _fmt_val(v) -> str:
    if v is None:
        return '-'
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f'{v:.4g}'
    return str(v)


def evaluate_targets(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    tiny = results['mode']['tiny']
    out = []
    for sec, var, key, op, thr, label in TARGETS:
        s = results['sections'].get(sec)
        if s is None:
            continue
        value = s.get('variants', {}).get(var, {}).get(key)
        met = None
        if value is not None and not tiny:
            met = value >= thr if op == '>=' else value <= thr
        out.append(dict(target=label, section=sec, variant=var, key=key,
                        value=value, op=op, threshold=thr, met=met,
                        note='tiny sizes: not comparable' if tiny else None))
    return out


def _met_word(m) -> str:
    return {True: 'PASS', False: 'FAIL', None: 'n/a'}[m]


def _rows_sections(results) -> List[List[str]]:
    rows = [['section', 'status', 'seconds', 'budget', 'reason']]
    for name, s in results['sections'].items():
        rows.append([name, s.get('status', '?'),
                     _fmt_val(s.get('elapsed_s')),
                     _fmt_val(s.get('budget_s')), s.get('reason') or ''])
    return rows


def _rows_variants(results) -> List[List[str]]:
    rows = [['section', 'variant', 'images/s', 'vs baseline', 'peak MB',
             'notes']]
    for name, s in results['sections'].items():
        for v, r in s.get('variants', {}).items():
            notes = []
            if r.get('status') != 'ok':
                notes.append(f"{r.get('status')}: {r.get('reason')}")
            if r.get('s_per_image') is not None:
                notes.append(f"{1000 * r['s_per_image']:.4g} ms/image")
            for k in ('argmax_agreement', 'max_abs_diff_vs_exact',
                      'pixel_agreement_vs_sparse_cpu', 'speedup_vs_exact'):
                if r.get(k) is not None:
                    notes.append(f'{k}={_fmt_val(r[k])}')
            for k, val in r.items():
                if k.startswith('first_step_loss_rel_diff'):
                    notes.append(f'{k}={_fmt_val(val)}')
            if r.get('truncated'):
                notes.append('stopped early (time budget)')
            base = s.get('baseline')
            sp = r.get('speedup_vs_baseline')
            rows.append([
                name, v, _fmt_val(r.get('images_per_s')),
                f'{sp:.2f}x vs {base}' if sp else '-',
                f"{r['peak_mb']:.0f}" if r.get('peak_mb') is not None
                else '-', '; '.join(notes)
            ])
        for k, r in s.get('runs', {}).items():
            rows.append([name, k, '-', '-', '-',
                         f"exit code {r.get('exit_code')}, "
                         f"{r.get('seconds')} s, backend {r.get('backend')}"])
    return rows


def _rows_checks(results) -> List[List[str]]:
    rows = [['section', 'check', 'value', 'needs', 'result']]
    for name, s in results['sections'].items():
        for c in s.get('checks', []):
            rows.append([name, c['name'], _fmt_val(c['value']),
                         f"{c['op']} {_fmt_val(c['threshold'])}",
                         _met_word(c['passed'])])
    return rows


def _rows_targets(results) -> List[List[str]]:
    rows = [['target', 'measured', 'needs', 'result']]
    for t in results['targets']:
        rows.append([t['target'], _fmt_val(t['value']),
                     f"{t['op']} {_fmt_val(t['threshold'])}",
                     _met_word(t['met']) + (' (tiny)' if t['note'] else '')])
    return rows


def _text_table(rows: List[List[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        lines.append('  '.join(str(c).ljust(w)
                               for c, w in zip(r, widths)).rstrip())
        if i == 0:
            lines.append('  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def _md_table(rows: List[List[str]]) -> str:
    def cell(c):
        return str(c).replace('|', '\\|').replace('\n', ' ')

    lines = ['| ' + ' | '.join(cell(c) for c in rows[0]) + ' |',
             '|' + '---|' * len(rows[0])]
    lines += ['| ' + ' | '.join(cell(c) for c in r) + ' |' for r in rows[1:]]
    return '\n'.join(lines)


def _env_line(results) -> str:
    env = results['sections'].get('env', {}).get('info', {})
    if not env:
        return 'environment: not recorded'
    gpu = env.get('gpu') or 'no GPU (CPU rehearsal)'
    mem = f" ({env['gpu_memory_gib']} GiB)" if env.get('gpu_memory_gib') \
        else ''
    return (f"{gpu}{mem}; torch {env.get('torch')}, CUDA "
            f"{env.get('torch_cuda_build')}, cuDNN {env.get('cudnn')}, NCCL "
            f"{env.get('nccl', '-')}; mmseg_sipe {env.get('mmseg_sipe')} "
            f"(stack {env.get('stack')}); mmengine {env.get('mmengine')}, "
            f"mmcv {env.get('mmcv')}, mmseg {env.get('mmseg')}")


def render_text(results) -> str:
    m = results['mode']
    parts = [
        f"gpu_check ({'tiny ' if m['tiny'] else ''}{m['device']}), "
        f"{results['duration_s']} s, exit code {results['exit_code']}",
        _env_line(results), '', _text_table(_rows_sections(results)), '',
        _text_table(_rows_variants(results)), '',
        _text_table(_rows_checks(results)), '',
        _text_table(_rows_targets(results))
    ]
    return '\n'.join(parts)


def render_markdown(results) -> str:
    m = results['mode']
    tiny = ', tiny sizes (rehearsal: the numbers mean nothing)' \
        if m['tiny'] else ''
    lines = [
        '# mmseg-sipe GPU check', '',
        f"* started {results['started']}, {results['duration_s']} s, exit "
        f"code {results['exit_code']}",
        f"* device `{m['device']}`{tiny}",
        f'* {_env_line(results)}',
        f"* command: `{results['command']}`", '', '## Sections', '',
        _md_table(_rows_sections(results)), '', '## Measurements', '',
        _md_table(_rows_variants(results)), '', '## Checks', '',
        _md_table(_rows_checks(results)), '', '## Targets', '',
        _md_table(_rows_targets(results)), ''
    ]
    return '\n'.join(lines)


def write_outputs(results, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    for fname, text in (
            ('gpu_check.json',
             json.dumps(results, indent=1, default=_json_default)),
            ('gpu_check.md', render_markdown(results))):
        path = osp.join(out_dir, fname)
        with open(path + '.tmp', 'w') as f:
            f.write(text)
        os.replace(path + '.tmp', path)


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='mmseg-sipe GPU readiness check (docs/benchmarks.md, '
        '"GPU check")')
    p.add_argument('--out-dir', required=True,
                   help='where gpu_check.json, gpu_check.md and the launcher '
                   'logs go')
    p.add_argument('--device', choices=['cuda', 'cpu'], default='cuda',
                   help="'cuda' (default: GPU 0) or 'cpu' (rehearsal; CUDA "
                   'is hidden from every process)')
    p.add_argument('--tiny', action='store_true',
                   help='toy sizes and 1 iteration: exercises every code '
                   'path in about two minutes on a small CPU')
    p.add_argument('--only', nargs='+', choices=SECTION_NAMES,
                   metavar='SECTION', help='run these sections only: '
                   + ', '.join(SECTION_NAMES))
    p.add_argument('--skip', nargs='+', choices=SECTION_NAMES, default=[],
                   metavar='SECTION', help='sections to leave out')
    p.add_argument('--iters', type=int, default=None,
                   help='timed train steps per variant (default 10; tiny 1)')
    p.add_argument('--warmup', type=int, default=None,
                   help='untimed train steps before timing, the first one '
                   'included (default 3; tiny 1)')
    p.add_argument('--stage1-batch', type=int, default=None,
                   help='stage-one batch (default 16; tiny 2)')
    p.add_argument('--irn-batch', type=int, default=None,
                   help='IRN batch (default 32; tiny 2)')
    p.add_argument('--stage2-batch', type=int, default=None,
                   help='stage-two batch (default 8; tiny 1)')
    p.add_argument('--iscam-images', type=int, default=None,
                   help='images per IS-CAM variant (default 24; tiny 2)')
    p.add_argument('--iscam-cpu-images', type=int, default=2,
                   help='images compared with the CPU (default 2)')
    p.add_argument('--iscam-naive-images', type=int, default=None,
                   help='images for the naive IS-CAM (default 4; tiny 1)')
    p.add_argument('--rw-images', type=int, default=None,
                   help='random-walk images per variant (default 2; tiny 1)')
    p.add_argument('--launch-batch', type=int, default=4,
                   help='total batch of the launched demo training')
    p.add_argument('--time-scale', type=float, default=1.0,
                   help='multiply every section budget (slower GPUs)')
    p.add_argument('--max-total', type=float, default=470.0,
                   help='seconds for the whole run; a section gets at most '
                   'what is left (default 470)')
    p.add_argument('--isolation', choices=['fork', 'spawn'], default='fork',
                   help='how each section gets its own process: fork (no '
                   're-import; default) or a fresh interpreter')
    p.add_argument('--strict-targets', action='store_true',
                   help='exit 1 also when a target is missed')
    p.add_argument('--_section', help=argparse.SUPPRESS)
    p.add_argument('--_result', help=argparse.SUPPRESS)
    p.add_argument('--_budget', type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    defaults = dict(iters=(1, 10), warmup=(1, 3), stage1_batch=(2, 16),
                    irn_batch=(2, 32), stage2_batch=(1, 8),
                    iscam_images=(2, 24), iscam_naive_images=(1, 4),
                    rw_images=(1, 2))
    for k, (tiny, full) in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, tiny if args.tiny else full)
    for k in ('iters', 'warmup', 'stage1_batch', 'irn_batch',
              'stage2_batch', 'iscam_images', 'rw_images', 'launch_batch'):
        if getattr(args, k) < 1:
            p.error(f'--{k.replace("_", "-")} must be at least 1')
    args.out_dir = osp.abspath(args.out_dir)
    return args


def _strip_private(argv: List[str]) -> List[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ('--_section', '--_result', '--_budget'):
            skip = True
            continue
        out.append(a)
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.device == 'cpu':
        # before torch is imported: the rehearsal (and its launchers) must
        # behave as on a machine without CUDA, even on a GPU host
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    # torch.cuda.is_available() through NVML: the parent never initialises
    # CUDA, so forked section processes can
    os.environ.setdefault('PYTORCH_NVML_BASED_CUDA_CHECK', '1')
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    import torch
    if args.device == 'cuda' and not torch.cuda.is_available():
        print(f'gpu_check: no CUDA device is available (torch '
              f'{torch.__version__}, CUDA build {torch.version.cuda}); run '
              'it on a GPU machine, or rehearse with --device cpu --tiny',
              file=sys.stderr)
        return 2
    if args._section:
        _child_main(args._section, args, args._budget, args._result)
        return 0

    t_start = time.time()
    names = [n for n in (args.only or SECTION_NAMES) if n not in args.skip]
    mode = args.isolation
    if mode == 'fork':
        # imported once here, inherited by every section process
        import warnings
        warnings.filterwarnings('ignore')
        import mmseg.models  # noqa: F401
        from mmengine.runner import Runner  # noqa: F401

        import benchmarks.cases  # noqa: F401
        import benchmarks.naive_sipe  # noqa: F401
        import mmseg_sipe  # noqa: F401
        import mmseg_sipe.cli.train  # noqa: F401
        if torch.cuda.is_initialized():
            mode = 'spawn'
    results: Dict[str, Any] = dict(
        schema=SCHEMA, started=_now(),
        command='python benchmarks/gpu_check.py ' + ' '.join(
            _strip_private(argv)),
        mode=dict(device=args.device, tiny=bool(args.tiny), isolation=mode,
                  iters=args.iters, warmup=args.warmup),
        sections={}, targets=[], duration_s=None, exit_code=None)
    print(f"[gpu_check] {len(names)} section(s) on {args.device}"
          f"{' (tiny)' if args.tiny else ''}, one process each ({mode}); "
          f'output in {args.out_dir}', flush=True)
    budgets = {n: b for n, _, b in SECTIONS}
    passthrough = _strip_private(argv)
    try:
        for name in names:
            left = args.max_total - (time.time() - t_start) - GRACE_S
            budget = min(budgets[name] * args.time_scale, left)
            if budget < 5:
                res = dict(status='FAIL', budget_s=round(max(budget, 0), 1),
                           elapsed_s=0.0,
                           reason=f'not started: the run has used its '
                           f'{args.max_total:.0f} s (--max-total)')
            else:
                print(f'[gpu_check] {name}: start (budget {budget:.0f} s)',
                      flush=True)
                res = run_section_isolated(name, args, budget, mode,
                                           passthrough)
                if name == 'env' and mode == 'fork' and \
                        res.get('status') == 'FAIL' and re.search(
                            r'initiali[sz]|fork', res.get('reason', ''),
                            re.I):
                    mode = results['mode']['isolation'] = 'spawn'
                    print('[gpu_check] env: retrying in a fresh interpreter '
                          '(spawn) after a CUDA initialisation error',
                          flush=True)
                    res = run_section_isolated(name, args, budget, mode,
                                               passthrough)
            results['sections'][name] = res
            print(f"[gpu_check] {name}: {res['status']} in "
                  f"{res.get('elapsed_s')} s"
                  + (f" -- {res['reason']}" if res.get('reason') else ''),
                  flush=True)
            results['duration_s'] = round(time.time() - t_start, 1)
            results['targets'] = evaluate_targets(results)
            write_outputs(results, args.out_dir)
    except KeyboardInterrupt:
        results['interrupted'] = True
    failed = [n for n, s in results['sections'].items()
              if s.get('status') != 'OK']
    missed = [t for t in results['targets'] if t['met'] is False]
    code = 1 if failed or results.get('interrupted') else 0
    if args.strict_targets and missed:
        code = 1
    results['duration_s'] = round(time.time() - t_start, 1)
    results['targets'] = evaluate_targets(results)
    results['exit_code'] = code
    results['failed_sections'] = failed
    write_outputs(results, args.out_dir)
    print()
    print(render_text(results))
    print(f"\nwrote {osp.join(args.out_dir, 'gpu_check.json')} and "
          'gpu_check.md')
    return code


if __name__ == '__main__':
    sys.exit(main())
