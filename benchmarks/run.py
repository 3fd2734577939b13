#!/usr/bin/env python
"""mmseg-sipe performance suite: one entry point.

    python benchmarks/run.py [--quick] [--only NAME ...] [--json OUT]
                             [--device cpu|cuda] [--rounds N]

Prints a table (per image: median of the timed rounds after warm-up, with
min-max; the speed-up over the case's naive baseline; peak memory where the
case measures it) and writes everything to JSON (``--json``, default
``benchmarks/results/latest.json``).

How it measures (see docs/benchmarks.md):

* **Time.** Each case runs in a fresh worker process.  All variants of a
  case are built there, warmed up, then timed in interleaved rounds
  (``naive, exact, bf16, naive, exact, ...``) so that load changes on a
  shared machine affect every variant alike; speed-ups are ratios of
  medians from that one process.
* **Memory.** One more fresh process per (case, variant), started with a
  fixed glibc mmap threshold; after one warm-up call the high-water mark of
  the resident set is reset and the next call's peak above the resident
  baseline is reported (``benchmarks/memory.py``).  On CUDA the allocator's
  peak is used instead.
* ``--quick`` shrinks every case to toy sizes and runs all of them in a
  single worker (memory measured in that worker too): a smoke test of the
  harness for CI, whose numbers mean nothing.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Dict, List

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.host import (cpu_name, load_average,  # noqa: E402
                             utc_now, with_root_on_path)
from benchmarks.report import (run_extras_text,  # noqa: E402
                               run_targets_text, run_text)

SCHEMA = 1


# ---------------------------------------------------------------------------
# worker side
# ---------------------------------------------------------------------------
def _sync(device: str) -> None:
    if device.startswith('cuda'):
        import torch
        torch.cuda.synchronize()


def _summary(times: List[float], items: int) -> Dict[str, Any]:
    per = [t / items for t in times]
    return dict(
        median_s=statistics.median(per),
        min_s=min(per),
        max_s=max(per),
        runs_s=[round(t, 4) for t in per],
        items_per_call=items)


def _run_timed_case(case, spec: Dict[str, Any]) -> Dict[str, Any]:
    import torch

    from benchmarks.cases import Unsupported
    from benchmarks.memory import measure_peak
    device = spec.get('device', 'cpu')
    quick = spec['quick']
    only_variant = spec.get('variant')
    variants = [only_variant] if only_variant else list(case.variants)
    variants = [v for v in variants if v in case.variants]
    res: Dict[str, Any] = dict(variants={}, skipped={})
    t0 = time.time()
    try:
        case.setup(variants)
    except Unsupported as e:
        res['skipped']['*'] = str(e)
        return res
    fns = {}
    for v in variants:
        try:
            fns[v] = case.make(v)
        except Unsupported as e:
            res['skipped'][v] = str(e)
    res['setup_s'] = round(time.time() - t0, 2)
    res['params'] = case.params
    if spec['mode'] == 'mem':
        for v, fn in fns.items():
            fn()  # warm-up: lazy initialisation is not the per-image cost
            _sync(device)
            _, info = measure_peak(fn, device)
            res['variants'][v] = dict(memory=info)
        return res
    warmup = min(1, case.warmup) if quick else case.warmup
    rounds = spec.get('rounds') or (2 if quick else case.rounds)
    outputs = {}
    for v, fn in fns.items():
        for i in range(warmup):
            if i == 0:  # same dropout masks etc. for every variant's check
                torch.manual_seed(0)
            out = fn()
            if i == 0:
                outputs[v] = out
        _sync(device)
        if spec.get('inline_mem') and case.memory:
            _, info = measure_peak(fn, device)
            res['variants'].setdefault(v, {})['memory'] = info
    if warmup:
        res['checks'] = case.checks(outputs)
    outputs = {}
    times = {v: [] for v in fns}
    for r in range(rounds):
        for v, fn in fns.items():
            _sync(device)
            t = time.perf_counter()
            out = fn()
            _sync(device)
            times[v].append(time.perf_counter() - t)
            if r == 0 and warmup == 0:  # no warm-up: check round 1
                outputs[v] = out
            out = None
        if r == 0 and warmup == 0:
            res['checks'] = case.checks(outputs)
            outputs = {}
    for v in fns:
        res['variants'].setdefault(v, {}).update(
            _summary(times[v], case.items_per_call))
    res['derived'] = case.derived(
        {v: d for v, d in res['variants'].items()})
    return res


def worker(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Run the cases of ``spec`` in this process; return their results."""
    import torch

    from benchmarks.cases import CASE_BY_NAME
    if spec.get('threads'):
        torch.set_num_threads(int(spec['threads']))
    out = {}
    for name in spec['cases']:
        cls = CASE_BY_NAME[name]
        t0 = time.time()
        load0 = load_average()
        try:
            if getattr(cls, 'timed', True):
                case = cls(spec['quick'], spec.get('device', 'cpu'))
                try:
                    r = _run_timed_case(case, spec)
                finally:
                    case.teardown()
            else:
                case = cls(spec['quick'], spec.get('demo_checkpoint'),
                           spec.get('device', 'cpu'))
                r = dict(results=case.run())
                r['checks'] = getattr(case, 'check_values', {})
        except Exception as e:  # noqa: BLE001  (reported, run goes on)
            r = dict(error=f'{type(e).__name__}: {e}',
                     traceback=traceback.format_exc()[-4000:])
        r['elapsed_s'] = round(time.time() - t0, 2)
        r['load_before'] = load0
        r['load_after'] = load_average()
        out[name] = r
    return out


