"""Step 2 tools: make_cam (sharded, resumable, atomic), eval_cam, and the
faults the pseudo-label issue lists."""
import glob
import json
import os
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmseg_sipe  # noqa: F401
from mmseg_sipe.cam import (cam_path, dataset_items, load_cam,
                            multiscale_is_cam, save_cam, split_dataset_cfg)
from mmseg_sipe.registry import MODELS
from sipe_testing import ROOT, free_port, run_tool, tool_env

CFG = osp.join(ROOT, 'configs/sipe/demo_r18.py')


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """A randomly initialised stage-one checkpoint (mmengine layout)."""
    cfg = Config.fromfile(CFG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = tmp_path_factory.mktemp('ckpt') / 'stage1.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return str(path)


def make_cam_cmd(ckpt, data_root, out_dir, split='train', extra=()):
    return [
        'tools/make_cam.py', CFG, ckpt, '--out-dir', out_dir, '--split',
        split, '--data-root', data_root, '--num-workers', '0',
        '--scales', '1.0', '0.5', *extra
    ]


def read_all(d):
    out = {}
    for f in sorted(glob.glob(osp.join(d, '*.npz'))):
        out[osp.basename(f)] = load_cam(f)
    return out


def test_multiscale_is_cam_contract(ckpt):
    cfg = Config.fromfile(CFG)
    model = MODELS.build(cfg.model)
    model.load_state_dict(torch.load(ckpt)['state_dict'])
    model.eval()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (75, 101, 3), dtype=np.uint8)
    labels = np.zeros(20, np.float32)
    labels[[2, 6]] = 1
    keys, is_cam, cam = multiscale_is_cam(
        model, img, labels, scales=(1.0, 0.5, 1.5), return_cam=True)
    assert keys.tolist() == [0, 3, 7]
    assert is_cam.shape == (3, 75, 101) and cam.shape == (3, 75, 101)
    m = is_cam.reshape(3, -1).max(1)
    # per-channel max ~ m/(m+1e-5) unless all zero
    assert np.all((m == 0) | (np.abs(m - 1) < 1e-3))
    assert is_cam.min() >= 0
    assert np.allclose(cam[0], 1 - cam[1:].max(0), atol=1e-6)


@pytest.mark.integration
def test_make_cam_writes_resumes_and_evaluates(ckpt, tiny_demo, tmp_path):
    out = str(tmp_path / 'cam')
    plain = str(tmp_path / 'cam_plain')
    p = run_tool([sys.executable, *make_cam_cmd(
        ckpt, tiny_demo, out, extra=['--cam-out-dir', plain])])
    items = dataset_items(split_dataset_cfg(
        Config.fromfile(CFG), 'train') | dict(data_root=tiny_demo))
    n = len(items)
    assert f'make_cam: {n} done, 0 skipped' in p.stdout
    files = read_all(out)
    assert len(files) == n and len(read_all(plain)) == n
    for it in items:
        keys, cam = files[it['name'] + '.npz']
        assert keys[0] == 0 and list(keys) == sorted(keys)
        assert keys.tolist() == [0] + list(np.nonzero(it['img_labels'])[0] + 1)
        h, w = np.asarray(__import__('PIL.Image').Image.open(
            it['img_path'])).shape[:2]
        assert cam.shape == (len(keys), h, w)
    # interrupted run: two outputs missing, a truncated temp file left over
    victims = [items[0]['name'], items[3]['name']]
    for v in victims:
        os.remove(cam_path(out, v))
    with open(cam_path(out, victims[0]) + '.tmp123', 'wb') as f:
        f.write(b'PK\x03\x04trunc')
    p2 = run_tool([sys.executable, *make_cam_cmd(ckpt, tiny_demo, out)])
    assert f'make_cam: 2 done, {n - 2} skipped' in p2.stdout
    again = read_all(out)
    for v in victims:
        a, b = again[v + '.npz'], files[v + '.npz']
        assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
    # evaluation: table + JSON, both protocols
    js = str(tmp_path / 'eval.json')
    e = run_tool([sys.executable, 'tools/eval_cam.py', CFG, out, '--split',
                  'train', '--data-root', tiny_demo, '--out', js])
    assert 'argmax (IS-CAM bg)' in e.stdout
    res = json.load(open(js))
    assert 0 <= res['argmax']['mIoU'] <= 100
    assert res['threshold']['best_threshold'] in res['threshold']['sweep'] \
        or str(res['threshold']['best_threshold']) in res['threshold']['sweep']


