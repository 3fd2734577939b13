"""tools/analysis_tools/diagnose_pipeline.py: one picture of every stage of
a pipeline work dir, with the IRN edge map computed from the work dir's IRN
checkpoint. The work dir is assembled from the stage outputs' file formats
(no pipeline run): a tiny demo dataset, IS-CAM / CAM ``.npz`` maps, IR and
pseudo-label PNGs and an IRN checkpoint of the demo IRN config."""
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from sipe_testing import ROOT, run_tool

NAMES_FILE = 'ImageSets/Segmentation/train.txt'
GAP = 4  # render_row's gap between tiles


def _names(root):
    return open(osp.join(root, NAMES_FILE)).read().split()


def _gt(root, name):
    return np.asarray(Image.open(
        osp.join(root, 'SegmentationClass', name + '.png')), np.uint8)


def _work_dir(tmp_path, root, with_seeds=False, with_irn=True):
    from mmengine.config import Config

    from mmseg_sipe.utils.cam_io import cam_path, save_cam
    from mmseg_sipe.registry import MODELS
    from mmseg_sipe.datasets.label_io import save_label_png
    wd = tmp_path / 'work'
    for d in ('cam', 'cam_plain', 'ir_label', 'pseudo_label', 'irn',
              'configs'):
        os.makedirs(wd / d, exist_ok=True)
    for name in _names(root):
        gt = _gt(root, name)
        fg = sorted(set(np.unique(gt).tolist()) - {0, 255})
        keys = np.array([0] + fg, np.int64)
        cam = np.random.RandomState(0).rand(len(keys), *gt.shape)
        save_cam(cam_path(str(wd / 'cam_plain'), name), keys, cam)
        path = cam_path(str(wd / 'cam'), name)
        if with_seeds:
            seeds = (gt > 0) & (gt < 255)
            np.savez(path, keys=keys, cam=cam.astype(np.float16),
                     seeds=seeds.astype(np.uint8))
        else:
            save_cam(path, keys, cam)
        save_label_png(str(wd / 'ir_label' / f'{name}.png'), gt)
        save_label_png(str(wd / 'pseudo_label' / f'{name}.png'),
                       np.where(gt == 255, 0, gt).astype(np.uint8))
    if with_irn:
        # the child config the pipeline writes, and a checkpoint of it
        (wd / 'configs' / 'irn.py').write_text(
            f"_base_ = [{osp.join(ROOT, 'configs/sipe/irn_demo.py')!r}]\n")
        cfg = Config.fromfile(str(wd / 'configs' / 'irn.py'))
        model = MODELS.build(cfg.model)
        ckpt = wd / 'irn' / 'iter_3.pth'
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
        (wd / 'irn' / 'last_checkpoint').write_text(str(ckpt))
    return str(wd)


def _run(argv):
    from mmseg_sipe.cli.diagnose import main
    return main(argv)


def _tile(sheet, row_top, col, width, height):
    x0 = col * (width + GAP)
    return sheet[row_top:row_top + height, x0:x0 + width]


def test_every_stage_is_drawn_and_missing_seeds_are_said(
        tiny_demo, tmp_path, monkeypatch):
    monkeypatch.setenv('SIPE_TRUSTED_CHECKPOINT_DIRS', str(tmp_path))
    wd = _work_dir(tmp_path, tiny_demo)
    out = str(tmp_path / 'diag.png')
    res = _run([wd, '--config', osp.join(ROOT, 'configs/pipeline/demo.py'),
                '--split', 'train', '--data-root', tiny_demo, '--num', '2',
                '--out', out])
    names = _names(tiny_demo)[:2]
    assert res['images'] == names
    assert any('seeds are not stored' in n for n in res['notes'])
    assert not any('IRN edges' in n for n in res['notes'])
    sheet = np.asarray(Image.open(out).convert('RGB'))
    h, w = _gt(tiny_demo, names[0]).shape
    # seven columns: image, GT, CAM, IS-CAM, IR label, edges, pseudo label
    assert sheet.shape[1] == 7 * w + 6 * GAP
    # header 18 px, name strip 14 px, then the first row
    top = 18 + 14
    edges = _tile(sheet, top, 5, w, h)
    assert (edges[..., 0] == edges[..., 1]).all()  # grey edge map
    assert edges.std() > 0  # an edge map, not the crossed "missing" box
    gt_tile = _tile(sheet, top, 1, w, h)
    from mmseg_sipe.visualization import colorize_label
    np.testing.assert_array_equal(gt_tile,
                                  colorize_label(_gt(tiny_demo, names[0])))


def test_seeds_are_drawn_when_stored(tiny_demo, tmp_path, monkeypatch):
    monkeypatch.setenv('SIPE_TRUSTED_CHECKPOINT_DIRS', str(tmp_path))
    wd = _work_dir(tmp_path, tiny_demo, with_seeds=True)
    res = _run([wd, '--config', osp.join(ROOT, 'configs/pipeline/demo.py'),
                '--split', 'train', '--data-root', tiny_demo, '--num', '1',
                '--out', str(tmp_path / 'd.png')])
    assert not any('seeds' in n for n in res['notes'])


def test_configs_from_the_work_dir_and_no_irn(tiny_demo, tmp_path):
    """Without --config the stage-one config mmengine saved in
    WORK_DIR/stage1 is used; without an IRN checkpoint the edge column is a
    crossed box and the picture says why."""
    wd = _work_dir(tmp_path, tiny_demo, with_irn=False)
    os.makedirs(osp.join(wd, 'stage1'))
    with open(osp.join(wd, 'stage1', 'demo_r18.py'), 'w') as f:
        f.write(f"_base_ = [{osp.join(ROOT, 'configs/sipe/demo_r18.py')!r}]\n"
                f"data_root = {tiny_demo!r}\n")
    out = str(tmp_path / 'diag.png')
    res = _run([wd, '--split', 'train', '--data-root', tiny_demo,
                '--names', _names(tiny_demo)[1], '--out', out])
    assert res['images'] == [_names(tiny_demo)[1]]
    assert any('IRN edges' in n for n in res['notes'])
    assert osp.isfile(out)


@pytest.mark.integration
def test_missing_work_dir_is_one_line_error(tmp_path):
    p = run_tool([sys.executable, 'tools/analysis_tools/diagnose_pipeline.py',
                  str(tmp_path / 'nope'), '--out', str(tmp_path / 'x.png')],
                 check=False)
    assert p.returncode == 1
    assert 'work dir not found' in p.stderr.strip().splitlines()[-1]


def test_no_stage1_config_asks_for_config(tmp_path):
    from mmseg_sipe.cli.diagnose import resolve_configs
    with pytest.raises(FileNotFoundError, match='--config'):
        resolve_configs(str(tmp_path))