# ---------------------------------------------------------------------------
# orchestrator
# ---------------------------------------------------------------------------
def _spawn(spec: Dict[str, Any], mem: bool, timeout: int) -> Dict[str, Any]:
    """Run ``worker(spec)`` in a fresh interpreter."""
    from benchmarks.memory import mmap_env
    env = with_root_on_path(mmap_env() if mem else dict(os.environ))
    env.setdefault('PYTHONWARNINGS', 'ignore')
    with tempfile.TemporaryDirectory(prefix='bench_') as d:
        spec_f, out_f = osp.join(d, 'spec.json'), osp.join(d, 'out.json')
        with open(spec_f, 'w') as f:
            json.dump(spec, f)
        try:
            proc = subprocess.run(
                [sys.executable, osp.abspath(__file__), '--_worker', spec_f,
                 '--_out', out_f],
                cwd=ROOT, env=env, capture_output=True, text=True,
                timeout=timeout)
        except subprocess.TimeoutExpired:
            return {n: dict(error=f'worker timed out after {timeout} s')
                    for n in spec['cases']}
        if proc.returncode != 0 or not osp.isfile(out_f):
            err = f'worker exited {proc.returncode}: {proc.stderr[-3000:]}'
            return {n: dict(error=err) for n in spec['cases']}
        with open(out_f) as f:
            return json.load(f)


def _evaluate_targets(case_cls, res: Dict[str, Any]) -> List[Dict]:
    out = []
    vs = res.get('variants', {})
    for label, v, kind, thr in getattr(case_cls, 'targets', []):
        value, met = None, None
        if kind == 'speedup':
            value = vs.get(v, {}).get('speedup')
            met = None if value is None else value >= thr
            t = dict(op='>=', threshold=thr)
        elif kind.startswith('speedup_vs:'):
            ref = vs.get(kind.split(':', 1)[1], {}).get('median_s')
            mine = vs.get(v, {}).get('median_s')
            value = ref / mine if ref and mine else None
            met = None if value is None else value >= thr
            t = dict(op='>=', threshold=thr)
        elif kind == 'mem_ratio':
            value = vs.get(v, {}).get('mem_ratio')
            met = None if value is None else value <= thr
            t = dict(op='<=', threshold=thr)
        else:  # check:KEY
            key = kind.split(':', 1)[1]
            op, th = thr
            value = res.get('checks', {}).get(v, {}).get(key)
            if value is not None:
                met = value >= th if op == '>=' else value <= th
            t = dict(op=op, threshold=th)
        out.append(dict(target=label, variant=v, value=value, met=met, **t))
    return out


def _finish_case(case_cls, res: Dict[str, Any]) -> Dict[str, Any]:
    vs = res.setdefault('variants', {})
    base = case_cls.variants[0] if case_cls.variants else None
    b = vs.get(base, {})
    for v, d in vs.items():
        if 'median_s' in d:
            d['images_per_s'] = 1.0 / d['median_s'] if d['median_s'] else None
            if b.get('median_s'):
                d['speedup'] = b['median_s'] / d['median_s']
        mem = d.get('memory', {})
        bmem = b.get('memory', {})
        if mem.get('peak_mb') is not None and bmem.get('peak_mb'):
            d['mem_ratio'] = mem['peak_mb'] / bmem['peak_mb']
    res['baseline'] = base
    res['title'] = case_cls.title
    res['targets'] = _evaluate_targets(case_cls, res)
    return res


def _meta(args) -> Dict[str, Any]:
    import torch
    meta = dict(
        schema=SCHEMA,
        started=utc_now(),
        quick=bool(args.quick),
        device=args.device,
        python=platform.python_version(),
        torch=torch.__version__,
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        platform=platform.platform(),
        processor=cpu_name(),
        cuda=torch.cuda.get_device_name(0)
        if torch.cuda.is_available() else None,
        load_at_start=load_average())
    return meta


