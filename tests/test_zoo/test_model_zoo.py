"""Model zoo: README tables follow mmseg's model-index parser rules, the
metafiles are in sync, and the update tool fills the right cells."""
import glob
import json
import os
import os.path as osp
import re
import shutil

import pytest
import yaml

from sipe_testing import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
README = osp.join(ROOT, 'configs', 'sipe', 'README.md')
METAFILE = osp.join(ROOT, 'configs', 'sipe', 'metafile.yaml')
TOOL = 'tools/analysis_tools/update_model_zoo.py'


def _tool():
    return load_tool(TOOL)


# ---- an independent re-implementation of mmseg's
# .dev_scripts/update_model_index.py table rules
def mmseg_tables(path):
    """[(dataset, keys, [row cells])] for the tables mmseg would parse."""
    with open(path) as f:
        lines = f.readlines()
    out, dataset, i = [], None, 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith('###'):
            dataset = line.split('###')[1].strip()
        if (line.startswith('|') and i + 1 < len(lines)
                and lines[i + 1][:3] == '| -' and 'Method' in line
                and 'Crop Size' in line and 'Mem (GB)' in line):
            keys = [k.strip() for k in line.split('|')]
            rows, j = [], i + 2
            while j < len(lines) and lines[j][0] == '|':
                rows.append([v.strip() for v in lines[j].split('|')])
                j += 1
            out.append((dataset, keys, rows))
            i = j
        i += 1
    return out


def _config_name(cell):
    m = re.findall(r'\(([^\s()]*\.py)\)', cell)
    assert m, f'config cell {cell!r} has no link ending in .py'
    return m[0].split('/')[-1]


def test_readme_header_lines():
    with open(README) as f:
        text = f.read()
    assert text.startswith('# SIPE\n')
    assert re.search(
        r'^> \[.*\]\(https://arxiv\.org/abs/2203\.02909\)$', text, re.M)
    for marker in ('<!-- [ALGORITHM] -->', '<!-- [ABSTRACT] -->',
                   'Official Repo', 'Code Snippet', '## Citation',
                   '## Results and models', '### Pascal VOC 2012 + Aug',
                   '### COCO 2014'):
        assert marker in text
    assert '<!-- [SKIP DEV CHECK] -->' not in text


def test_readme_tables_follow_mmseg_parser_rules():
    tables = mmseg_tables(README)
    assert [t[0] for t in tables] == ['Pascal VOC 2012 + Aug', 'COCO 2014']
    names = set()
    for dataset, keys, rows in tables:
        assert 'Device' in keys, dataset
        assert 'mIoU' in keys, dataset
        for col in ('Method', 'Backbone', 'Crop Size', 'Lr schd', 'Mem (GB)',
                    'Inf time (fps)', 'mIoU(ms+flip)', 'config', 'download'):
            assert col in keys
        assert rows, dataset
        for v in rows:
            name = _config_name(v[keys.index('config')])
            assert osp.isfile(osp.join(ROOT, 'configs', 'sipe', name)), name
            bs = re.findall(r'[0-9]*xb[0-9]*', name)[0].split('xb')
            assert int(bs[0]) * int(bs[1]) == 16
            h, w = v[keys.index('Crop Size')].split('x')
            assert (int(h), int(w)) == (512, 512)
            assert v[keys.index('Method')].startswith('SIPE + ')
            for col in ('mIoU', 'mIoU(ms+flip)', 'Mem (GB)'):
                cell = v[keys.index(col)]
                if cell != '-':
                    float(cell)  # a number once measured
            if v[keys.index('mIoU')] == '-':
                assert v[keys.index('Device')] == '-'
            names.add(name)
    # every real (non-demo) stage-two config is in the zoo
    real = {
        osp.basename(p)
        for p in glob.glob(osp.join(ROOT, 'configs', 'sipe', '*pseudo*.py'))
        if 'demo' not in p
    }
    assert names == real


def test_paper_numbers_are_outside_the_measured_tables():
    with open(README) as f:
        text = f.read()
    measured = json.dumps(mmseg_tables(README))
    for number in ('68.8', '69.7', '40.6', '58.65', '58.88', '43.6'):
        assert number in text
        assert number not in measured
    assert 'not yet measured' in text
    # the pseudo-label quality table exists but is invisible to the parser
    assert '| Pseudo labels' in text
    assert 'Pseudo labels' not in measured