@pytest.mark.integration
@pytest.mark.parametrize('nproc', [2, 3])
def test_sharding_every_image_once(ckpt, tiny_demo, tmp_path, nproc):
    """2 and 3 ranks over 8 images (uneven for 3): same files as 1 rank."""
    one = str(tmp_path / 'one')
    run_tool([sys.executable, *make_cam_cmd(ckpt, tiny_demo, one)])
    many = str(tmp_path / 'many')
    env = tool_env()
    env['PORT'] = str(free_port())
    p = run_tool(['bash', 'tools/dist_run.sh', 'tools/make_cam.py',
                  str(nproc), *make_cam_cmd(ckpt, tiny_demo, many)[1:]],
                 env=env)
    assert 'make_cam: 8 done, 0 skipped' in p.stdout and ' 0 failed' in p.stdout
    a, b = read_all(one), read_all(many)
    assert sorted(a) == sorted(b) and len(a) == 8
    for k in a:
        assert np.array_equal(a[k][0], b[k][0])
        assert np.allclose(a[k][1], b[k][1], atol=1e-6)


def _break(demo_copy_root, kind):
    name = open(osp.join(demo_copy_root, 'ImageSets/Segmentation/train.txt')
                ).read().split()[1]
    jpg = osp.join(demo_copy_root, 'JPEGImages', name + '.jpg')
    if kind == 'missing':
        os.remove(jpg)
    else:
        with open(jpg, 'wb') as f:
            f.write(b'not a jpeg at all')
    return name


@pytest.mark.integration
@pytest.mark.parametrize('kind', ['missing', 'corrupt'])
def test_bad_image_stops_with_name_or_is_recorded(ckpt, tiny_demo, tmp_path,
                                                  kind):
    root = str(tmp_path / 'demo')
    shutil.copytree(tiny_demo, root)
    name = _break(root, kind)
    out = str(tmp_path / 'cam')
    if kind == 'missing':
        # the dataset itself refuses a listed image without its file
        p = run_tool([sys.executable, *make_cam_cmd(ckpt, root, out)],
                     check=False)
        assert p.returncode == 1 and name in p.stderr.splitlines()[-1]
        return
    p = run_tool([sys.executable, *make_cam_cmd(ckpt, root, out)],
                 check=False)
    assert p.returncode == 1
    assert name in p.stderr.strip().splitlines()[-1]
    # nothing half-written
    assert not glob.glob(osp.join(out, '*.tmp*'))
    p = run_tool([sys.executable, *make_cam_cmd(
        ckpt, root, out, extra=['--skip-bad'])], check=False)
    assert p.returncode == 1  # failures make the exit code non-zero
    # the first run finished the image listed before the corrupt one
    assert 'make_cam: 6 done, 1 skipped' in p.stdout
    assert '1 failed' in p.stdout
    assert len(glob.glob(osp.join(out, '*.npz'))) == 7
    failed = json.load(open(osp.join(out, 'failed.json')))
    assert len(failed) == 1 and name in failed[0]


def test_image_without_foreground(ckpt):
    cfg = Config.fromfile(CFG)
    model = MODELS.build(cfg.model).eval()
    img = np.full((40, 52, 3), 128, np.uint8)
    keys, cam = multiscale_is_cam(model, img, np.zeros(20, np.float32),
                                  scales=(1.0, ))
    assert keys.tolist() == [0] and cam.shape == (1, 40, 52)
    assert np.isfinite(cam).all()


def test_reference_format_needs_opt_in(tmp_path):
    ref = tmp_path / 'a.npy'
    np.save(ref, dict(keys=np.array([0, 5]),
                      IS_CAM=np.random.rand(2, 4, 5).astype(np.float32)))
    with pytest.raises(ValueError, match='allow-reference-format'):
        load_cam(str(ref))
    keys, cam = load_cam(str(ref), allow_pickle=True)
    assert keys.tolist() == [0, 5] and cam.shape == (2, 4, 5)


def test_gt_of_different_size_is_reported(tmp_path, tiny_demo):
    from mmseg_sipe.evaluation import evaluate_cams
    items = dataset_items(split_dataset_cfg(
        Config.fromfile(CFG), 'train') | dict(data_root=tiny_demo))[:1]
    d = str(tmp_path / 'cam')
    save_cam(cam_path(d, items[0]['name']), np.array([0]),
             np.zeros((1, 5, 7)))
    with pytest.raises(ValueError, match='ground truth .* has size'):
        evaluate_cams(items, d, 21, progress=False)


def test_save_cam_is_atomic_and_typed(tmp_path):
    p = str(tmp_path / 'x.npz')
    save_cam(p, [0, 3], np.random.rand(2, 6, 7), dtype='float16')
    keys, cam = load_cam(p)
    assert cam.dtype == np.float32 and keys.dtype == np.int64
    with np.load(p) as z:
        assert z['cam'].dtype == np.float16
    assert os.listdir(tmp_path) == ['x.npz']
    with pytest.raises(ValueError, match='does not match keys'):
        save_cam(p, [0], np.zeros((2, 3, 3)))
