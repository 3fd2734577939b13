"""make_crf_labels: in-process, own pool, a started pool; job order."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmseg_sipe.cam.io import cam_path, save_cam
from mmseg_sipe.pseudo_labels import crf_worker_pool, make_crf_labels
from mmseg_sipe.pseudo_labels.crf_labels import largest_first
from mmseg_sipe.refine.crf import cam_to_ir_label


@pytest.fixture(scope='module')
def small_split(tmp_path_factory):
    """5 images of 24x32 with 1-4 classes; blocky IS-CAMs."""
    root = tmp_path_factory.mktemp('crf_split')
    rng = np.random.RandomState(0)
    cam_dir = str(root / 'cam')
    items = []
    for i, k in enumerate([1, 3, 2, 4, 1]):
        img = rng.randint(0, 256, (24, 32, 3)).astype(np.uint8)
        p = str(root / f'im{i}.png')
        Image.fromarray(img).save(p)
        keys = np.concatenate([[0], np.sort(rng.choice(20, k, False) + 1)])
        cam = np.kron(rng.rand(k + 1, 3, 4), np.ones((8, 8))).astype(
            np.float32)
        cam /= cam.max(axis=(1, 2), keepdims=True)
        save_cam(cam_path(cam_dir, f'im{i}'), keys, cam, dtype='float32')
        items.append(dict(name=f'im{i}', img_path=p, img=img, keys=keys,
                          cam=cam))
    return cam_dir, items


def _read(out_dir, items):
    return [np.asarray(Image.open(osp.join(out_dir, it['name'] + '.png')))
            for it in items]


def test_every_path_writes_the_reference_labels(small_split, tmp_path):
    cam_dir, items = small_split
    expected = [cam_to_ir_label(it['img'], it['cam'], it['keys'])
                for it in items]
    jobs = [dict(name=it['name'], img_path=it['img_path']) for it in items]
    s = make_crf_labels(jobs, cam_dir, str(tmp_path / 'inline'))
    assert (s.done, s.failed) == (5, 0)
    s = make_crf_labels(jobs, cam_dir, str(tmp_path / 'own'), num_workers=2)
    assert (s.done, s.failed) == (5, 0)
    with crf_worker_pool(2) as pool:
        s = make_crf_labels(jobs, cam_dir, str(tmp_path / 'pool1'),
                            pool=pool)
        assert (s.done, s.failed) == (5, 0)
        # the pool stays open for the next call
        s = make_crf_labels(jobs, cam_dir, str(tmp_path / 'pool2'),
                            pool=pool)
        assert (s.done, s.failed) == (5, 0)
    for d in ('inline', 'own', 'pool1', 'pool2'):
        for got, exp in zip(_read(str(tmp_path / d), items), expected):
            np.testing.assert_array_equal(got, exp)


def test_failures_are_named_with_a_started_pool(small_split, tmp_path):
    cam_dir, items = small_split
    jobs = [dict(name=it['name'], img_path=it['img_path']) for it in items]
    jobs.append(dict(name='missing', img_path=items[0]['img_path']))
    with crf_worker_pool(2) as pool:
        s = make_crf_labels(jobs, cam_dir, str(tmp_path / 'o'), pool=pool,
                            skip_bad=True)
    assert (s.done, s.failed) == (5, 1)
    assert s.failures[0].startswith('missing: FileNotFoundError')
    assert not osp.exists(tmp_path / 'o' / 'missing.png')


def test_largest_first_orders_by_file_size(tmp_path):
    sizes = dict(a=10, b=300, c=50, d=300, e=0)
    for name, n in sizes.items():
        with open(tmp_path / name, 'wb') as f:
            f.write(b'x' * n)
    items = [dict(name=n) for n in ['a', 'b', 'gone', 'c', 'd', 'e']]
    order = largest_first(items, lambda it: str(tmp_path / it['name']))
    # unreadable first, then descending size, ties in input order
    assert [it['name'] for it in order] == ['gone', 'b', 'd', 'c', 'a', 'e']
    assert largest_first([], os.fspath) == []
