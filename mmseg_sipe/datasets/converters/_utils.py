"""Helpers shared by the dataset converters: parallel map with a progress
bar and atomic text output."""
import multiprocessing
import sys
from typing import Any, Callable, List, Optional, Sequence, TextIO

from ...utils.fileio import atomic_write_bytes


def atomic_write_lines(path: str, lines: Sequence[str]) -> None:
    """Write ``lines`` (one per line, trailing newline) to ``path`` through a
    temp file and ``os.replace``."""
    atomic_write_bytes(path, ''.join(f'{line}\n' for line in lines).encode())


def run_tasks(func: Callable[[Any], Any],
              tasks: Sequence[Any],
              nproc: int = 1,
              file: Optional[TextIO] = None,
              chunksize: int = 8) -> List[Any]:
    """Apply ``func`` to every task with an mmengine ``ProgressBar``.

    Args:
        func (callable): A picklable (module-level) function of one task.
        tasks (Sequence): The tasks.
        nproc (int): Worker processes; ``<= 1`` runs in this process.
        file (TextIO, optional): Where the bar is drawn (default stdout).
        chunksize (int): Tasks sent to a worker at a time.

    Returns:
        list: ``func(task)`` for every task, in completion order. An
        exception raised by ``func`` is re-raised here unchanged.
    """
    if not tasks:
        return []
    from mmengine.utils import ProgressBar
    bar = ProgressBar(len(tasks), file=file or sys.stdout)
    results = []
    if nproc <= 1:
        for task in tasks:
            results.append(func(task))
            bar.update()
    else:
        chunksize = max(1, min(chunksize, len(tasks) // (4 * nproc) or 1))
        with multiprocessing.Pool(nproc) as pool:
            for res in pool.imap_unordered(func, tasks, chunksize=chunksize):
                results.append(res)
                bar.update()
    bar.file.write('\n')
    return results
