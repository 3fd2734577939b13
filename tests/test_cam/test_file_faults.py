"""Files that break evaluation or make_cam: illegal label values, truncated
or reference-format maps, a full disk, and the CAM metric's warning when
every prediction is background."""
import errno
import glob
import logging
import os
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

import mmseg_sipe  # noqa: F401
from mmseg_sipe.cam import (cam_path, dataset_items, load_cam, make_cams,
                            save_cam, split_dataset_cfg)
from mmseg_sipe.evaluation import (CAMIoUMetric, evaluate_cams,
                                   evaluate_label_dir)
from mmseg_sipe.registry import MODELS
from mmseg_sipe.utils.fileio import atomic_write, remove_stale_temps
from mmseg_sipe.datasets.label_io import save_label_png
from mmseg_sipe.utils.sharded import JobError
from sipe_testing import ROOT, run_tool

CFG = osp.join(ROOT, 'configs/sipe/demo_r18.py')


def _items(root, split='train'):
    return dataset_items(
        split_dataset_cfg(Config.fromfile(CFG), split) | dict(data_root=root))


@pytest.fixture
def demo(tiny_demo, tmp_path):
    root = str(tmp_path / 'demo')
    shutil.copytree(tiny_demo, root)
    return root


def _cams_for(items, out):
    for it in items:
        with Image.open(it['seg_map_path']) as im:
            w, h = im.size
        keys = np.concatenate([[0], np.flatnonzero(it['img_labels']) + 1])
        save_cam(cam_path(out, it['name']), keys,
                 np.random.rand(len(keys), h, w))


# --------------------------------------------------------------------------
# ground truth with a value that is no class
# --------------------------------------------------------------------------
def test_illegal_gt_value_is_refused(demo, tmp_path):
    items = _items(demo)[:3]
    gt = items[1]['seg_map_path']
    with Image.open(gt) as im:
        arr, pal = np.array(im), im.getpalette()
    arr[1, 2] = 50
    im = Image.fromarray(arr, mode='P')
    im.putpalette(pal)
    im.save(gt)
    out = str(tmp_path / 'cam')
    _cams_for(items, out)
    with pytest.raises(ValueError) as exc:
        evaluate_cams(items, out, 21, progress=False)
    assert str(exc.value).startswith(f'{gt}: illegal label values [50] '
                                     '(legal: 0..20 and 255)')
    labels = str(tmp_path / 'labels')
    for it in items:
        save_label_png(osp.join(labels, it['name'] + '.png'),
                       np.asarray(Image.open(it['seg_map_path'])) % 21)
    with pytest.raises(ValueError, match=f'{gt}: illegal label values'):
        evaluate_label_dir(items, labels, 21, progress=False)


def test_illegal_value_in_pseudo_labels_is_refused(demo, tmp_path):
    items = _items(demo)[:2]
    labels = str(tmp_path / 'labels')
    for it in items:
        lab = np.asarray(Image.open(it['seg_map_path'])).copy()
        lab[lab == 255] = 0
        if it is items[1]:
            lab[0, 0] = 40
        save_label_png(osp.join(labels, it['name'] + '.png'), lab)
    bad = osp.join(labels, items[1]['name'] + '.png')
    with pytest.raises(ValueError,
                       match=f'{bad}: illegal label values '
                       r'\[40\]'):
        evaluate_label_dir(items, labels, 21, progress=False)


def _metric():
    m = CAMIoUMetric()
    m.dataset_meta = dict(classes=tuple(f'c{i}' for i in range(21)))
    return m


def _sample(pred, gt, path='x.png'):
    return dict(seg_map_path=path,
                gt_sem_seg=dict(data=torch.from_numpy(gt)[None]),
                pred_sem_seg=dict(data=torch.from_numpy(pred)[None]))


def test_cam_metric_refuses_illegal_gt():
    m = _metric()
    gt = np.zeros((4, 5), np.int64)
    gt[0, 0] = 50
    with pytest.raises(ValueError,
                       match=r'gt/a.png: illegal label values '
                       r'\[50\]'):
        m.process({}, [_sample(np.zeros_like(gt), gt, 'gt/a.png')])


