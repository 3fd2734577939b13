"""``cam2ir``: dense-CRF labels from IS-CAM files for a whole split."""
import multiprocessing as mp
import os.path as osp
from collections import deque
from multiprocessing.pool import Pool
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ..utils.heap import heap_retention, retain_freed_memory
from ..utils.sharded import JobSummary, run_sharded


def _crf_worker_init() -> None:
    """Pool initializer of CRF worker processes: keep freed memory in the
    heap for the worker's life (see :mod:`mmseg_sipe.utils.heap`)."""
    retain_freed_memory()


class _CRFJob:
    """Picklable per-image job run in pool workers: load the IS-CAM and the
    image, CRF, write the PNG atomically.  Returns None or the exception."""

    def __init__(self, cam_dir: str, out_dir: str, mode: str,
                 allow_pickle: bool, params: Dict):
        self.cam_dir = cam_dir
        self.out_dir = out_dir
        self.mode = mode
        self.allow_pickle = allow_pickle
        self.params = params

    def cam_file(self, item: Dict) -> str:
        """The localisation-map file of ``item`` (ours, or with
        ``allow_pickle`` a reference ``.npy`` when ours is absent)."""
        from ..utils.cam_io import cam_path
        path = cam_path(self.cam_dir, item['name'])
        if self.allow_pickle and not osp.exists(path):
            path = osp.join(self.cam_dir, item['name'] + '.npy')
        return path

    def __call__(self, item: Dict):
        try:
            from ..utils.cam_io import load_cam
            from ..datasets.transforms.loading import read_rgb
            from ..refine.crf import cam_to_ir_label, crf_refine_label
            from ..datasets.label_io import save_label_png
            path = self.cam_file(item)
            keys, cam = load_cam(path, allow_pickle=self.allow_pickle)
            img = read_rgb(item['img_path'])
            if img.shape[:2] != cam.shape[1:]:
                raise ValueError(f'{path} has size {cam.shape[1:]} but image '
                                 f"{item['img_path']} is {img.shape[:2]}")
            fn = cam_to_ir_label if self.mode == 'cam2ir' else \
                crf_refine_label
            label = fn(img, cam, keys, **self.params)
            save_label_png(osp.join(self.out_dir, item['name'] + '.png'),
                           label)
            return None
        except Exception as e:  # noqa: BLE001  (reported by run_sharded)
            return e


def crf_worker_pool(num_workers: int) -> Pool:
    """A started pool of ``num_workers`` CRF processes for
    :func:`make_crf_labels` (``pool=``), to reuse across calls.

    ``spawn`` processes with the CRF heap settings (:func:`_crf_worker_init`).
    Close it with ``pool.close(); pool.join()`` or use it in a ``with``
    block.
    """
    return mp.get_context('spawn').Pool(int(num_workers),
                                        initializer=_crf_worker_init)


def largest_first(items: Sequence[Dict], file_of) -> List[Dict]:
    """``items`` ordered for a process pool: unreadable first (their error
    shows at once), then by descending ``os.path.getsize(file_of(item))``.

    A CRF's cost grows with its number of labels, and so does the size of
    its IS-CAM file; handing out the largest jobs first keeps the workers
    from waiting on one last big image (longest-processing-time-first).
    Ties keep their order.
    """
    def key(it):
        try:
            return -osp.getsize(file_of(it))
        except OSError:
            return -float('inf')

    return sorted(items, key=key)


def _run_inline(job: _CRFJob, todo: Sequence[Dict]) -> Iterator[Tuple]:
    """``(item, job(item))`` in this process, the heap retained meanwhile."""
    if not todo:
        return
    with heap_retention():
        for it in todo:
            yield it, job(it)


def _run_in_pool(pool, job: _CRFJob, todo: Sequence[Dict],
                 window: int) -> Iterator[Tuple]:
    """``(item, job(item))`` in ``todo`` order from ``pool``, at most
    ``window`` jobs submitted ahead.  If the consumer stops early (a failed
    item), the submitted jobs are waited for, so a caller's pool is idle
    again and no output appears after the error."""
    pending: deque = deque()
    try:
        for it in todo:
            pending.append((it, pool.apply_async(job, (it, ))))
            if len(pending) >= window:
                first, res = pending.popleft()
                yield first, res.get()
        while pending:
            first, res = pending.popleft()
            yield first, res.get()
    finally:
        for _, res in pending:
            res.wait()


def _own_pool(job: _CRFJob, order: Sequence[Dict],
              num_workers: int) -> Iterator[Tuple]:
    """:func:`_run_in_pool` in a pool started for this call and terminated
    when it ends."""
    with crf_worker_pool(num_workers) as own:
        yield from _run_in_pool(own, job, order, 2 * num_workers)


def make_crf_labels(items: Sequence[Dict],
                    cam_dir: str,
                    out_dir: str,
                    mode: str = 'cam2ir',
                    num_workers: int = 1,
                    skip_bad: bool = False,
                    allow_pickle: bool = False,
                    crf_params: Optional[Dict] = None,
                    pool=None) -> JobSummary:
    """Write ``<out_dir>/<name>.png`` for this rank's share of ``items``.

    Args:
        mode: ``'cam2ir'`` -- IR labels (confident fg, bg, 255 uncertain;
            reference ``cam2ir.py``); ``'label'`` -- CRF of argmax IS-CAM
            (the COCO pseudo label, no ignore).
        num_workers: CRF processes inside this rank; ``<= 1`` runs the CRFs
            in this process.
        crf_params: overrides of the reference CRF parameters.
        pool: a started :func:`crf_worker_pool` to use instead of starting
            ``num_workers`` processes (it is left open, and idle when this
            returns or raises).

    CRF processes keep freed memory in glibc's heap
    (:mod:`mmseg_sipe.utils.heap`).  In this process that is done for the
    duration of the call, and glibc's fixed ``RESTORED`` thresholds stay
    afterwards (its dynamic ones cannot be switched back on); nothing
    changes off glibc or when the allocator was chosen or tuned by the user.
    With worker processes the images are handed out largest IS-CAM file
    first (:func:`largest_first`); the outputs do not depend on the order.
    """
    if mode not in ('cam2ir', 'label'):
        raise ValueError(f"mode must be 'cam2ir' or 'label', got {mode!r}")
    job = _CRFJob(cam_dir, out_dir, mode, allow_pickle, dict(crf_params or {}))

    def prefetch(todo):
        if pool is None and (num_workers <= 1 or len(todo) <= 1):
            return _run_inline(job, todo)
        order = largest_first(todo, job.cam_file)
        if pool is not None:
            size = getattr(pool, '_processes', None) or max(1, num_workers)
            return _run_in_pool(pool, job, order, 2 * size)
        return _own_pool(job, order, min(num_workers, len(order)))

    return run_sharded(
        items,
        output_of=lambda it: osp.join(out_dir, it['name'] + '.png'),
        work=lambda pair: None,
        name='cam2ir' if mode == 'cam2ir' else 'crf_labels',
        skip_bad=skip_bad,
        failures_file=osp.join(out_dir, 'failed.json'),
        prefetch=prefetch,
        async_write=False)
