"""Benchmark cases of the dense CRF step (``cam2ir``): the reference
transcription against ``make_crf_labels`` with 1 and 2 worker processes
(see ``cases.py`` for how a case is run)."""
import os
import os.path as osp
import shutil
import tempfile
import time

import numpy as np

from benchmarks.common import Case, Unsupported, demo_image, smooth_maps


def _pool_warm(_):
    """Pool warm-up task: import what a CRF job imports, then linger so that
    every worker takes one task."""
    import pydensecrf.densecrf  # noqa: F401

    import benchmarks.naive_sipe  # noqa: F401
    import mmseg_sipe.pseudo_labels.crf_labels  # noqa: F401
    time.sleep(0.5)
    return os.getpid()


class _NaiveCam2irJob:
    """Picklable: the reference ``cam2ir`` of one item into ``out_dir``."""

    def __init__(self, cam_dir: str, out_dir: str):
        self.cam_dir, self.out_dir = cam_dir, out_dir

    def __call__(self, item):
        from benchmarks.naive_sipe import naive_cam2ir
        from mmseg_sipe.utils.cam_io import cam_path
        naive_cam2ir(item['img_path'], cam_path(self.cam_dir, item['name']),
                     osp.join(self.out_dir, item['name'] + '.png'))


class CrfCase(Case):
    """``cam2ir`` on 8 images of 375x500, as it runs on VOC.

    An image's IS-CAM has ``1 + K`` channels for its ``K`` image-level
    classes, so its CRFs have ``1 + K`` labels; here ``K`` is 1 (four
    images), 2 (two), 3 and 4: mean 1.9, while most VOC images carry one or
    two classes.  :class:`Crf21Case` is the 21-label worst case.

    Variants (the pools are started in ``setup``, so the timings are the
    steady state of a long run, and 1 and 2 workers compare like for like):

    * ``naive`` / ``naive_w2``: the reference ``cam2ir.py`` (two independent
      CRFs per image, default heap) in a 1- / 2-process pool (the reference
      also spreads images over ``--num_workers`` processes);
    * ``w1`` / ``w2``: ``make_crf_labels(pool=crf_worker_pool(n))`` with
      n = 1 / 2 (shared lattices, heap retention, largest IS-CAM first);
    * ``w1_inline``: ``make_crf_labels(num_workers=1)``, in this process;
    * ``w2_spawn`` (full runs): ``make_crf_labels(num_workers=2)``, which
      starts its pool in every call (what one short call costs).
    """
    name = 'crf'
    title = 'dense CRF cam2ir, VOC-like (2-5 labels, 2 CRFs/image), per image'
    variants = ['naive', 'naive_w2', 'w1', 'w1_inline', 'w2', 'w2_spawn']
    quick_variants = ['naive', 'w1', 'w1_inline', 'w2']
    memory = False
    rounds = 5  # 2 processes on 2 cores: sensitive to any other load
    warmup = 0  # nothing to warm up but the pools, started in setup
    label_counts = [3, 2, 5, 2, 2, 4, 2, 3]  # in listing order
    pool_sizes = dict(naive=1, naive_w2=2, w1=1, w2=2)
    targets = [
        ('2 workers >= 1.8x 1 worker (VOC-like labels)', 'w2',
         'speedup_vs:w1', 1.8),
    ]

    def __init__(self, quick, device='cpu'):
        super().__init__(quick, device)
        if quick:  # spawning pools costs seconds: the smallest set in CI
            self.variants = list(self.quick_variants)

    def setup(self, variants):
        from PIL import Image

        from mmseg_sipe.utils.cam_io import cam_path, save_cam
        try:
            import pydensecrf.densecrf  # noqa: F401
        except ImportError as e:
            raise Unsupported(f'pydensecrf not installed: {e}')
        h, w = (48, 64) if self.quick else (375, 500)
        counts = self.label_counts[:2] if self.quick else self.label_counts
        self.tmp = tempfile.mkdtemp(prefix='bench_crf_')
        cam_dir = osp.join(self.tmp, 'cam')
        rng = np.random.RandomState(0)
        self.items = []
        for i, n_labels in enumerate(counts):
            img, _, _ = demo_image(h, w, seed=100 + i)
            p = osp.join(self.tmp, f'img_{i}.png')
            Image.fromarray(img).save(p)
            keys = np.concatenate([[0], np.sort(
                rng.choice(np.arange(1, 21), n_labels - 1, False))])
            save_cam(cam_path(cam_dir, f'img_{i}'), keys,
                     smooth_maps(n_labels, h, w, seed=100 + i))
            self.items.append(dict(name=f'img_{i}', img_path=p))
        self.cam_dir = cam_dir
        self.items_per_call = len(counts)
        self.calls = 0
        self.pools = {}
        import multiprocessing as mp

        from mmseg_sipe.pseudo_labels import crf_worker_pool
        for v, size in self.pool_sizes.items():  # they boot side by side
            if v in variants:
                self.pools[v] = mp.get_context('spawn').Pool(size) \
                    if v.startswith('naive') else crf_worker_pool(size)
        for v, pool in self.pools.items():
            pool.map(_pool_warm, range(self.pool_sizes[v]), chunksize=1)
        self.params = dict(
            image=f'{h}x{w} (demo render)', labels_per_image=counts,
            images_per_call=len(counts),
            crf='reference cam2ir: gt_prob 0.7, gauss(3,3), bilateral(50,5,'
            '10), 10 iters; fg + weak-bg CRF per image',
            naive='reference cam2ir.py (benchmarks/naive_sipe.py) in a '
            'started 1-process pool', naive_w2='the same, 2 processes',
            w1='make_crf_labels(pool=crf_worker_pool(1))',
            w2='make_crf_labels(pool=crf_worker_pool(2))',
            w1_inline='make_crf_labels(num_workers=1), in-process',
            w2_spawn='make_crf_labels(num_workers=2), starting its pool')

    def _out(self):
        self.calls += 1
        d = osp.join(self.tmp, f'out_{self.calls}')
        os.makedirs(d)
        return d

    def make(self, variant):
        from mmseg_sipe.pseudo_labels import make_crf_labels
        if variant.startswith('naive'):

            def run_naive():
                out = self._out()
                job = _NaiveCam2irJob(self.cam_dir, out)
                for _ in self.pools[variant].imap(job, self.items):
                    pass
                return out

            return run_naive

        workers = dict(w1=1, w1_inline=1, w2=2, w2_spawn=2)[variant]

        def run():
            out = self._out()
            s = make_crf_labels(self.items, self.cam_dir, out,
                                num_workers=workers,
                                pool=self.pools.get(variant))
            if s.failed or s.done != len(self.items):
                raise RuntimeError(f'make_crf_labels: {s.line("crf")}')
            return out

        return run

    def checks(self, outputs):
        from PIL import Image
        dirs = {v: d for v, d in outputs.items() if d}
        if 'naive' not in dirs:
            return {}
        names = sorted(f for f in os.listdir(dirs['naive'])
                       if f.endswith('.png'))
        res = {}
        for v, d in dirs.items():
            if v == 'naive':
                continue
            same = len(names) == len(self.items) and all(
                np.array_equal(
                    np.asarray(Image.open(osp.join(dirs['naive'], f))),
                    np.asarray(Image.open(osp.join(d, f)))) for f in names)
            res[v] = dict(labels_equal_to_naive=bool(same))
        return res

    def derived(self, stats):
        """``a_over_b`` = median(b) / median(a): 2 vs 1 worker, and ours vs
        the reference at the same number of processes."""
        med = {v: d.get('median_s') for v, d in stats.items()}
        out = {}
        for a, b in (('w2', 'w1'), ('naive_w2', 'naive'), ('w1', 'naive'),
                     ('w2', 'naive_w2'), ('w1_inline', 'w1')):
            if med.get(a) and med.get(b):
                out[f'{a}_over_{b}'] = med[b] / med[a]
        return out

    def teardown(self):
        for pool in getattr(self, 'pools', {}).values():
            pool.close()
            pool.join()
        shutil.rmtree(getattr(self, 'tmp', ''), ignore_errors=True)


class Crf21Case(CrfCase):
    """The worst case: every image with all 21 VOC labels (no image has
    them).  A streaming CRF this size is bound by memory bandwidth, which
    two processes share; its 2-worker ratio is reported, not targeted."""
    name = 'crf21'
    title = 'dense CRF cam2ir, 21 labels on every image (worst case), per ' \
        'image'
    variants = ['naive', 'naive_w2', 'w1', 'w2']
    quick_variants = ['naive', 'w1', 'w2']
    rounds = 4
    label_counts = [21] * 8
    targets = []
