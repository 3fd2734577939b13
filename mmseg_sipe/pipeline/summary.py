"""The pipeline's closing summary: mIoU at every stage and time per step."""
import json
import os
import os.path as osp
from typing import Dict, List

import numpy as np

from ..evaluation.eval_maps import format_table

METRIC_ORDER = ('CAM', 'CAM bg threshold', 'IS-CAM', '+CRF', '+IRN',
                'pseudo label', 'stage2 val')


def collect_metrics(results) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for r in results:
        for k, v in r.metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = float(v)
    return out


def summarize(runs: Dict[int, List], work_dir: str) -> str:
    """Write ``summary.md`` / ``summary.json`` and return the markdown.

    Args:
        runs: ``{seed: [StepResult, ...]}`` (one entry when no seeds).
    """
    per_seed = {s: collect_metrics(r) for s, r in runs.items()}
    keys = [k for k in METRIC_ORDER if any(k in m for m in per_seed.values())]
    rows = []
    for k in keys:
        vals = [m[k] for m in per_seed.values() if k in m]
        if len(vals) > 1:
            cell = f'{np.mean(vals):.2f} ± {np.std(vals):.2f}'
            detail = ', '.join(f'{v:.2f}' for v in vals)
        else:
            cell, detail = f'{vals[0]:.2f}', ''
        rows.append([k, cell, detail])
    metric_table = format_table(rows, ['stage', 'mIoU (%)', 'per seed'])
    first = next(iter(runs.values()))
    time_rows = []
    for i, r in enumerate(first):
        secs = [rs[i].seconds for rs in runs.values() if i < len(rs)]
        time_rows.append([r.name, f'{np.mean(secs):.1f}',
                          'yes' if all(rs[i].skipped for rs in runs.values()
                                       if i < len(rs)) else 'no'])
    total = sum(float(t[1]) for t in time_rows)
    time_rows.append(['total', f'{total:.1f}', ''])
    time_table = format_table(time_rows,
                              ['step', 'time (s)', 'skipped (done before)'])
    md = ('## SIPE pipeline summary\n\n'
          f'seeds: {", ".join(map(str, runs))}\n\n' + metric_table +
          '\n\n' + time_table + '\n')
    os.makedirs(work_dir, exist_ok=True)
    for name, content in (('summary.md', md), ('summary.json', json.dumps(
            dict(metrics=per_seed,
                 steps={s: [dict(step=r.name, seconds=r.seconds,
                                 metrics=r.metrics, skipped=r.skipped)
                            for r in rs] for s, rs in runs.items()}),
            indent=1, default=str))):
        path = osp.join(work_dir, name)
        with open(path + '.tmp', 'w') as f:
            f.write(content)
        os.replace(path + '.tmp', path)
    return md