def test_metafile_matches_readme_and_model_index():
    tool = _tool()
    with open(README) as f:
        expected = tool.parse_readme(f.read(), 'configs/sipe/README.md')
    with open(METAFILE) as f:
        meta = yaml.safe_load(f)
    assert meta == expected, 'run tools/analysis_tools/update_model_zoo.py'
    assert meta['Collections'][0]['Name'] == 'SIPE'
    assert meta['Collections'][0]['Paper']['URL'] == \
        'https://arxiv.org/abs/2203.02909'
    for model in meta['Models']:
        assert osp.isfile(osp.join(ROOT, model['Config']))
        assert osp.basename(model['Config']) == model['Name'] + '.py'
        assert model['In Collection'] == 'SIPE'
        assert model['Metadata']['Batch Size'] == 16
        assert osp.isfile(osp.join(ROOT, model['Code']))
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert 'configs/sipe/metafile.yaml' in index['Import']
    for p in index['Import']:
        assert osp.isfile(osp.join(ROOT, p))


# ---------------------------------------------------------------- tool
CFG = 'deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py'


def _write(path, text):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def _jsonl(path, records):
    _write(path, ''.join(json.dumps(r) + '\n' for r in records))


def _model_cfg(tta=False, crf=False):
    seg = f"dict(type='CRFEncoderDecoder', crf=dict(enabled={crf}))"
    if tta:
        return f"model = dict(type='CRFSegTTAModel', module={seg})\n"
    return f'model = {seg}\n'


def _env_log(path, gpus=4):
    _write(
        path, 'System environment:\n    CUDA available: True\n'
        '    GPU 0,1,2,3: NVIDIA A100-SXM4-80GB\n'
        f'Runtime environment:\n    GPU number: {gpus}\n')


@pytest.fixture
def zoo(tmp_path):
    root = tmp_path / 'repo'
    readme = root / 'configs' / 'sipe' / 'README.md'
    os.makedirs(readme.parent)
    shutil.copy(README, readme)
    return str(root), str(readme)


def _fake_work_dir(wd):
    _write(osp.join(wd, CFG), _model_cfg())
    train = osp.join(wd, '20260101_000000')
    _env_log(osp.join(train, '20260101_000000.log'))
    _write(osp.join(train, 'vis_data', 'config.py'), _model_cfg())
    _jsonl(osp.join(train, 'vis_data', 'scalars.json'), [
        dict(lr=0.01, loss=2.0, memory=9000, iter=50, step=50),
        dict(lr=0.01, loss=1.0, memory=10240, iter=100, step=100),
        dict(aAcc=90.0, mIoU=61.0, mAcc=70.0, step=10000),
        dict(aAcc=91.0, mIoU=68.4, mAcc=75.0, step=20000),
    ])
    for ts, tta, crf, miou in (('20260102_000000', True, False, 70.12),
                               ('20260103_000000', True, True, 71.5)):
        run = osp.join(wd, ts)
        _env_log(osp.join(run, f'{ts}.log'), gpus=1)
        _write(osp.join(run, 'vis_data', 'config.py'), _model_cfg(tta, crf))
        _jsonl(osp.join(run, f'{ts}.json'), [dict(aAcc=92.0, mIoU=miou)])
    _write(osp.join(wd, 'fps_20260104_000000.json'),
           json.dumps(dict(average_fps=12.3, overall_fps_1=12.3)))
    _write(osp.join(wd, 'iter_20000.pth'), '')
    _write(osp.join(wd, 'iter_2000.pth'), '')


def _row(readme, config):
    for _, keys, rows in mmseg_tables(readme):
        for v in rows:
            if _config_name(v[keys.index('config')]) == config:
                return dict(zip(keys, v))
    raise KeyError(config)


def test_parse_work_dir(tmp_path):
    wd = str(tmp_path / 'wd')
    _fake_work_dir(wd)
    m = _tool().parse_work_dir(wd)
    assert m['config'] == CFG
    assert m['Mem (GB)'] == '10.00'
    assert m['mIoU'] == '68.40'  # last validation (no single-scale test)
    assert m['mIoU(ms+flip)'] == '70.12'
    assert m['mIoU(ms+flip+CRF)'] == '71.50'
    assert m['Inf time (fps)'] == '12.30'
    assert m['Device'] == 'A100-SXM4-80GB'
    assert m['gpus'] == 4
    assert m['checkpoint'].endswith('iter_20000.pth')


def test_single_scale_test_wins_over_validation(tmp_path):
    wd = str(tmp_path / 'wd')
    _fake_work_dir(wd)
    run = osp.join(wd, '20260105_000000')
    _write(osp.join(run, 'vis_data', 'config.py'), _model_cfg())
    _jsonl(osp.join(run, '20260105_000000.json'), [dict(mIoU=69.0)])
    assert _tool().parse_work_dir(wd)['mIoU'] == '69.00'


