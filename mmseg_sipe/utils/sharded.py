"""Per-image jobs sharded across ranks: resumable, atomic, with progress.

Used by every pseudo-label step (IS-CAM generation, CRF, random walk).  Each
rank takes ``items[rank::world]`` -- every image exactly once whatever the
number of ranks, no padded duplicates -- skips items whose output already
exists (outputs are written atomically, so an existing file is complete), and
the counts of done / skipped / failed items are summed over ranks.
"""
import json
import os
import os.path as osp
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from .fileio import atomic_write, remove_stale_temps


def dist_info():
    """``(rank, world)`` of the default process group, ``(0, 1)`` if none."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_dist_for_tool(launcher: str) -> torch.device:
    """Initialise ``torch.distributed`` for a tool and return its device.

    ``launcher='pytorch'``: env vars from torchrun; NCCL + ``cuda:LOCAL_RANK``
    with CUDA, gloo + CPU without.
    """
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    if launcher == 'none':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if launcher != 'pytorch':
        raise ValueError(f'launcher {launcher!r} is not supported by this '
                         "tool; use 'none' or 'pytorch'")
    from .process import die_with_parent
    die_with_parent()  # a killed launcher takes its workers down
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            dist.init_process_group(backend='nccl')
        return torch.device('cuda', local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    return torch.device('cpu')


class JobError(RuntimeError):
    """A per-image job failed; the message names the item."""


@dataclass
class JobSummary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: List[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self, what: str) -> str:
        return (f'{what}: {self.done} done, {self.skipped} skipped (already '
                f'present), {self.failed} failed, {self.seconds:.1f} s')


def _label(item) -> str:
    return item.get('name', item) if isinstance(item, dict) else item


def clean_stale_temps(dirs: Iterable[str]) -> List[str]:
    """Remove temp files a killed run left in ``dirs`` (rank 0 only), then
    wait for every rank, so no rank deletes a file another one is writing.

    Returns:
        list[str]: The removed paths (empty on ranks other than 0).
    """
    rank, world = dist_info()
    removed: List[str] = []
    if rank == 0:
        for d in sorted({d for d in dirs if d}):
            removed += remove_stale_temps(d)
        if removed:
            print_log(
                f'removed {len(removed)} temp file(s) left by an interrupted '
                f'run (first: {removed[0]})',
                logger='current')
    if world > 1:
        dist.barrier()
    return removed


def run_sharded(items: Sequence,
                output_of: Callable[[object], str],
                work: Callable[[object], Optional[Callable[[], None]]],
                name: str = 'job',
                skip_bad: bool = False,
                failures_file: Optional[str] = None,
                prefetch: Optional[Callable[[Sequence], Iterable]] = None,
                async_write: bool = True,
                temp_dirs: Optional[Iterable[str]] = None) -> JobSummary:
    """Run ``work`` on this rank's share of ``items``.

    Args:
        items: all items (identical on every rank).
        output_of: item -> output path; existing outputs are skipped.
        work: item (or the prefetched value for it) -> ``None`` or a
            zero-argument *writer* callable, run on a background thread so
            writing overlaps the next item's compute.  Must write its output
            atomically (:func:`mmseg_sipe.utils.fileio.atomic_write`).
        name: label for progress and the summary line.
        skip_bad: record failures and go on (default: stop at the first
            error, which names the item whose compute or write failed).
        failures_file: where rank 0 writes the list of failed items (JSON).
        prefetch: optional ``todo -> iterator of (item, payload)`` (e.g. a
            DataLoader with workers); ``work`` then gets ``(item, payload)``.
        async_write: run writers on a background thread.
        temp_dirs: folders whose stale temp files (left by a killed run) are
            removed before any work starts; default: the folders of
            ``output_of(item)``.

    An item counts as done once its writer has finished; a writer that
    fails (e.g. disk full) is reported under its own item.
    """
    rank, world = dist_info()
    t0 = time.time()
    items = list(items)
    if temp_dirs is None:
        temp_dirs = {osp.dirname(output_of(it)) for it in items}
    clean_stale_temps(temp_dirs)
    mine = items[rank::world]
    summary = JobSummary()
    todo = []
    for it in mine:
        if osp.exists(output_of(it)):
            summary.skipped += 1
        else:
            todo.append(it)
    bar = ProgressBar(len(todo)) if (rank == 0 and todo) else None
    pool = ThreadPoolExecutor(max_workers=1) if async_write else None
    pending: List[Tuple[str, Future]] = []

    def _fail(label, e: BaseException) -> None:
        msg = f'{label}: {type(e).__name__}: {e}'
        if not skip_bad:
            raise JobError(f'{name} failed on {msg} (rerun skips '
                           'finished items; --skip-bad records '
                           'failures and goes on)') from e
        summary.failed += 1
        summary.failures.append(msg)
        print_log(f'[{name}] failed: {msg}', logger='current')

    def _flush(block: bool) -> None:
        while pending and (block or pending[0][1].done()):
            label, fut = pending.pop(0)
            try:
                fut.result()
            except Exception as e:  # noqa: BLE001  (named after its item)
                _fail(label, e)
            else:
                summary.done += 1

    stream = prefetch(todo) if prefetch else ((it, None) for it in todo)
    try:
        for item, payload in stream:
            label = _label(item)
            try:
                if isinstance(payload, BaseException):
                    raise payload
                writer = work(item if prefetch is None else (item, payload))
                if writer is None:
                    summary.done += 1
                elif pool is not None:
                    pending.append((label, pool.submit(writer)))
                else:
                    writer()
                    summary.done += 1
            except Exception as e:  # noqa: BLE001
                _fail(label, e)
            _flush(block=len(pending) > 4)
            if bar is not None:
                bar.update()
        _flush(block=True)
    finally:
        # an early exit (a failed item) ends the producer now: its worker
        # pool and any context it holds are closed before the error surfaces
        close = getattr(stream, 'close', None)
        if close is not None:
            close()
        if pool is not None:
            pool.shutdown(wait=True)
    if bar is not None:
        print()
    summary.seconds = time.time() - t0
    return _reduce(summary, failures_file)


def _reduce(summary: JobSummary, failures_file: Optional[str]) -> JobSummary:
    rank, world = dist_info()
    if world > 1:
        t = torch.tensor([summary.done, summary.skipped, summary.failed],
                         dtype=torch.long)
        dist.all_reduce(t)
        gathered: List[List[str]] = [None] * world  # type: ignore
        dist.all_gather_object(gathered, summary.failures)
        summary = JobSummary(*t.tolist(),
                             failures=[f for g in gathered for f in g],
                             seconds=summary.seconds)
    if failures_file and rank == 0 and summary.failures:
        with atomic_write(failures_file, 'w') as f:
            json.dump(summary.failures, f, indent=1)
    return summary