def _capture():
    """Records of the current MMLogger (whatever level an earlier test
    left it at) and a function that undoes the capture."""
    from mmengine.logging import MMLogger
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)

    def done():
        logger.removeHandler(handler)
        logger.setLevel(level)

    return records, done


def _warnings(records):
    """The metric's WARNING lines (not mmengine's own about prefixes)."""
    return [
        r.getMessage() for r in records
        if r.levelno == logging.WARNING and 'predict' in r.getMessage()
    ]


def test_cam_metric_warns_when_everything_is_background():
    from mmengine.logging import MessageHub
    gt = np.zeros((10, 10), np.int64)
    gt[:5] = 3  # half the image is foreground
    records, done = _capture()
    hub = MessageHub.get_current_instance()
    old = hub.get_info('epoch')
    hub.update_info('epoch', 2)
    try:
        m = _metric()
        m.process({}, [_sample(np.zeros_like(gt), gt)])
        res = m.compute_metrics(m.results)
        warned = _warnings(records)
        assert len(warned) == 1 and _one_line(warned[0])
        assert warned[0].startswith('CAMIoUMetric at epoch 3: every '
                                    'prediction is background')
        assert f"mIoU {res['mIoU']:.2f} is the background-only" in warned[0]
        # a little foreground (< 1 % vs 50 % in the GT): still a warning
        records.clear()
        big = np.zeros((100, 100), np.int64)
        big[:50] = 3
        pred = np.zeros_like(big)
        pred[0, :5] = 3
        m = _metric()
        m.process({}, [_sample(pred, big)])
        m.compute_metrics(m.results)
        assert 'only 0.05% of the pixels are predicted foreground' in \
            _warnings(records)[0]
        # a classifier that localises: no warning
        records.clear()
        m = _metric()
        m.process({}, [_sample(gt.copy(), gt)])
        m.compute_metrics(m.results)
        assert _warnings(records) == []
    finally:
        hub.update_info('epoch', old)
        done()


def _one_line(text):
    return '\n' not in str(text).strip()


# --------------------------------------------------------------------------
# localisation-map files
# --------------------------------------------------------------------------
def test_truncated_npz_is_one_line(tmp_path):
    p = str(tmp_path / 'a.npz')
    save_cam(p, [0, 3], np.random.rand(2, 30, 40))
    data = open(p, 'rb').read()
    with open(p, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(ValueError) as exc:
        load_cam(p)
    assert _one_line(exc.value)
    assert str(exc.value).startswith(f'cannot read localisation map {p} '
                                     '(truncated')


@pytest.mark.integration
def test_eval_cam_truncated_npz_exits_with_one_line(demo, tmp_path):
    items = _items(demo)
    out = str(tmp_path / 'cam')
    _cams_for(items, out)
    victim = cam_path(out, items[2]['name'])
    with open(victim, 'r+b') as f:
        f.truncate(100)
    p = run_tool([
        sys.executable, 'tools/eval_cam.py', CFG, out, '--split', 'train',
        '--data-root', demo
    ],
                 check=False)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert 'Traceback' not in p.stderr
    assert lines[-1].startswith('error: ')
    assert f'cannot read localisation map {victim}' in lines[-1]


def test_reference_npy_without_flag_names_the_flag(demo, tmp_path):
    items = _items(demo)[:1]
    d = tmp_path / 'ref'
    d.mkdir()
    with Image.open(items[0]['seg_map_path']) as im:
        w, h = im.size
    npy = d / (items[0]['name'] + '.npy')
    np.save(npy, dict(keys=np.array([0]), IS_CAM=np.ones((1, h, w))))
    with pytest.raises(ValueError) as exc:
        evaluate_cams(items, str(d), 21, progress=False)
    assert str(npy) in str(exc.value)
    assert '--allow-reference-format' in str(exc.value)
    res = evaluate_cams(items, str(d), 21, allow_pickle=True, progress=False)
    assert 'argmax' in res


# --------------------------------------------------------------------------
# disk full while writing
# --------------------------------------------------------------------------
def test_atomic_write_cleans_up_on_failure(tmp_path):
    target = tmp_path / 'x.json'
    with pytest.raises(OSError):
        with atomic_write(str(target), 'w') as f:
            f.write('partial')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert os.listdir(tmp_path) == []
    with atomic_write(str(target), 'w') as f:
        f.write('{}')
    assert os.listdir(tmp_path) == ['x.json'] and target.read_text() == '{}'
    # stale temps: only our pattern goes
    for n in ('a.npz.tmp123', 'b.png.tmp9', 'c.tmp77.png', 'keep.tmp',
              'keep.npz', 'keep.tmpx'):
        (tmp_path / n).write_bytes(b'')
    removed = remove_stale_temps(str(tmp_path))
    assert [osp.basename(p)
            for p in removed] == ['a.npz.tmp123', 'b.png.tmp9', 'c.tmp77.png']
    assert sorted(os.listdir(tmp_path)) == [
        'keep.npz', 'keep.tmp', 'keep.tmpx', 'x.json'
    ]


@pytest.fixture
def cam_job(tiny_demo, tmp_path):
    """``(random demo model, three demo images, CAM output directory)``."""
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CFG).model).eval()
    return model, _items(tiny_demo)[:3], str(tmp_path / 'cam')