def parse_args(argv=None):
    from benchmarks.cases import CASES
    names = [c.name for c in CASES]
    p = argparse.ArgumentParser(
        description='mmseg-sipe benchmark suite (see docs/benchmarks.md)')
    p.add_argument('--quick', action='store_true',
                   help='toy sizes, one worker: a smoke test of the harness')
    p.add_argument('--only', nargs='+', choices=names, metavar='NAME',
                   help=f'cases to run (default all): {", ".join(names)}')
    p.add_argument('--json', default=osp.join(ROOT, 'benchmarks', 'results',
                                              'latest.json'),
                   help='where to write the results')
    p.add_argument('--device', default='cpu',
                   help="'cpu' (default) or 'cuda' (the CRF stays on CPU)")
    p.add_argument('--rounds', type=int, default=None,
                   help='timed rounds per case (default: per case)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch intra-op threads in the workers')
    p.add_argument('--no-memory', action='store_true',
                   help='skip the memory workers')
    p.add_argument('--demo-checkpoint', default=None,
                   help='trained demo_r18 checkpoint for amp_agreement '
                   '(default: newest under work_dirs/demo/stage1 or '
                   'work_dirs/demo_s1)')
    p.add_argument('--timeout', type=int, default=1800,
                   help='seconds per worker process')
    p.add_argument('--_worker', help=argparse.SUPPRESS)
    p.add_argument('--_out', help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args._worker:
        with open(args._worker) as f:
            spec = json.load(f)
        out = worker(spec)
        tmp = args._out + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(out, f, default=float)
        os.replace(tmp, args._out)
        return 0

    from benchmarks.cases import CASE_BY_NAME, CASES
    if args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            print('--device cuda: no CUDA device here', file=sys.stderr)
            return 2
    names = args.only or [c.name for c in CASES]
    t_start = time.time()
    results: Dict[str, Any] = dict(meta=_meta(args), cases={})
    threads = args.threads
    if args.quick and threads is None:
        # toy sizes: one thread avoids OpenMP oversubscription stalls on a
        # shared machine (they can make tiny ops 40x slower)
        threads = 1
    results['meta']['worker_threads'] = threads or results['meta'][
        'torch_threads']
    base_spec = dict(quick=args.quick, device=args.device,
                     rounds=args.rounds, threads=threads,
                     demo_checkpoint=args.demo_checkpoint)
    if args.quick:
        spec = dict(base_spec, cases=names, mode='time',
                    inline_mem=not args.no_memory)
        print(f'[bench] quick run of {", ".join(names)} in one worker',
              flush=True)
        raw = _spawn(spec, mem=False, timeout=args.timeout)
    else:
        raw = {}
        for name in names:
            cls = CASE_BY_NAME[name]
            mem = {}
            if cls.memory and not args.no_memory:
                for v in cls.runnable_variants(args.device):
                    print(f'[bench] {name}/{v}: memory', flush=True)
                    r = _spawn(dict(base_spec, cases=[name], mode='mem',
                                    variant=v), mem=True,
                               timeout=args.timeout)[name]
                    mem[v] = r
            print(f'[bench] {name}: timing', flush=True)
            r = _spawn(dict(base_spec, cases=[name], mode='time'),
                       mem=False, timeout=args.timeout)[name]
            for v, m in mem.items():
                info = m.get('variants', {}).get(v, {}).get('memory')
                if info:
                    r.setdefault('variants', {}).setdefault(
                        v, {})['memory'] = info
                elif m.get('error'):
                    r.setdefault('memory_errors', {})[v] = m['error']
            raw[name] = r
    failed = False
    for name in names:
        res = raw.get(name, dict(error='no result'))
        if res.get('error'):
            failed = True
        results['cases'][name] = _finish_case(CASE_BY_NAME[name], res)
    results['meta']['load_at_end'] = load_average()
    results['meta']['duration_s'] = round(time.time() - t_start, 1)

    print()
    print(run_text(results))
    print('(per image; speed-up = baseline median / variant median from the '
          'same worker; peak MB = extra resident memory at the call\'s peak;'
          ' load = 1-min load average before/after the timing worker)')
    print()
    print(run_targets_text(results))
    extras = run_extras_text(results)
    if extras:
        print()
        print(extras)
    m = results['meta']
    print(f"\nload average at start {m['load_at_start']}, at end "
          f"{m['load_at_end']}; {m['cpu_count']} CPUs, worker threads "
          f"{m['worker_threads']}; total {m['duration_s']} s")
    os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
    tmp = args.json + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(results, f, indent=1, default=float)
    os.replace(tmp, args.json)
    print(f'wrote {args.json}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
