"""Inference sections of ``benchmarks/gpu_check.py``: IS-CAM generation
(what ``make_cam`` runs) and the random-walk pseudo labels, on the device
against the CPU and the naive transcription.

No torch import at module level (see ``gpu_common.py``).
"""
import copy
from typing import Any, Dict, List

from benchmarks.gpu_common import (CAM_ATOL, RW_MIN_AGREEMENT, Ctx,
                                   SkipVariant, add_speedups, check,
                                   one_line, section_result, set_precision,
                                   time_images)

_ISCAM_WHAT = dict(
    exact_cpu='multiscale_is_cam, fp32, folded BN, on the CPU',
    naive='naive_multiscale_is_cam (benchmarks/naive_sipe.py), fp32',
    exact='multiscale_is_cam, fp32 (TF32 off), folded BN (make_cam)',
    tf32='the same with allow_tf32=True',
    bf16="the same with amp='bf16'", fp16="the same with amp='fp16'")


def _iscam_models(base, images, dev):
    """``(models per variant, fitted CAM heads per device type)``."""
    import torch

    from benchmarks.common import fit_class_mean_head
    from mmseg_sipe.cam.inference import fold_batchnorm

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
    return models, heads


def _iscam_checks(variants: Dict[str, Any],
                  outputs: Dict[str, list]) -> List[Dict[str, Any]]:
    """Finite maps; device vs CPU and exact vs naive to CAM_ATOL; argmax
    agreement and speed of the other variants against ``exact``."""
    import numpy as np

    from benchmarks.common import argmax_agreement, max_abs_diff
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
    return checks


def sec_iscam(ctx: Ctx) -> Dict[str, Any]:
    import torch

    from benchmarks.common import (amp_supported, build_model, demo_image,
                                   load_config)
    from benchmarks.naive_sipe import naive_multiscale_is_cam
    from mmseg_sipe.cam.inference import DEFAULT_SCALES, multiscale_is_cam
    a = ctx.args
    # what make_cam runs: no cuDNN autotuning (every image size differs),
    # float32 without TF32 unless a variant says otherwise
    precision = set_precision(ctx, tf32=False, benchmark=False)
    cfg_path = ctx.pick('configs/sipe/demo_r18.py', 'configs/sipe/voc_r50.py')
    h, w = ctx.pick((48, 64), (375, 500))
    scales = tuple(DEFAULT_SCALES)
    n = a.iscam_images
    n_cpu, n_naive = min(a.iscam_cpu_images, n), min(a.iscam_naive_images, n)
    images = [demo_image(h, w, seed=200 + i) for i in range(n)]
    models, heads = _iscam_models(
        build_model(load_config(cfg_path)).eval(), images, ctx.device)

    def call(v, i):
        img, _, lab = images[i]
        if v == 'naive':
            return naive_multiscale_is_cam(models[v], img, lab, scales)
        kw = dict(allow_tf32=True) if v == 'tf32' else \
            dict(amp=v) if v in ('bf16', 'fp16') else {}
        return multiscale_is_cam(models[v], img, lab, scales, **kw)

    counts = dict(exact_cpu=n_cpu, naive=n_naive)
    outputs: Dict[str, list] = {}
    variants: Dict[str, Any] = {}
    order = ['exact_cpu', 'naive', 'exact', 'tf32', 'bf16', 'fp16']
    for k, v in enumerate(order):
        deadline = ctx.clock.share(len(order) - k)
        res: Dict[str, Any] = dict(what=_ISCAM_WHAT[v])
        variants[v] = res
        model = models[v]
        vdev = next(model.parameters()).device
        with ctx.variant(v, res):
            if v in ('bf16', 'fp16'):
                why = amp_supported(v, str(vdev))
                if why:
                    raise SkipVariant(one_line(why))
            ctx.need(5, f'variant {v}')
            ctx.start_peak(vdev)
            count = counts.get(v, n)
            vheads = heads[vdev.type]

            def run(i, v=v, model=model, vheads=vheads):
                with torch.no_grad():  # same device: no host sync
                    model.head.classifier.weight.copy_(vheads[i])
                return call(v, i)  # ends with the result's copy

            # warm-up (lazy initialisation, autocast caches), timed images
            outs, timing = time_images(run, count, deadline)
            outputs[v] = outs
            res.update(timing, truncated=len(outs) < count, status='ok')
            ctx.record_peak(res, vdev)
            ctx.log(f"{v}: {res['images_per_s']:.3g} images/s over "
                    f'{len(outs)} image(s)')
        ctx.free()

    checks = _iscam_checks(variants, outputs)
    add_speedups(variants, 'naive')
    return section_result(
        dict(config=cfg_path, image=f'{h}x{w} demo renders',
             scales=list(scales), flip=True, images=n, cpu_images=n_cpu,
             naive_images=n_naive,
             init='random backbone, class-mean CAM head fitted per image',
             **precision), variants, 'naive', checks)


def sec_random_walk(ctx: Ctx) -> Dict[str, Any]:
    import numpy as np

    from benchmarks.common import random_walk_inputs
    from mmseg_sipe.refine.random_walk import random_walk_labels
    precision = set_precision(ctx, tf32=False, benchmark=False)
    h, w = ctx.pick((48, 64), (375, 500))
    n = ctx.args.rw_images
    inputs = [random_walk_inputs(h, w, cam_seed=7 + i, edge_seed=8 + i)
              for i in range(n)]
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
        with ctx.variant(v, res):
            ctx.need(5, f'variant {v}')
            ctx.start_peak(vdev)

            def run(i, mode=mode, vdev=vdev):
                cam, edge = inputs[i]
                return random_walk_labels(cam, keys, edge, mode=mode,
                                          device=vdev)

            outs, timing = time_images(run, n, deadline)
            outputs[v] = outs
            res.update(timing, status='ok')
            ctx.record_peak(res, vdev)
            ctx.log(f"{v}: {1000 * res['s_per_image']:.1f} ms per image")
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
    add_speedups(variants, 'sparse_cpu')
    n_pix = (-(-h // 4)) * (-(-w // 4))
    return section_result(
        dict(image=f'{h}x{w}', channels=3, edge_stride=4, n_pixels=n_pix,
             radius=5, beta=10, steps=256, images=n,
             dense_matrix_mb=2 * n_pix**2 * 4 / 2**20, **precision),
        variants, 'sparse_cpu', checks)
