#!/usr/bin/env python
"""The tables of the benchmark reports.

* ``benchmarks/run.py`` prints :func:`run_text` and, from its JSON file,
  this script prints the Markdown tables for the docs::

      python benchmarks/report.py benchmarks/results/latest.json

* ``benchmarks/gpu_check.py`` prints :func:`gpu_check_text` and writes
  :func:`gpu_check_markdown` to ``OUT_DIR/gpu_check.md``.

No torch import (``gpu_check.py`` imports this before it may load torch).
"""
import argparse
import json
from typing import Any, Dict, List, Optional, Sequence


# ---------------------------------------------------------------------------
# cells and tables
# ---------------------------------------------------------------------------
def fmt_time(s: Optional[float], ms_digits: int = 1) -> str:
    """Seconds as ``12.3 ms`` below one second, else ``1.23 s``."""
    if s is None:
        return '-'
    return f'{s * 1000:.{ms_digits}f} ms' if s < 1 else f'{s:.2f} s'


def fmt_val(v) -> str:
    if v is None:
        return '-'
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f'{v:.4g}'
    return str(v)


def text_table(rows: Sequence[Sequence[Any]], strip: bool = True) -> str:
    """Aligned columns, the first row a heading underlined with dashes;
    ``strip`` drops the trailing blanks of each line."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        line = '  '.join(str(c).ljust(w) for c, w in zip(r, widths))
        lines.append(line.rstrip() if strip else line)
        if i == 0:
            lines.append('  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def md_table(rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, the first row its heading (``|`` escaped)."""
    def cell(c):
        return str(c).replace('|', '\\|').replace('\n', ' ')

    lines = ['| ' + ' | '.join(cell(c) for c in rows[0]) + ' |',
             '|' + '---|' * len(rows[0])]
    lines += ['| ' + ' | '.join(cell(c) for c in r) + ' |' for r in rows[1:]]
    return '\n'.join(lines)


# ---------------------------------------------------------------------------
# benchmarks/run.py: printed at the end of a run
# ---------------------------------------------------------------------------
def _run_rows(results: Dict[str, Any]) -> List[tuple]:
    rows = [('case', 'variant', 'median/img', 'min-max', 'img/s',
             'speed-up', 'peak MB', 'mem ratio', 'load')]
    for name, res in results['cases'].items():
        load = '-'
        if res.get('load_before') and res.get('load_after'):
            load = f"{res['load_before'][0]:.1f}/{res['load_after'][0]:.1f}"
        if res.get('error'):
            rows.append((name, 'ERROR', res['error'][:40], '', '', '', '', '',
                         load))
            continue
        if 'results' in res:  # not timed
            continue
        for v, d in res.get('variants', {}).items():
            mem = d.get('memory', {}).get('peak_mb')
            rows.append((
                name, v, fmt_time(d.get('median_s')),
                f"{fmt_time(d.get('min_s'))}-{fmt_time(d.get('max_s'))}"
                if 'min_s' in d else '-',
                f"{d['images_per_s']:.3g}" if d.get('images_per_s') else '-',
                f"{d['speedup']:.2f}x" if d.get('speedup') else '-',
                f'{mem:.0f}' if mem is not None else '-',
                f"{d['mem_ratio']:.2f}" if d.get('mem_ratio') else '-', load))
            load = ''
        for v, why in res.get('skipped', {}).items():
            rows.append((name, v, 'skipped', why[:30] + '...', '', '', '',
                         '', ''))
    return rows


def run_targets_text(results: Dict[str, Any]) -> str:
    lines = []
    for name, res in results['cases'].items():
        for t in res.get('targets', []):
            v = t['value']
            val = '-' if v is None else (f'{v:.4g}')
            met = {True: 'MET', False: 'NOT MET', None: 'n/a'}[t['met']]
            lines.append(f"[{met:7s}] {name}: {t['target']} (value {val})")
    return '\n'.join(lines)


def run_extras_text(results: Dict[str, Any]) -> str:
    lines = []
    for name, res in results['cases'].items():
        for key in ('checks', 'derived', 'results'):
            if res.get(key):
                lines.append(f'{name} {key}: '
                             f'{json.dumps(res[key], default=str)}')
    return '\n'.join(lines)


