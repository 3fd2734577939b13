#!/usr/bin/env python
"""Markdown tables from a ``benchmarks/run.py`` JSON file (for the docs).

    python benchmarks/report.py benchmarks/results/latest.json
"""
import argparse
import json
from typing import Any, Dict, List


def _t(s) -> str:
    if s is None:
        return '-'
    return f'{s * 1000:.0f} ms' if s < 1 else f'{s:.2f} s'


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
                _t(d.get('median_s')),
                f"{_t(d.get('min_s'))}-{_t(d.get('max_s'))}",
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
