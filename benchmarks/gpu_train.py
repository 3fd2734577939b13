"""Training-step sections of ``benchmarks/gpu_check.py``: stage one
(``voc_r50``), IRN and the two stage-two models, each as variants (naive,
fp32, AMP modes, channels-last) of one random-init model.

No torch import at module level (see ``gpu_common.py``).
"""
import copy
import math
import time
from typing import Any, Callable, Dict, List, Optional

from benchmarks.gpu_common import (LOSS_RTOL, Ctx, SkipVariant,
                                   add_speedups, check, exc_line, rel,
                                   section_result, set_precision)

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

        from benchmarks.common import demo_image
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
    """Data for ``SIPEClassifier.train_step``, ``valid [N,1,H,W]`` and
    ``labels [N,K]`` for the naive baseline
    (:func:`benchmarks.common.stage1_batch`)."""
    from benchmarks.common import stage1_batch
    images = []
    for i in range(batch):
        bgr, _, lab = _render(crop, seed=i % 2)
        images.append((bgr, lab))
    return stage1_batch(images, crop, 'gpu_check')


def _seg_batch(crop: int, batch: int, label_stride: int = 1):
    """Data for a segmentor's ``train_step``: images and ``gt_sem_seg`` at
    ``crop / label_stride`` with a few uncertain (255) pixels."""
    import numpy as np
    from PIL import Image

    from benchmarks.common import seg_batch
    images = []
    for i in range(batch):
        bgr, label, _ = _render(crop, seed=i % 2)
        if label_stride > 1:
            s = crop // label_stride
            label = np.asarray(
                Image.fromarray(label).resize((s, s), Image.NEAREST))
        label = label.astype(np.int64)
        label[::7, ::5] = 255  # uncertain pixels (ignore_index)
        images.append((bgr, label))
    return seg_batch(images, crop, 'gpu_check')


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
            raise SkipVariant(exc_line(e))  # fp16 training on a CPU
    return mini.optim_wrapper


def _detached(log_vars) -> Dict[str, Any]:
    return {k: v.detach() if hasattr(v, 'detach') else v
            for k, v in log_vars.items()}


def _train_step(data) -> Callable:
    """``make_step`` of a variant that runs the model's own
    ``train_step`` on ``data``."""
    return lambda model, ow: lambda: _detached(model.train_step(data, ow))


def _time_steps(ctx: Ctx, step: Callable[[], Dict], items: int,
                deadline: float) -> Dict[str, Any]:
    """First step (kept for the loss checks), warm-up, timed steps (fewer
    when the variant's share of the budget, ``deadline``, runs out)."""
    import torch

    from benchmarks.common import log_floats
    a = ctx.args
    torch.manual_seed(0)
    first = log_floats(step())
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
    vals = [log_floats(o) for o in outs]
    finite = all(math.isfinite(x) for d in [first] + vals for x in d.values())
    return dict(
        images_per_s=len(outs) * items / dt, s_per_step=dt / len(outs),
        iters=len(outs), warmup=a.warmup, batch=items, first_losses=first,
        last_losses=vals[-1], losses_finite=finite,
        truncated=len(outs) < a.iters)


def _run_train_variants(ctx: Ctx, cfg, items: int,
                        variants: List[Dict[str, Any]],
                        baseline: str) -> Dict[str, Any]:
    """Each variant: a fresh copy of one random-init model on the device,
    its optimiser wrapper, timed steps, peak memory."""
    import torch
    from mmengine.optim import build_optim_wrapper

    from benchmarks.common import build_model
    from benchmarks.memory import measure_peak
    base = build_model(cfg)  # on the CPU; copied per variant
    out: Dict[str, Any] = {}
    for k, spec in enumerate(variants):
        v = spec['name']
        deadline = ctx.clock.share(len(variants) - k)
        res: Dict[str, Any] = dict(what=spec['what'])
        out[v] = res
        model = ow = step = None
        try:
            with ctx.variant(v, res):
                ctx.need(8, f'variant {v}')
                ctx.start_peak(ctx.device)
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
                    ctx.record_peak(res, ctx.device)
                else:
                    _, info = measure_peak(step, 'cpu')
                    res['peak_mb'] = info['peak_mb']
                    res['memory_method'] = info['method'] + \
                        ' (one extra step)'
                res['status'] = 'ok'
                ctx.log(f"{v}: {res['images_per_s']:.3g} images/s, peak "
                        f"{res['peak_mb']:.0f} MB, first-step losses "
                        f"{_fmt_losses(res['first_losses'])}")
        finally:
            del model, ow, step  # the step closure holds the model too
            ctx.free()
    add_speedups(out, baseline)
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
            worst = max(worst, rel(a, b))
        ran[v]['first_step_loss_rel_diff_vs_' + ref] = worst
        checks.append(check(f'{v} first-step losses vs {ref} (relative)',
                            worst, '<=', LOSS_RTOL))
    return checks