def run_text(results: Dict[str, Any]) -> str:
    """The timing table of a ``run.py`` result (trailing blanks kept)."""
    return text_table(_run_rows(results), strip=False)


# ---------------------------------------------------------------------------
# benchmarks/run.py JSON -> Markdown for the docs
# ---------------------------------------------------------------------------
def results_table(res: Dict[str, Any]) -> str:
    lines = [
        '| case | variant | median / image | min-max | images/s | speed-up '
        '| peak MB | peak vs naive | load before/after |',
        '|---|---|---|---|---|---|---|---|---|'
    ]
    for name, c in res['cases'].items():
        if 'results' in c:
            continue
        load = '-'
        if c.get('load_before') and c.get('load_after'):
            load = f"{c['load_before'][0]:.2f} / {c['load_after'][0]:.2f}"
        if c.get('error'):
            lines.append(f'| {name} | error | {c["error"][:60]} | | | | | | '
                         f'{load} |')
            continue
        for v, d in c.get('variants', {}).items():
            mem = d.get('memory', {}).get('peak_mb')
            ratio = d.get('mem_ratio')
            cells = [
                name, v,
                fmt_time(d.get('median_s'), 0),
                f"{fmt_time(d.get('min_s'), 0)}-"
                f"{fmt_time(d.get('max_s'), 0)}",
                f"{d.get('images_per_s', 0):.3g}",
                f"{d.get('speedup', 0):.2f}x",
                '-' if mem is None else f'{mem:.0f}',
                '-' if ratio is None else f'{ratio:.2f}', load
            ]
            lines.append('| ' + ' | '.join(cells) + ' |')
            load = ''
        for v, why in c.get('skipped', {}).items():
            lines.append(f'| {name} | {v} | skipped: {why} | | | | | | |')
    return '\n'.join(lines)


def targets_table(res: Dict[str, Any]) -> str:
    lines = ['| case | target | measured | met? |', '|---|---|---|---|']
    for name, c in res['cases'].items():
        for t in c.get('targets', []):
            v = t['value']
            val = '-' if v is None else f'{v:.4g}'
            met = {True: 'yes', False: '**no**', None: 'n/a'}[t['met']]
            target = t['target'].replace('|', '\\|')
            lines.append(f'| {name} | {target} | {val} | {met} |')
    return '\n'.join(lines)


def agreement_table(res: Dict[str, Any]) -> str:
    c = res['cases'].get('amp_agreement', {})
    r = c.get('results', {})
    lines = [
        '| setting | images | image | bf16 mean | bf16 min | per image |',
        '|---|---|---|---|---|---|'
    ]
    for tag, d in r.items():
        if not isinstance(d, dict) or 'images' not in d:
            continue
        b = d.get('bf16', {})
        lines.append(
            f"| {tag} | {d['images']} | {d['image']} | "
            f"{100 * b.get('mean', float('nan')):.3f}% | "
            f"{100 * b.get('min', float('nan')):.3f}% | "
            f"{', '.join(f'{100 * x:.2f}' for x in b.get('per_image', []))}"
            ' |')
    extra: List[str] = []
    for tag, d in r.items():
        if isinstance(d, str):
            extra.append(f'* {tag}: {d}')
    for amp, why in r.get('rejected', {}).items():
        extra.append(f'* {amp}: rejected -- {why}')
    return '\n'.join(lines + [''] + extra)


# ---------------------------------------------------------------------------
# benchmarks/gpu_check.py
# ---------------------------------------------------------------------------
def met_word(m) -> str:
    return {True: 'PASS', False: 'FAIL', None: 'n/a'}[m]


def _gpu_sections(results) -> List[List[str]]:
    rows = [['section', 'status', 'seconds', 'budget', 'reason']]
    for name, s in results['sections'].items():
        rows.append([name, s.get('status', '?'),
                     fmt_val(s.get('elapsed_s')),
                     fmt_val(s.get('budget_s')), s.get('reason') or ''])
    return rows


