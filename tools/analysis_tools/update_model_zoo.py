# Copyright (c) mmseg-sipe contributors.
"""Fill the model-zoo tables from mmengine work dirs; regenerate metafiles.

    python tools/analysis_tools/update_model_zoo.py WORK_DIR [WORK_DIR ...] \
        --readme configs/sipe/README.md [--device A100] [--dry-run]

Each ``WORK_DIR`` is what ``tools/train.py`` / ``tools/test.py`` write with
``--work-dir`` (one config per work dir; several runs in timestamped
sub-folders are fine). The tool reads

* the config name from the config the Runner dumps into ``WORK_DIR``
  (``WORK_DIR/<config>.py``; ``--config`` overrides when there are several);
* per run (``WORK_DIR/<timestamp>/``): ``vis_data/config.py`` (to tell a
  plain test from a ``--tta`` (ms+flip) test and a CRF test),
  ``vis_data/scalars.json`` (training ``memory`` in MB, validation
  ``mIoU``), ``<timestamp>.json`` (test metrics) and ``<timestamp>.log``
  (``GPU 0,1,2,3: <name>`` for the Device column);
* ``WORK_DIR/fps_*.json`` from mmseg's ``benchmark.py`` (``average_fps``).

and fills, in the README row whose ``config`` link names that config, the
cells ``Mem (GB)``, ``Inf time (fps)``, ``Device``, ``mIoU``,
``mIoU(ms+flip)`` and ``mIoU(ms+flip+CRF)`` that it measured (other cells
are kept). ``mIoU`` is the single-scale test result, else the last
validation of training. Then it regenerates ``metafile.yaml`` next to the
README and the root ``model-index.yml`` from the README tables, following
mmseg's ``.dev_scripts/update_model_index.py`` rules, with one relaxation:
cells not measured yet are ``-`` and the corresponding metafile fields are
left out (mmseg's parser requires every row to carry numbers and URLs).
Without WORK_DIRs it only regenerates the metafiles.
"""
import argparse
import glob
import json
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Tuple

import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

#: README columns the tool fills from measurements.
MEASURED_COLUMNS = ('Mem (GB)', 'Inf time (fps)', 'Device', 'mIoU',
                    'mIoU(ms+flip)', 'mIoU(ms+flip+CRF)')
EMPTY = ('', '-')
TTA_TYPES = ('SegTTAModel', 'CRFSegTTAModel')


# ---------------------------------------------------------------- I/O
def atomic_write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through the package's temp file + rename
    (:func:`mmseg_sipe.utils.fileio.atomic_write`)."""
    from mmseg_sipe.utils.fileio import atomic_write as open_atomic
    with open_atomic(path, 'w') as f:
        f.write(text)


def read_json_lines(path: str) -> List[dict]:
    """mmengine's scalar logs: one JSON object per line (bad lines skipped)."""
    out = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict):
                out.append(d)
    return out


def read_text_log(path: str, with_test: bool = True) -> List[dict]:
    """Records from an mmengine text ``.log`` (when no JSON log exists):
    training lines (``memory``, ``loss``) and the metric lines of
    validation (``step``) and, if ``with_test``, testing (``mode='test'``).
    """
    out = []
    it = 0
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            m = re.search(r'Iter\(train\) \[\s*(\d+)/', line)
            if m:
                it = int(m.group(1))
                d: dict = dict(step=it)
                mm = re.search(r'\bmemory: (\d+)', line)
                if mm:
                    d['memory'] = float(mm.group(1))
                ml = re.search(r'\bloss: ([-\d.e]+)', line)
                if ml:
                    d['loss'] = float(ml.group(1))
                out.append(d)
                continue
            m = re.search(r'Iter\((val|test)\).*\bmIoU: ([\d.]+)', line)
            if m and (m.group(1) == 'val' or with_test):
                d = dict(mIoU=float(m.group(2)), step=it)
                if m.group(1) == 'test':
                    d['mode'] = 'test'
                out.append(d)
    return out


