"""SFC's model zoo (configs/sfc/README.md, metafile.yaml): the tables follow
mmseg's model-index rules, paper numbers stay out of the measured table,
the metafile is in sync and registered in model-index.yml."""
import glob
import json
import os.path as osp
import re

import yaml
from mmengine.config import Config

from sipe_testing import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
README = osp.join(ROOT, 'configs', 'sfc', 'README.md')
METAFILE = osp.join(ROOT, 'configs', 'sfc', 'metafile.yaml')
TOOL = 'tools/analysis_tools/update_model_zoo.py'
STAGE2 = 'deeplabv2_r101-d8_4xb4-20k_voc12aug-sfc-pseudo-512x512.py'


def _tool():
    return load_tool(TOOL)


def _tables(text):
    tool = _tool()
    lines = text.split('\n')
    out = []
    for dataset, keys, rows in tool.zoo_tables(lines):
        out.append((dataset, keys, [tool.split_row(lines[r]) for r in rows]))
    return out


def test_readme_and_measured_table():
    text = open(README).read()
    assert text.startswith('# SFC\n')
    assert re.search(r'^> \[.*\]\(https://arxiv\.org/abs/2401\.11719\)$',
                     text, re.M)
    for marker in ('<!-- [ALGORITHM] -->', '<!-- [ABSTRACT] -->',
                   'Official Repo', 'Code Snippet', '## Citation',
                   '## Results and models', '### Pascal VOC 2012 + Aug'):
        assert marker in text
    tables = _tables(text)
    assert [t[0] for t in tables] == ['Pascal VOC 2012 + Aug']
    _, keys, rows = tables[0]
    assert len(rows) == 1
    row = dict(zip(keys, rows[0]))
    assert row['Method'] == 'SFC + DeepLabV2'
    assert STAGE2 in row['config']
    assert osp.isfile(osp.join(ROOT, 'configs', 'sfc', STAGE2))
    # paper numbers are in the text, never in the measured table
    measured = json.dumps(tables)
    for number in ('71.2', '72.5', '63.1'):
        assert number in text and number not in measured
    assert 'not yet measured' in text


def test_metafile_in_sync_and_registered():
    expected = _tool().parse_readme(open(README).read(),
                                    'configs/sfc/README.md')
    meta = yaml.safe_load(open(METAFILE))
    assert meta == expected, 'run tools/analysis_tools/update_model_zoo.py'
    assert meta['Collections'][0]['Name'] == 'SFC'
    for model in meta['Models']:
        assert model['In Collection'] == 'SFC'
        assert osp.isfile(osp.join(ROOT, model['Config']))
        assert osp.isfile(osp.join(ROOT, model['Code']))
    index = yaml.safe_load(open(osp.join(ROOT, 'model-index.yml')))
    assert 'configs/sfc/metafile.yaml' in index['Import']
    assert index == _tool().model_index(ROOT)
    # model names are unique over the whole index (mim looks them up)
    names = [m['Name'] for p in glob.glob(osp.join(ROOT, 'configs', '*',
                                                   'metafile.yaml'))
             for m in yaml.safe_load(open(p))['Models']]
    assert len(names) == len(set(names))


def test_stage_two_is_sipes_recipe():
    sfc = Config.fromfile(osp.join(ROOT, 'configs', 'sfc', STAGE2))
    sipe = Config.fromfile(osp.join(
        ROOT, 'configs', 'sipe',
        'deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py'))
    assert sfc.model == sipe.model
    assert sfc.optim_wrapper == sipe.optim_wrapper
    assert sfc.train_dataloader.dataset.data_prefix.seg_map_path == \
        sfc.pseudo_label_dir == 'work_dirs/voc_sfc/pseudo_label'
    pipe = Config.fromfile(osp.join(ROOT, 'configs/pipeline/voc_sfc.py'))
    assert pipe.stage1_config == 'configs/sfc/voc_r50.py'
    assert pipe.stage2_config == f'configs/sfc/{STAGE2}'
