"""The pipeline's closing summary: mIoU at every stage and time per step,
and the *ladder*: each stage's mIoU, its change from the stage before, the
share of pixels it labels foreground against the ground truth's, per-class
IoU side by side, and a warning naming every refinement step that lowers
mIoU on its evaluation split.

The ladder is read from the files the evaluation steps write in each run's
work directory (``cam_plain/eval_<split>.json``, ``cam/eval_<split>.json``,
``ir_label/eval_<split>.json``, ``eval_pseudo_<split>.json``, and the
stage-two test log under ``stage2_test/``), falling back to the step
metrics for the mIoU when a file is missing.
"""
import glob
import json
import os
import os.path as osp
import re
from typing import Dict, List, Optional

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


#: The ladder: (stage = step metric key, eval file, key inside the file).
#: ``{split}`` is the evaluation split; ``None`` key = the file's top level.
LADDER = (
    ('CAM', 'cam_plain/eval_{split}.json', 'threshold'),
    ('IS-CAM', 'cam/eval_{split}.json', 'argmax'),
    ('+CRF', 'ir_label/eval_{split}.json', None),
    ('+IRN', 'eval_pseudo_{split}.json', None),
    ('pseudo label', 'eval_pseudo_{split}.json', None),
    ('stage2 val', None, None),
)