def _full_disk_for(victim, monkeypatch, partial=b''):
    """``np.savez`` fails with ENOSPC on ``victim``'s CAM file after
    writing ``partial``; returns the real ``np.savez``."""
    real_savez = np.savez

    def savez(f, **arrays):
        if osp.basename(f.name).startswith(victim + '.npz.tmp'):
            f.write(partial)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_savez(f, **arrays)

    monkeypatch.setattr(np, 'savez', savez)
    return real_savez


def test_disk_full_names_the_image_and_leaves_no_temp(cam_job, monkeypatch):
    model, items, out = cam_job
    victim = items[1]['name']
    real_savez = _full_disk_for(victim, monkeypatch, b'PK\x03\x04 partial')
    with pytest.raises(JobError) as exc:
        make_cams(model, items, out, scales=(1.0, ), num_workers=0)
    msg = str(exc.value)
    assert f'make_cam failed on {victim}: OSError: [Errno 28] No space ' \
        'left on device' in msg
    assert items[2]['name'] not in msg
    assert glob.glob(osp.join(out, '*.tmp*')) == []
    assert not osp.exists(cam_path(out, victim))

    # a killed run's leftovers are removed by the next run, which recovers
    monkeypatch.setattr(np, 'savez', real_savez)
    stale = osp.join(out, victim + '.npz.tmp424242')
    with open(stale, 'wb') as f:
        f.write(b'PK\x03\x04 partial')
    notes = osp.join(out, 'notes.tmp')
    open(notes, 'w').close()
    summary = make_cams(model, items, out, scales=(1.0, ), num_workers=0)
    assert (summary.done, summary.failed) == (3 - summary.skipped,
                                              0) and summary.skipped >= 1
    assert not osp.exists(stale) and osp.exists(notes)
    assert sorted(osp.basename(p)
                  for p in glob.glob(osp.join(out, '*.npz'))) == sorted(
                      it['name'] + '.npz' for it in items)


def test_disk_full_with_skip_bad_counts_the_right_image(cam_job, monkeypatch):
    model, items, out = cam_job
    victim = items[0]['name']
    _full_disk_for(victim, monkeypatch)
    summary = make_cams(model,
                        items,
                        out,
                        scales=(1.0, ),
                        num_workers=0,
                        skip_bad=True)
    assert (summary.done, summary.failed) == (2, 1)
    assert summary.failures[0].startswith(f'{victim}: OSError: [Errno 28]')
    assert glob.glob(osp.join(out, '*.tmp*')) == []
