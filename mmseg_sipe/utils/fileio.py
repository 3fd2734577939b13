"""Atomic file output: the one temp-file + rename helper of the package.

Every output a tool may skip on a rerun (localisation maps, label PNGs, JSON
results) is written through :func:`atomic_write`: the data goes to
``<path>.tmp<pid>`` in the same folder and is renamed onto ``<path>`` only
when complete.  A failed write (disk full, an exception while encoding)
removes its temp file before the error propagates, so an existing ``<path>``
is always complete.  A process killed mid-write (``SIGKILL``, power loss) can
still leave a temp file behind; :func:`remove_stale_temps` deletes those at
the start of the next run.  With ``fsync=True`` (checkpoints) the data and
the rename are flushed to disk before the call returns.
"""
import contextlib
import os
import os.path as osp
import re
from typing import IO, Iterator, List

#: ``<name>.tmp<digits>`` (ours) and ``<name>.tmp<digits>.png`` (label PNGs
#: written by earlier versions): the only names :func:`remove_stale_temps`
#: touches.
TEMP_PATTERN = re.compile(r'^.+\.tmp\d+(\.png)?$')


def temp_path(path: str) -> str:
    """The temp name :func:`atomic_write` uses for ``path``."""
    return f'{path}.tmp{os.getpid()}'


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb',
                 fsync: bool = False) -> Iterator[IO]:
    """Open a temp file next to ``path``; rename it onto ``path`` on success.

    On any exception inside the block (or while flushing / closing /
    renaming) the temp file is removed and the exception re-raised
    unchanged, so the caller's message (e.g. ``[Errno 28] No space left on
    device``) reaches the user.

    Args:
        path (str): Final file name; its folder is created if needed.
        mode (str): ``'wb'`` (default) or ``'w'`` (text, UTF-8).
        fsync (bool): Durable write: fsync the data before the rename and
            the folder after it (best effort), so that a power loss right
            after the call leaves the new file, not an empty one.

    Example::

        with atomic_write('out/x.npz') as f:
            np.savez(f, a=a)
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, mode,
                  **({} if 'b' in mode else dict(encoding='utf-8'))) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    if fsync:
        _fsync_folder(path)


def _fsync_folder(path: str) -> None:
    """Make the rename onto ``path`` durable (best effort: some file
    systems cannot open or fsync a folder)."""
    with contextlib.suppress(OSError):
        dfd = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write_bytes(path: str, data: bytes, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_write` (``fsync``:
    durably, as for checkpoints)."""
    with atomic_write(path, fsync=fsync) as f:
        f.write(data)


def remove_stale_temps(directory: str) -> List[str]:
    """Delete leftover temp files of :func:`atomic_write` in ``directory``.

    Only plain files whose name matches :data:`TEMP_PATTERN` are removed (not
    recursive); a missing folder is fine.  Call it before any process of
    the run starts writing into ``directory``.

    Returns:
        list[str]: The removed paths.
    """
    if not directory or not osp.isdir(directory):
        return []
    removed = []
    for entry in os.scandir(directory):
        if TEMP_PATTERN.match(
                entry.name) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.remove(entry.path)
                removed.append(entry.path)
    return sorted(removed)