def _read_json(path: str) -> Optional[Dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _eval_split(run_dir: str) -> Optional[str]:
    """The evaluation split of a run: from ``eval_pseudo_<split>.json``,
    else ``cam/eval_<split>.json`` (the most recent one)."""
    for pattern in ('eval_pseudo_*.json', osp.join('cam', 'eval_*.json'),
                    osp.join('ir_label', 'eval_*.json')):
        files = glob.glob(osp.join(run_dir, pattern))
        if files:
            name = osp.basename(max(files, key=osp.getmtime))
            return re.sub(r'^eval_(pseudo_)?', '', name)[:-len('.json')]
    return None


def read_stage2_class_iou(test_dir: str) -> Optional[Dict[str, float]]:
    """Per-class IoU of the latest stage-two test, parsed from the table
    mmseg's ``IoUMetric`` logs (``| class | IoU | Acc |``); None if absent."""
    logs = sorted(glob.glob(osp.join(test_dir, '*', '*.log')))
    for path in reversed(logs):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        i = text.rfind('per class results')
        if i < 0:
            continue
        out = {}
        header = None
        for line in text[i:].splitlines()[1:]:
            if line.startswith('+'):
                continue
            if not line.startswith('|'):
                if header is not None:
                    break
                continue
            cells = [c.strip() for c in line.strip('|').split('|')]
            if header is None:
                header = cells
                continue
            if 'IoU' not in header:
                break
            try:
                out[cells[0]] = float(cells[header.index('IoU')])
            except ValueError:
                out[cells[0]] = float('nan')
        if out:
            return out
    return None


def _class_names() -> List[str]:
    from ..datasets.metainfo import VOC_CLASSES
    return list(VOC_CLASSES)


def ladder_of_run(run_dir: str, metrics: Dict[str, float]) -> List[Dict]:
    """One entry per stage present: ``stage``, ``split``, ``mIoU``,
    ``fg_pred`` / ``fg_gt`` (percent of evaluated pixels, None if unknown)
    and ``class_iou`` (``{class name: IoU}``, None if unknown)."""
    split = _eval_split(run_dir)
    names = _class_names()
    rows = []
    for stage, rel, key in LADDER:
        if stage not in metrics:
            continue
        row = dict(stage=stage, split=split, mIoU=float(metrics[stage]),
                   fg_pred=None, fg_gt=None, class_iou=None)
        if rel is None:  # stage two: mmseg test on the val split
            row['split'] = 'val'
            row['class_iou'] = read_stage2_class_iou(
                osp.join(run_dir, 'stage2_test'))
        elif split is not None:
            d = _read_json(osp.join(run_dir, rel.format(split=split)))
            if d is not None and key is not None:
                d = d.get(key)
            if d:
                row['fg_pred'] = d.get('fg_fraction_pred')
                row['fg_gt'] = d.get('fg_fraction_gt')
                iou = d.get('IoU')
                if iou is not None:
                    row['class_iou'] = {
                        (names[c] if c < len(names) else str(c)):
                        (float('nan') if v is None else float(v))
                        for c, v in enumerate(iou)}
        rows.append(row)
    return rows


def _mean(vals):
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else None


def merge_ladders(ladders: List[List[Dict]]) -> List[Dict]:
    """Mean over seeds of every number in the ladders (stage by stage), with
    ``delta`` = change of mIoU from the stage before."""
    order = [r['stage'] for r in ladders[0]] if ladders else []
    out = []
    for stage in order:
        rows = [r for lad in ladders for r in lad if r['stage'] == stage]
        ious = [r['class_iou'] for r in rows if r['class_iou']]
        class_iou = None
        if ious:
            class_iou = {}
            for name in ious[0]:
                vals = [c.get(name) for c in ious]
                vals = [v for v in vals if v is not None and not np.isnan(v)]
                class_iou[name] = float(np.mean(vals)) if vals else None
        out.append(dict(stage=stage, split=rows[0]['split'],
                        mIoU=_mean([r['mIoU'] for r in rows]),
                        fg_pred=_mean([r['fg_pred'] for r in rows]),
                        fg_gt=_mean([r['fg_gt'] for r in rows]),
                        class_iou=class_iou))
    for i, row in enumerate(out):
        row['delta'] = None if i == 0 else row['mIoU'] - out[i - 1]['mIoU']
    return out


def ladder_warnings(ladder: List[Dict]) -> List[str]:
    """One line per refinement step that lowers mIoU against the stage
    before it on the same evaluation split."""
    lines = []
    for prev, row in zip(ladder, ladder[1:]):
        if row['delta'] is not None and row['delta'] < 0 and \
                row['split'] == prev['split']:
            lines.append(
                f"WARNING: {row['stage']} lowers mIoU on {row['split']} "
                f"by {-row['delta']:.2f} points ({prev['stage']} "
                f"{prev['mIoU']:.2f} -> {row['mIoU']:.2f})")
    return lines


def _fmt(v, signed=False):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return '–'
    return f'{v:+.2f}' if signed else f'{v:.2f}'


def ladder_tables(ladder: List[Dict]) -> str:
    """The ladder table and the per-class IoU table (markdown)."""
    rows = [[r['stage'], r['split'] or '–', _fmt(r['mIoU']),
             _fmt(r['delta'], signed=True), _fmt(r['fg_pred']),
             _fmt(r['fg_gt'])] for r in ladder]
    text = format_table(rows, ['stage', 'split', 'mIoU (%)', 'change',
                               'fg (%)', 'GT fg (%)'])
    with_iou = [r for r in ladder if r['class_iou']]
    if with_iou:
        names = []
        for r in with_iou:
            for n, v in r['class_iou'].items():
                if n not in names and v is not None and not np.isnan(v):
                    names.append(n)
        crow = [[n] + [_fmt(r['class_iou'].get(n)) for r in with_iou]
                for n in names]
        text += '\n\nper-class IoU (%):\n\n' + format_table(
            crow, ['class'] + [r['stage'] for r in with_iou])
    return text


def _run_dir(work_dir: str, seed) -> str:
    d = osp.join(work_dir, f'seed_{seed}')
    return d if osp.isdir(d) else work_dir


def summarize(runs: Dict[int, List], work_dir: str,
              run_dirs: Optional[Dict[int, str]] = None) -> str:
    """Write ``summary.md`` / ``summary.json`` and return the markdown.

    Args:
        runs: ``{seed: [StepResult, ...]}`` (one entry when no seeds).
        work_dir: where the summary goes (the pipeline's work dir).
        run_dirs: ``{seed: work dir of that run}``; default
            ``work_dir/seed_<seed>`` where it exists, else ``work_dir``.
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
    run_dirs = run_dirs or {s: _run_dir(work_dir, s) for s in runs}
    ladder = merge_ladders([ladder_of_run(run_dirs[s], per_seed[s])
                            for s in runs])
    warnings = ladder_warnings(ladder)
    ladder_md = ''
    if ladder:
        ladder_md = ('\n### Ladder' + (' (mean over seeds)' if len(runs) > 1
                                        else '') + '\n\n' +
                     ladder_tables(ladder) + '\n')
        if warnings:
            ladder_md += '\n' + '\n'.join(warnings) + '\n'
    md = ('## SIPE pipeline summary\n\n'
          f'seeds: {", ".join(map(str, runs))}\n\n' + metric_table +
          '\n\n' + time_table + '\n' + ladder_md)
    os.makedirs(work_dir, exist_ok=True)
    for name, content in (('summary.md', md), ('summary.json', json.dumps(
            dict(metrics=per_seed, ladder=ladder, warnings=warnings,
                 steps={s: [dict(step=r.name, seconds=r.seconds,
                                 metrics=r.metrics, skipped=r.skipped)
                            for r in rs] for s, rs in runs.items()}),
            indent=1, default=str))):
        path = osp.join(work_dir, name)
        with open(path + '.tmp', 'w') as f:
            f.write(content)
        os.replace(path + '.tmp', path)
    return md