def _variant_notes(r: Dict[str, Any]) -> List[str]:
    notes = []
    if r.get('status') != 'ok':
        notes.append(f"{r.get('status')}: {r.get('reason')}")
    if r.get('s_per_image') is not None:
        notes.append(f"{1000 * r['s_per_image']:.4g} ms/image")
    for k in ('argmax_agreement', 'max_abs_diff_vs_exact',
              'pixel_agreement_vs_sparse_cpu', 'speedup_vs_exact'):
        if r.get(k) is not None:
            notes.append(f'{k}={fmt_val(r[k])}')
    for k, val in r.items():
        if k.startswith('first_step_loss_rel_diff'):
            notes.append(f'{k}={fmt_val(val)}')
    if r.get('truncated'):
        notes.append('stopped early (time budget)')
    return notes


def _gpu_variants(results) -> List[List[str]]:
    rows = [['section', 'variant', 'images/s', 'vs baseline', 'peak MB',
             'notes']]
    for name, s in results['sections'].items():
        for v, r in s.get('variants', {}).items():
            base = s.get('baseline')
            sp = r.get('speedup_vs_baseline')
            rows.append([
                name, v, fmt_val(r.get('images_per_s')),
                f'{sp:.2f}x vs {base}' if sp else '-',
                f"{r['peak_mb']:.0f}" if r.get('peak_mb') is not None
                else '-', '; '.join(_variant_notes(r))
            ])
        for k, r in s.get('runs', {}).items():
            rows.append([name, k, '-', '-', '-',
                         f"exit code {r.get('exit_code')}, "
                         f"{r.get('seconds')} s, backend {r.get('backend')}"])
    return rows


def _gpu_checks(results) -> List[List[str]]:
    rows = [['section', 'check', 'value', 'needs', 'result']]
    for name, s in results['sections'].items():
        for c in s.get('checks', []):
            rows.append([name, c['name'], fmt_val(c['value']),
                         f"{c['op']} {fmt_val(c['threshold'])}",
                         met_word(c['passed'])])
    return rows


def _gpu_targets(results) -> List[List[str]]:
    rows = [['target', 'measured', 'needs', 'result']]
    for t in results['targets']:
        rows.append([t['target'], fmt_val(t['value']),
                     f"{t['op']} {fmt_val(t['threshold'])}",
                     met_word(t['met']) + (' (tiny)' if t['note'] else '')])
    return rows


GPU_TABLES = (('Sections', _gpu_sections), ('Measurements', _gpu_variants),
              ('Checks', _gpu_checks), ('Targets', _gpu_targets))


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


def gpu_check_text(results) -> str:
    m = results['mode']
    parts = [
        f"gpu_check ({'tiny ' if m['tiny'] else ''}{m['device']}), "
        f"{results['duration_s']} s, exit code {results['exit_code']}",
        _env_line(results)
    ]
    for _, rows in GPU_TABLES:
        parts += ['', text_table(rows(results))]
    return '\n'.join(parts)


def gpu_check_markdown(results) -> str:
    m = results['mode']
    tiny = ', tiny sizes (rehearsal: the numbers mean nothing)' \
        if m['tiny'] else ''
    lines = [
        '# mmseg-sipe GPU check', '',
        f"* started {results['started']}, {results['duration_s']} s, exit "
        f"code {results['exit_code']}",
        f"* device `{m['device']}`{tiny}",
        f'* {_env_line(results)}',
        f"* command: `{results['command']}`"
    ]
    for heading, rows in GPU_TABLES:
        lines += ['', f'## {heading}', '', md_table(rows(results))]
    return '\n'.join(lines + [''])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('json')
    args = p.parse_args(argv)
    with open(args.json) as f:
        res = json.load(f)
    m = res['meta']
    print(f"run {m['started']}, {m['duration_s']} s, load average "
          f"{m['load_at_start']} -> {m['load_at_end']}, "
          f"{m['cpu_count']} CPUs ({m['processor']}), torch {m['torch']}, "
          f"{m.get('worker_threads')} threads\n")
    print(results_table(res))
    print()
    print(targets_table(res))
    print()
    print(agreement_table(res))
    for name, c in res['cases'].items():
        for key in ('checks', 'derived'):
            if c.get(key):
                print(f'\n{name} {key}: {json.dumps(c[key])}')


if __name__ == '__main__':
    main()