# ---------------------------------------------------------- work dirs
def _run_mode(config_path: Optional[str]) -> Tuple[bool, bool]:
    """``(tta, crf)`` of a run, from its dumped config (text level).

    The dumped config is the merged one, so the model's ``type`` and its
    ``crf.enabled`` flag are literal in it.
    """
    if not config_path or not osp.isfile(config_path):
        return False, False
    from mmengine.config import Config
    try:
        cfg = Config.fromfile(config_path, import_custom_modules=False)
    except Exception as e:  # a broken dump must not stop the table update
        print(f'warning: cannot read {config_path}: {e}', file=sys.stderr)
        return False, False
    model = cfg.get('model', {}) or {}
    tta = model.get('type') in TTA_TYPES
    seg = model.get('module', {}) if tta else model
    crf = bool(((seg or {}).get('crf') or {}).get('enabled', False))
    return tta, crf


def _device_from_log(log_path: str) -> Tuple[Optional[str], Optional[int]]:
    """``(device name, number of processes)`` from an mmengine ``.log``."""
    device = gpus = None
    cpu = False
    with open(log_path, encoding='utf-8', errors='replace') as f:
        for line in f:
            m = re.match(r'\s*GPU ([\d,]+): (.+?)\s*$', line)
            if m and device is None:
                device = m.group(2)
                for prefix in ('NVIDIA ', 'Tesla '):
                    if device.startswith(prefix):
                        device = device[len(prefix):]
            m = re.match(r'\s*GPU number: (\d+)', line)
            if m:
                gpus = int(m.group(1))
            if re.match(r'\s*CUDA available: False', line):
                cpu = True
    if device is None and cpu:
        device = 'CPU'
    return device, gpus


