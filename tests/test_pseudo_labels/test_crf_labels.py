"""make_crf_labels: in-process, own pool, a started pool; job order, early
exit, worker heap settings."""
import os
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from mmseg_sipe.utils.cam_io import cam_path, save_cam
from mmseg_sipe.pseudo_labels import crf_labels, crf_worker_pool, \
    make_crf_labels
from mmseg_sipe.pseudo_labels.crf_labels import largest_first
from mmseg_sipe.utils import heap
from mmseg_sipe.utils.sharded import JobError
from sipe_testing import ROOT

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# the reference cam2ir.py, transcribed (files in, PNG out)
from benchmarks.naive_sipe import naive_cam2ir  # noqa: E402


@pytest.fixture(scope='module')
def small_split(tmp_path_factory):
    """5 images of 24x32 with 1, 3, 2, 4, 1 classes; blocky IS-CAMs."""
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
        items.append(dict(name=f'im{i}', img_path=p))
    return cam_dir, items


def _read(out_dir, items):
    return [np.asarray(Image.open(osp.join(out_dir, it['name'] + '.png')))
            for it in items]


def test_every_path_writes_the_reference_cam2ir_labels(small_split,
                                                      tmp_path):
    cam_dir, items = small_split
    ref = tmp_path / 'ref'
    os.makedirs(ref)
    for it in items:
        naive_cam2ir(it['img_path'], cam_path(cam_dir, it['name']),
                     str(ref / (it['name'] + '.png')))
    expected = _read(str(ref), items)
    assert any((e == 255).any() for e in expected)  # all three kinds occur
    assert any(((e > 0) & (e < 255)).any() for e in expected)
    s = make_crf_labels(items, cam_dir, str(tmp_path / 'inline'))
    assert (s.done, s.failed) == (5, 0)
    s = make_crf_labels(items, cam_dir, str(tmp_path / 'own'), num_workers=2)
    assert (s.done, s.failed) == (5, 0)
    with crf_worker_pool(2) as pool:
        s = make_crf_labels(items, cam_dir, str(tmp_path / 'pool1'),
                            pool=pool)
        assert (s.done, s.failed) == (5, 0)
        # the pool stays open for the next call
        s = make_crf_labels(items, cam_dir, str(tmp_path / 'pool2'),
                            pool=pool)
        assert (s.done, s.failed) == (5, 0)
        # its workers keep freed memory (the pool initializer)
        assert pool.apply(heap.applied_settings) == heap.RETAIN
    for d in ('inline', 'own', 'pool1', 'pool2'):
        for got, exp in zip(_read(str(tmp_path / d), items), expected):
            np.testing.assert_array_equal(got, exp)


def test_workers_get_the_largest_maps_first(small_split, tmp_path,
                                            monkeypatch):
    cam_dir, items = small_split
    seen = []
    real = crf_labels._run_in_pool

    def spy(pool, job, todo, window):
        seen.append([it['name'] for it in todo])
        return real(pool, job, todo, window)

    monkeypatch.setattr(crf_labels, '_run_in_pool', spy)
    with crf_worker_pool(1) as pool:
        s = make_crf_labels(items, cam_dir, str(tmp_path / 'o'), pool=pool)
    assert s.done == 5
    # 4, 3, 2 classes, then the two 1-class images in listing order
    assert seen == [['im3', 'im1', 'im2', 'im0', 'im4']]


def test_a_failure_leaves_a_started_pool_idle(small_split, tmp_path):
    """A missing map (handed out first) stops the call; the jobs already
    submitted finish before the error surfaces, none start afterwards."""
    cam_dir, items = small_split
    jobs = items + [dict(name='missing', img_path=items[0]['img_path'])]
    out = tmp_path / 'o'
    with crf_worker_pool(2) as pool:
        with pytest.raises(JobError, match='missing'):
            make_crf_labels(jobs, cam_dir, str(out), pool=pool)
        written = sorted(os.listdir(out))
        pool.close()
        pool.join()
        assert sorted(os.listdir(out)) == written
    # window = 2 x 2 processes: the failing job and 3 others were submitted
    assert len(written) == 3


def test_an_inline_failure_ends_the_heap_retention(small_split, tmp_path):
    cam_dir, items = small_split
    jobs = items[:2] + [dict(name='missing', img_path=items[0]['img_path'])]
    with pytest.raises(JobError, match='missing'):
        make_crf_labels(jobs, cam_dir, str(tmp_path / 'o'))
    # closed when the error surfaced, not whenever the generator is collected
    assert heap._DEPTH == 0
    assert heap.applied_settings() == heap.RESTORED


def test_failures_are_named_with_skip_bad(small_split, tmp_path):
    cam_dir, items = small_split
    jobs = items + [dict(name='missing', img_path=items[0]['img_path'])]
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
