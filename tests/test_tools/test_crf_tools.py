"""tools/cam2ir.py and tools/eval_seg_labels.py on IS-CAM files."""
import glob
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from mmseg_sipe.cam import cam_path, save_cam
from mmseg_sipe.cam.make_cam import dataset_items, split_dataset_cfg
from mmseg_sipe.utils.config import load_config
from sipe_testing import ROOT, free_port, run_tool, tool_env

CFG = osp.join(ROOT, 'configs/sipe/demo_r18.py')


@pytest.fixture(scope='module')
def oracle_cams(tiny_demo, tmp_path_factory):
    """IS-CAM files made from the ground truth (smoothed one-hot), so the
    CRF labels must be close to the truth."""
    items = dataset_items(split_dataset_cfg(load_config(CFG), 'train') |
                          dict(data_root=tiny_demo))
    d = str(tmp_path_factory.mktemp('oracle') / 'cam')
    for it in items:
        gt = np.asarray(Image.open(it['seg_map_path']), np.int64)
        keys = np.concatenate([[0], np.nonzero(it['img_labels'])[0] + 1])
        cam = np.stack([(gt == k).astype(np.float32) for k in keys])
        cam[:, gt == 255] = 0.5
        cam = 0.8 * cam + 0.1
        save_cam(cam_path(d, it['name']), keys, cam)
    return d, items


@pytest.mark.integration
def test_cam2ir_and_eval(oracle_cams, tiny_demo, tmp_path):
    cam_dir, items = oracle_cams
    out = str(tmp_path / 'ir')
    p = run_tool([sys.executable, 'tools/cam2ir.py', CFG, cam_dir,
                  '--out-dir', out, '--split', 'train', '--data-root',
                  tiny_demo, '--num-workers', '2'])
    assert f'cam2ir: {len(items)} done' in p.stdout
    for it in items:
        lab = np.asarray(Image.open(osp.join(out, it['name'] + '.png')))
        keys = set([0, 255] + (np.nonzero(it['img_labels'])[0] + 1).tolist())
        assert set(np.unique(lab).tolist()) <= keys
        assert Image.open(osp.join(out, it['name'] + '.png')).mode == 'P'
    js = str(tmp_path / 'e.json')
    e = run_tool([sys.executable, 'tools/eval_seg_labels.py', CFG, out,
                  '--split', 'train', '--data-root', tiny_demo,
                  '--uncertain-as', '0', '--out', js])
    res = json.load(open(js))
    assert res['mIoU'] > 60, res  # oracle CAMs -> good CRF labels
    assert 'mIoU' in e.stdout
    # rerun: everything skipped
    p2 = run_tool([sys.executable, 'tools/cam2ir.py', CFG, cam_dir,
                   '--out-dir', out, '--split', 'train', '--data-root',
                   tiny_demo])
    assert f'0 done, {len(items)} skipped' in p2.stdout


@pytest.mark.integration
def test_crf_label_mode_two_ranks(oracle_cams, tiny_demo, tmp_path):
    cam_dir, items = oracle_cams
    out = str(tmp_path / 'lab')
    env = tool_env()
    env['PORT'] = str(free_port())
    p = run_tool(['bash', 'tools/dist_run.sh', 'tools/cam2ir.py', '2', CFG,
                  cam_dir, '--out-dir', out, '--mode', 'label', '--split',
                  'train', '--data-root', tiny_demo], env=env)
    assert f'label: {len(items)} done' in p.stdout
    labs = glob.glob(osp.join(out, '*.png'))
    assert len(labs) == len(items)
    for f in labs:
        assert 255 not in np.unique(np.asarray(Image.open(f)))


@pytest.mark.integration
def test_missing_cam_file_is_named(oracle_cams, tiny_demo, tmp_path):
    cam_dir, items = oracle_cams
    partial = tmp_path / 'partial'
    os.makedirs(partial)
    for it in items[1:]:
        os.link(cam_path(cam_dir, it['name']), cam_path(str(partial),
                                                        it['name']))
    p = run_tool([sys.executable, 'tools/cam2ir.py', CFG, str(partial),
                  '--out-dir', str(tmp_path / 'o'), '--split', 'train',
                  '--data-root', tiny_demo], check=False)
    assert p.returncode == 1
    assert items[0]['name'] in p.stderr.strip().splitlines()[-1]