def parse_work_dir(work_dir: str,
                   config: Optional[str] = None,
                   device: Optional[str] = None) -> Dict:
    """Measurements of one work dir.

    Returns:
        dict: ``config`` (file name) and any of ``Mem (GB)``,
        ``Inf time (fps)``, ``Device``, ``mIoU``, ``mIoU(ms+flip)``,
        ``mIoU(ms+flip+CRF)`` (strings, as written in the table), plus
        ``log`` / ``checkpoint`` paths when found.
    """
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'work dir {work_dir} does not exist')
    if config is None:
        dumped = sorted(
            osp.basename(p) for p in glob.glob(osp.join(work_dir, '*.py')))
        if len(dumped) != 1:
            raise ValueError(
                f'{work_dir}: expected exactly one dumped config (*.py), '
                f'found {dumped or "none"}; pass --config NAME')
        config = dumped[0]
    config = osp.basename(config)
    if not config.endswith('.py'):
        config += '.py'
    out: Dict = dict(config=config)
    top_cfg = osp.join(work_dir, config)

    runs = sorted(d for d in glob.glob(osp.join(work_dir, '*'))
                  if osp.isdir(d) and re.match(r'\d{8}_\d{6}$',
                                               osp.basename(d)))
    mem_mb: List[float] = []
    val_miou: Optional[Tuple[int, float]] = None
    tests: Dict[Tuple[bool, bool], float] = {}
    dev = gpus = None
    for run in runs:
        ts = osp.basename(run)
        vis_cfg = osp.join(run, 'vis_data', 'config.py')
        tta, crf = _run_mode(vis_cfg if osp.isfile(vis_cfg) else top_cfg)
        scalars = osp.join(run, 'vis_data', 'scalars.json')
        if not osp.isfile(scalars):
            scalars = osp.join(run, 'vis_data', f'{ts}.json')
        log = osp.join(run, f'{ts}.log')
        test_json = osp.join(run, f'{ts}.json')
        if osp.isfile(scalars):
            records = read_json_lines(scalars)
        elif osp.isfile(log):  # no json logs: read the text log
            records = read_text_log(log, with_test=not osp.isfile(test_json))
        else:
            records = []
        for d in records:
            if d.get('mode') == 'test':
                tests[(tta, crf)] = float(d['mIoU'])
                continue
            if 'memory' in d:
                mem_mb.append(float(d['memory']))
            if 'mIoU' in d and 'loss' not in d:  # validation during training
                step = int(d.get('step', d.get('iter', 0)))
                if val_miou is None or step >= val_miou[0]:
                    val_miou = (step, float(d['mIoU']))
        if osp.isfile(test_json):
            for d in read_json_lines(test_json):
                if 'mIoU' in d:
                    tests[(tta, crf)] = float(d['mIoU'])
        is_train = any('loss' in x for x in records)
        if is_train:
            out['log'] = scalars if osp.isfile(scalars) else log
        if osp.isfile(log):
            d_name, n = _device_from_log(log)
            dev = d_name or dev
            if n and is_train:
                gpus = n  # processes of the training run
    if mem_mb:
        out['Mem (GB)'] = f'{max(mem_mb) / 1024:.2f}'
    if (False, False) in tests:
        out['mIoU'] = f'{tests[(False, False)]:.2f}'
    elif val_miou is not None:
        out['mIoU'] = f'{val_miou[1]:.2f}'
    if (True, False) in tests:
        out['mIoU(ms+flip)'] = f'{tests[(True, False)]:.2f}'
    if (True, True) in tests:
        out['mIoU(ms+flip+CRF)'] = f'{tests[(True, True)]:.2f}'
    if (False, True) in tests:
        print(f'warning: {work_dir}: single-scale CRF result '
              f'{tests[(False, True)]:.2f} has no column; not reported',
              file=sys.stderr)
    fps = []
    for p in sorted(glob.glob(osp.join(work_dir, 'fps_*.json'))):
        with open(p, encoding='utf-8') as f:
            d = json.load(f)
        if 'average_fps' in d:
            fps.append(float(d['average_fps']))
    if fps:
        out['Inf time (fps)'] = f'{fps[-1]:.2f}'
    if device:
        dev = device
    if dev and any(k in out for k in ('Mem (GB)', 'mIoU')):
        out['Device'] = dev
    if gpus:
        out['gpus'] = gpus
    ckpts = sorted(glob.glob(osp.join(work_dir, 'iter_*.pth')),
                   key=lambda p: int(re.findall(r'iter_(\d+)', p)[-1]))
    if ckpts:
        out['checkpoint'] = ckpts[-1]
    return out


# -------------------------------------------------------------- README
def split_row(line: str) -> List[str]:
    """Cells of a markdown table row, as mmseg's parser splits them (an
    escaped ``\\|`` splits too: ``download`` and the next cell)."""
    return [c.strip() for c in line.rstrip('\n').split('|')]


def split_cells(line: str) -> List[str]:
    """Cells of a markdown table row, keeping escaped ``\\|`` inside."""
    return [c.strip() for c in re.split(r'(?<!\\)\|', line.rstrip('\n'))]


def is_zoo_header(lines: List[str], i: int) -> bool:
    """mmseg's rule: a parsed table header has Method, Crop Size, Mem (GB)."""
    line = lines[i].strip()
    return (line.startswith('|') and i + 1 < len(lines)
            and lines[i + 1].startswith('| -') and 'Method' in line
            and 'Crop Size' in line and 'Mem (GB)' in line)


def config_of_row(cell: str) -> Optional[str]:
    """Config file name linked from a ``config`` cell (absolute or relative
    link ending in ``.py``)."""
    m = re.search(r'\(([^\s()]+\.py)\)', cell) or re.search(
        r'[a-zA-Z]+://[^\s]*\.py', cell)
    if not m:
        return None
    return (m.group(1) if m.groups() else m.group(0)).split('/')[-1]


