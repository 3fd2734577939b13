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

This file runs the sections, each in its own process; they live in
``gpu_system.py`` (env, launch), ``gpu_train.py`` (stage1, irn, stage2_*)
and ``gpu_infer.py`` (iscam, random_walk); the tables in ``report.py``.
"""
import argparse
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Dict, List

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# the sections: no torch import at module level (see gpu_common.py)
from benchmarks.gpu_common import (Ctx, exc_line, json_default,  # noqa: E402
                                   one_line, passes)
from benchmarks.gpu_infer import sec_iscam, sec_random_walk  # noqa: E402
from benchmarks.gpu_system import sec_env, sec_launch  # noqa: E402
from benchmarks.gpu_train import (sec_irn, sec_stage1,  # noqa: E402
                                  sec_stage2_deeplabv2, sec_stage2_segformer)
from benchmarks.host import utc_now  # noqa: E402
from benchmarks.report import (fmt_val, gpu_check_markdown,  # noqa: E402
                               gpu_check_text)

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


def _targets(table: str) -> List[tuple]:
    """``(section, variant, key, op, threshold, label)`` per two lines of
    ``table``: ``section variant key op threshold``, then the label."""
    lines = [s.strip() for s in table.strip().splitlines()]
    out = []
    for spec, label in zip(lines[::2], lines[1::2]):
        sec, var, key, op, thr = spec.split()
        out.append((sec, var, key, op, float(thr), label))
    return out


# judged on full runs only (a --tiny rehearsal lists them as n/a)
TARGETS = _targets('''
stage1 fp32 images_per_s >= 150
    stage one fp32 >= 150 images/s
stage1 fp16 images_per_s >= 400
    stage one AMP (fp16, loss scaling) >= 400 images/s
iscam exact images_per_s >= 35
    IS-CAM exact (4 scales + flip, 375x500) >= 35 images/s
iscam bf16 speedup_vs_exact >= 2
    IS-CAM bf16 >= 2x exact
iscam bf16 argmax_agreement >= 0.995
    IS-CAM bf16 argmax agreement with fp32 >= 99.5%
iscam fp16 speedup_vs_exact >= 2
    IS-CAM fp16 >= 2x exact
iscam fp16 argmax_agreement >= 0.995
    IS-CAM fp16 argmax agreement with fp32 >= 99.5%
stage2_deeplabv2 amp images_per_s >= 100
    stage two DeepLabV2-R101 at 512 with AMP >= 100 images/s
''')

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

        from benchmarks.common import quiet_mmengine
        quiet_mmengine()
        logging.getLogger('mmengine').setLevel(logging.ERROR)
        if args.tiny:
            import torch
            torch.set_num_threads(1)
        ctx = Ctx(name, args, budget)
        res = SECTION_FUNCS[name](ctx)
        out.update(res)
        failed = [c for c in res.get('checks', []) if c['passed'] is False]
        if res.get('errors'):
            out['reason'] = one_line(res['errors'][0])
        elif failed:
            c = failed[0]
            out['reason'] = one_line(
                f"check failed: {c['name']} (got {fmt_val(c['value'])}, "
                f"needs {c['op']} {fmt_val(c['threshold'])})")
        else:
            out['status'] = 'OK'
    except Exception as e:  # noqa: BLE001  (recorded; other sections run)
        out['reason'] = exc_line(e)
        out['traceback'] = traceback.format_exc()[-4000:]
    out['elapsed_s'] = round(time.time() - t0, 1)
    return out


def _child_main(name: str, args, budget: float, result_file: str) -> None:
    res = run_section_here(name, args, budget)
    tmp = result_file + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(res, f, default=json_default)
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
# results
# ---------------------------------------------------------------------------
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
            met = passes(value, op, thr)
        out.append(dict(target=label, section=sec, variant=var, key=key,
                        value=value, op=op, threshold=thr, met=met,
                        note='tiny sizes: not comparable' if tiny else None))
    return out


def write_outputs(results, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    for fname, text in (
            ('gpu_check.json',
             json.dumps(results, indent=1, default=json_default)),
            ('gpu_check.md', gpu_check_markdown(results))):
        path = osp.join(out_dir, fname)
        with open(path + '.tmp', 'w') as f:
            f.write(text)
        os.replace(path + '.tmp', path)


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------
# sizes: (value in a --tiny rehearsal, full value, what it is)
SIZES = dict(
    iters=(1, 10, 'timed train steps per variant'),
    warmup=(1, 3, 'untimed train steps before timing, the first one '
            'included'),
    stage1_batch=(2, 16, 'stage-one batch'),
    irn_batch=(2, 32, 'IRN batch'),
    stage2_batch=(1, 8, 'stage-two batch'),
    iscam_images=(2, 24, 'images per IS-CAM variant'),
    iscam_naive_images=(1, 4, 'images for the naive IS-CAM'),
    rw_images=(1, 2, 'random-walk images per variant'),
)


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
    p.add_argument('--time-scale', type=float, default=1.0,
                   help='multiply every section budget (slower GPUs)')
    p.add_argument('--max-total', type=float, default=470.0,
                   help='seconds for the whole run; a section gets at most '
                   'what is left (default 470)')
    for k, (tiny, full, what) in SIZES.items():
        p.add_argument('--' + k.replace('_', '-'), type=int, default=None,
                       help=f'{what} (default {full}; tiny {tiny})')
    p.add_argument('--iscam-cpu-images', type=int, default=2,
                   help='images compared with the CPU (default 2)')
    p.add_argument('--launch-batch', type=int, default=4,
                   help='total batch of the launched demo training')
    p.add_argument('--isolation', choices=['fork', 'spawn'], default='fork',
                   help='how each section gets its own process: fork (no '
                   're-import; default) or a fresh interpreter')
    p.add_argument('--strict-targets', action='store_true',
                   help='exit 1 also when a target is missed')
    p.add_argument('--_section', help=argparse.SUPPRESS)
    p.add_argument('--_result', help=argparse.SUPPRESS)
    p.add_argument('--_budget', type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for k, (tiny, full, _) in SIZES.items():
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

        import benchmarks.common  # noqa: F401
        import benchmarks.naive_sipe  # noqa: F401
        import mmseg_sipe  # noqa: F401
        import mmseg_sipe.cli.train  # noqa: F401
        if torch.cuda.is_initialized():
            mode = 'spawn'
    results: Dict[str, Any] = dict(
        schema=SCHEMA, started=utc_now(),
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
    print(gpu_check_text(results))
    print(f"\nwrote {osp.join(args.out_dir, 'gpu_check.json')} and "
          'gpu_check.md')
    return code


if __name__ == '__main__':
    sys.exit(main())