# ---------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------
def sec_stage1(ctx: Ctx) -> Dict[str, Any]:
    from benchmarks.common import load_config, naive_stage1_step
    a = ctx.args
    precision = set_precision(ctx, tf32=True, benchmark=True)
    cfg_path = ctx.pick('configs/sipe/demo_r18.py', 'configs/sipe/voc_r50.py')
    cfg = load_config(cfg_path)
    crop = ctx.pick(64, 512)
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor['size'] = (crop, crop)
    data, valid, labels = _stage1_batch(crop, a.stage1_batch)
    valid, labels = valid.to(ctx.device), labels.to(ctx.device)
    plain = _train_step(data)

    def naive(model, ow):

        def step():
            loss, losses = naive_stage1_step(model, ow, data, valid, labels)
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
    res = _run_train_variants(ctx, cfg, a.stage1_batch, variants, 'naive')
    checks = _loss_checks(res, 'fp32', ['naive', 'fp16', 'bf16'],
                          per_component=True)
    return section_result(
        dict(config=cfg_path, crop=crop, batch=a.stage1_batch,
             init='random (backbone init_cfg=None)',
             input='demo renders, images 1.. padded (valid_mask)',
             **precision), res, 'naive', checks)


_AMP_AUTO = dict(amp='auto',
                 what='--amp (fp16 + loss scaling on CUDA, bf16 on CPU)')


def sec_irn(ctx: Ctx) -> Dict[str, Any]:
    from benchmarks.common import load_config
    a = ctx.args
    precision = set_precision(ctx, tf32=True, benchmark=True)
    cfg_path = ctx.pick('configs/sipe/irn_demo.py',
                        'configs/sipe/irn_voc_r50.py')
    cfg = load_config(cfg_path)
    # radius-10 pairs need a stride-4 map wider than 18: irn_demo's crop
    crop = ctx.pick(128, 512)
    plain = _train_step(_seg_batch(crop, a.irn_batch, label_stride=4))
    variants = [
        dict(name='fp32', make_step=plain, what='IRNet.train_step, fp32'),
        dict(name='amp', make_step=plain, **_AMP_AUTO),
    ]
    res = _run_train_variants(ctx, cfg, a.irn_batch, variants, 'fp32')
    checks = _loss_checks(res, 'fp32', ['amp'], per_component=False)
    return section_result(
        dict(config=cfg_path, crop=crop, batch=a.irn_batch,
             labels='demo label at stride 4 with 255 pixels',
             init=ctx.pick('random, backbone trains (the demo IRN)',
                           'random, frozen backbone'),
             **precision), res, 'fp32',
        checks)


def _stage2(ctx: Ctx, cfg_path: str, tiny_path: str) -> Dict[str, Any]:
    from benchmarks.common import load_config
    a = ctx.args
    precision = set_precision(ctx, tf32=True, benchmark=True)
    path = ctx.pick(tiny_path, cfg_path)
    cfg = load_config(path)
    crop = ctx.pick(64, 512)
    cfg.model.data_preprocessor['size'] = (crop, crop)
    plain = _train_step(_seg_batch(crop, a.stage2_batch))
    variants = [
        dict(name='fp32', make_step=plain,
             what='the configured model (NCHW), fp32'),
        dict(name='amp', make_step=plain, **_AMP_AUTO),
        dict(name='amp_cl', make_step=plain, amp='auto', channels_last=True,
             what='--amp with channels-last weights (channels_last=True)'),
    ]
    res = _run_train_variants(ctx, cfg, a.stage2_batch, variants, 'fp32')
    checks = _loss_checks(res, 'fp32', ['amp', 'amp_cl'],
                          per_component=False)
    return section_result(
        dict(config=path, crop=crop, batch=a.stage2_batch,
             init='random (pretrained=None)', norm='SyncBN -> BN',
             **precision), res, 'fp32', checks)


def sec_stage2_deeplabv2(ctx: Ctx) -> Dict[str, Any]:
    return _stage2(
        ctx,
        'configs/sipe/deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py',
        'configs/sipe/deeplabv2_r18-d8_1xb8-800i_demo-pseudo-128x128.py')


def sec_stage2_segformer(ctx: Ctx) -> Dict[str, Any]:
    return _stage2(
        ctx,
        'configs/sipe/segformer_mit-b2_4xb4-20k_voc12aug-pseudo-512x512.py',
        'configs/sipe/segformer_mit-b0_1xb8-300i_demo-pseudo-160x160.py')