def zoo_tables(lines: List[str]):
    """Yield ``(dataset, keys, row_indices)`` for every parsed table."""
    dataset = ''
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith('###'):
            dataset = line.split('###')[1].strip()
        if line and is_zoo_header(lines, i):
            keys = split_row(lines[i])
            rows = []
            j = i + 2
            while j < len(lines) and lines[j].startswith('|'):
                rows.append(j)
                j += 1
            yield dataset, keys, rows
            i = j
            continue
        i += 1


def fill_readme(text: str, measurements: List[Dict]) -> Tuple[str, List]:
    """Write measured cells into the rows of their configs.

    Returns:
        tuple: new text and a list of ``(config, column, old, new)``.

    Raises:
        KeyError: A measured config has no row in any zoo table.
    """
    lines = text.split('\n')
    by_cfg: Dict[str, Tuple[List[str], int]] = {}
    for _, keys, rows in zoo_tables(lines):
        ci = keys.index('config')
        for r in rows:
            name = config_of_row(split_row(lines[r])[ci])
            if name:
                by_cfg[name] = (keys, r)
    changes = []
    for meas in measurements:
        name = meas['config']
        if name not in by_cfg:
            raise KeyError(
                f'config {name} has no row in the README zoo tables; add a '
                'row with its [config](...) link first')
        keys, r = by_cfg[name]
        cells = split_cells(lines[r])
        for col in MEASURED_COLUMNS:
            if col in meas and col in keys:
                k = keys.index(col)
                if cells[k] != meas[col]:
                    changes.append((name, col, cells[k], meas[col]))
                    cells[k] = meas[col]
        lines[r] = '| ' + ' | '.join(cells[1:-1]) + ' |'
    return '\n'.join(lines), changes


# ----------------------------------------------------------- metafile
def _number(cell: str) -> Optional[float]:
    if cell in EMPTY:
        return None
    try:
        return float(cell.split('\\')[0])
    except ValueError:
        return None


def parse_readme(text: str, readme_rel: str) -> Dict:
    """The metafile dict of a README (mmseg's update_model_index rules)."""
    lines = text.split('\n')
    paper_name = paper_url = code_url = ''
    for line in lines:
        s = line.strip()
        if re.match(r'> \[.*\]+\([a-zA-Z]+://[^\s]*\)', s):
            title, url = s.split('](', 1)
            paper_name = title[title.index('[') + 1:]
            paper_url = url[:-1]
        if 'Code Snippet' in s and '"' in s:
            code_url = s.split('"')[1]
            if not re.match(r'[a-zA-Z]+://', code_url):  # relative link
                code_url = osp.normpath(
                    osp.join(osp.dirname(readme_rel),
                             code_url)).replace('\\', '/')
    config_dir = osp.dirname(readme_rel)
    datasets: List[str] = []
    models: List[Dict] = []
    collection = ''
    for dataset, keys, rows in zoo_tables(lines):
        assert 'Device' in keys, f'no Device column in {readme_rel}'
        if 'mIoU' not in keys:
            raise ValueError(f'no mIoU column in {readme_rel}')
        if dataset not in datasets:
            datasets.append(dataset)
        for r in rows:
            v = split_row(lines[r])
            name = config_of_row(v[keys.index('config')])
            if name is None:
                raise ValueError(f'{readme_rel}:{r + 1}: no config link')
            bs = re.findall(r'[0-9]*xb[0-9]*', name)[0].split('xb')
            method = v[keys.index('Method')].strip()
            if ' + ' in method:
                method = [m.strip() for m in method.split(' + ')]
            elif ' ' in method:
                method = method.split(' ')
            else:
                method = [method]
            backbone = re.findall(r'[^\s]*', v[keys.index('Backbone')])[0]
            collection = method[0]
            model: Dict = {
                'Name': name[:-3],
                'In Collection': collection,
            }
            metrics = {}
            for col in ('mIoU', 'mIoU(ms+flip)', 'mIoU(ms+flip+CRF)'):
                if col in keys:
                    x = _number(v[keys.index(col)])
                    if x is not None:
                        metrics[col] = x
            if metrics:
                model['Results'] = {
                    'Task': 'Semantic Segmentation',
                    'Dataset': dataset,
                    'Metrics': metrics
                }
            model['Config'] = f'{config_dir}/{name}'
            meta: Dict = {
                'Training Data': dataset,
                'Batch Size': int(bs[0]) * int(bs[1]),
                'Architecture': [backbone] + method,
            }
            dev = v[keys.index('Device')]
            if dev not in EMPTY:
                meta['Training Resources'] = f'{bs[0]}x {dev} GPUS'
            mem = _number(v[keys.index('Mem (GB)')])
            if mem is not None:
                meta['Memory (GB)'] = mem
            model['Metadata'] = meta
            if 'download' in keys:
                di = keys.index('download')
                cells = ' '.join(v[di:di + 2])
                w = re.findall(r'[a-zA-Z]+://[^\s)]*pth', cells)
                lg = re.findall(r'[a-zA-Z]+://[^\s)]*\.json', cells)
                if w:
                    model['Weights'] = w[0]
                if lg:
                    model['Training log'] = lg[0]
            model['Paper'] = {'Title': paper_name, 'URL': paper_url}
            model['Code'] = code_url
            model['Framework'] = 'PyTorch'
            models.append(model)
    return {
        'Collections': [{
            'Name': collection,
            'License': 'MIT',
            'Metadata': {
                'Training Data': datasets
            },
            'Paper': {
                'Title': paper_name,
                'URL': paper_url
            },
            'README': readme_rel,
            'Frameworks': ['PyTorch'],
        }],
        'Models': models
    }