def test_text_log_fallback(tmp_path):
    wd = str(tmp_path / 'wd')
    _write(osp.join(wd, CFG), _model_cfg())
    ts = '20260101_000000'
    _write(
        osp.join(wd, ts, f'{ts}.log'),
        '    GPU 0: Tesla V100-SXM2-32GB\n    GPU number: 1\n'
        'Iter(train) [  50/20000]  lr: 1e-2  eta: 1:00:00  time: 0.5  '
        'data_time: 0.01  memory: 3072  loss: 1.5  decode.loss_ce: 1.5\n'
        'Iter(val) [1449/1449]    aAcc: 90.0  mIoU: 55.25  mAcc: 60.0\n')
    m = _tool().parse_work_dir(wd)
    assert m['Mem (GB)'] == '3.00'
    assert m['mIoU'] == '55.25'
    assert m['Device'] == 'V100-SXM2-32GB'


def test_tool_fills_the_right_cells(zoo, tmp_path):
    root, readme = zoo
    wd = str(tmp_path / 'wd')
    _fake_work_dir(wd)
    before = open(readme).read()
    other_before = _row(readme, 'segformer_mit-b2_4xb4-20k_voc12aug-'
                        'pseudo-512x512.py')
    assert _tool().main([wd, '--readme', readme, '--root', root]) == 0
    row = _row(readme, CFG)
    assert row['Mem (GB)'] == '10.00'
    assert row['Inf time (fps)'] == '12.30'
    assert row['Device'] == 'A100-SXM4-80GB'
    assert row['mIoU'] == '68.40'
    assert row['mIoU(ms+flip)'] == '70.12'
    assert row['mIoU(ms+flip+CRF)'] == '71.50'
    assert row['Lr schd'] == '20000' and row['Crop Size'] == '512x512'
    assert _row(readme, 'segformer_mit-b2_4xb4-20k_voc12aug-'
                'pseudo-512x512.py') == other_before
    after = open(readme).read()
    changed = [(a, b) for a, b in zip(before.split('\n'), after.split('\n'))
               if a != b]
    assert len(changed) == 1 and CFG in changed[0][1]

    meta = yaml.safe_load(
        open(osp.join(root, 'configs', 'sipe', 'metafile.yaml')))
    model = {m['Name']: m for m in meta['Models']}[CFG[:-3]]
    assert model['Results']['Dataset'] == 'Pascal VOC 2012 + Aug'
    assert model['Results']['Metrics'] == {
        'mIoU': 68.4, 'mIoU(ms+flip)': 70.12, 'mIoU(ms+flip+CRF)': 71.5}
    assert model['Metadata']['Memory (GB)'] == 10.0
    assert model['Metadata']['Training Resources'] == \
        '4x A100-SXM4-80GB GPUS'
    unmeasured = {m['Name']: m for m in meta['Models']}[
        'deeplabv2_r101-d8_4xb4-80k_coco-pseudo-512x512']
    assert 'Results' not in unmeasured
    assert 'Memory (GB)' not in unmeasured['Metadata']
    index = yaml.safe_load(open(osp.join(root, 'model-index.yml')))
    assert index == {'Import': ['configs/sipe/metafile.yaml']}

    # a second run with no new numbers changes nothing
    assert _tool().main([wd, '--readme', readme, '--root', root]) == 0
    assert open(readme).read() == after


def test_tool_keeps_escaped_download_cell(zoo, tmp_path):
    root, readme = zoo
    text = open(readme).read()
    line = [x for x in text.split('\n') if CFG in x and x[0] == '|'][0]
    dl = ('[model](https://example.org/m.pth) \\| '
          '[log](https://example.org/l.json)')
    new = line[:line.rindex('|', 0, len(line) - 1)] + f'| {dl} |'
    _write(readme, text.replace(line, new))
    wd = str(tmp_path / 'wd')
    _fake_work_dir(wd)
    _tool().main([wd, '--readme', readme, '--root', root])
    assert dl in open(readme).read()
    meta = yaml.safe_load(
        open(osp.join(root, 'configs', 'sipe', 'metafile.yaml')))
    model = {m['Name']: m for m in meta['Models']}[CFG[:-3]]
    assert model['Weights'] == 'https://example.org/m.pth'
    assert model['Training log'] == 'https://example.org/l.json'


def test_tool_errors(zoo, tmp_path):
    root, readme = zoo
    tool = _tool()
    wd = str(tmp_path / 'wd')
    _write(osp.join(wd, 'not_in_the_zoo_4xb4.py'), _model_cfg())
    with pytest.raises(KeyError, match='not_in_the_zoo_4xb4.py'):
        tool.main([wd, '--readme', readme, '--root', root])
    _write(osp.join(wd, CFG), _model_cfg())
    with pytest.raises(ValueError, match='--config'):
        tool.parse_work_dir(wd)
    assert tool.parse_work_dir(wd, config=CFG)['config'] == CFG
    with pytest.raises(FileNotFoundError, match='nope'):
        tool.parse_work_dir(str(tmp_path / 'nope'))