def model_index(root: str) -> Dict:
    """Root ``model-index.yml``: every ``configs/*/metafile.yaml``."""
    files = sorted(
        osp.relpath(p, root).replace('\\', '/')
        for p in glob.glob(osp.join(root, 'configs', '*', 'metafile.yaml')))
    return {'Import': files}


def dump_yaml(data: Dict) -> str:
    return yaml.dump(data, sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Fill model-zoo README rows from work dirs and '
        'regenerate metafile.yaml / model-index.yml')
    p.add_argument('work_dirs', nargs='*', help='mmengine work dirs')
    p.add_argument(
        '--readme', default='configs/sipe/README.md', help='zoo README')
    p.add_argument('--root', default=ROOT, help='repository root')
    p.add_argument(
        '--config',
        help='config file name when a work dir holds several dumped ones')
    p.add_argument('--device', help='Device column value (e.g. A100)')
    p.add_argument(
        '--dry-run', action='store_true', help='print, write nothing')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    readme = args.readme if osp.isabs(args.readme) else osp.join(
        args.root, args.readme)
    if not osp.isfile(readme):
        raise FileNotFoundError(f'README {readme} does not exist')
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    meas = [
        parse_work_dir(w, args.config, args.device) for w in args.work_dirs
    ]
    text, changes = fill_readme(text, meas)
    for name, col, old, new in changes:
        print(f'{name}: {col}: {old or "-"} -> {new}')
    for m in meas:
        if len(m) == 1 or not any(c in m for c in MEASURED_COLUMNS):
            print(f'warning: nothing measured for {m["config"]}',
                  file=sys.stderr)
    readme_rel = osp.relpath(readme, args.root).replace('\\', '/')
    meta = dump_yaml(parse_readme(text, readme_rel))
    meta_path = osp.join(osp.dirname(readme), 'metafile.yaml')
    if args.dry_run:
        print(meta)
        return 0
    atomic_write(readme, text)
    atomic_write(meta_path, meta)
    atomic_write(
        osp.join(args.root, 'model-index.yml'),
        dump_yaml(model_index(args.root)))
    print(f'updated {readme}, {meta_path} and model-index.yml')
    return 0


if __name__ == '__main__':
    sys.exit(main())
