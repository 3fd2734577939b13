"""Test-only: a full disk for one file name, imported through
``custom_imports``.

Once imported, every binary write to a file whose path contains
``$SIPE_TEST_DISK_FULL`` writes the first half of the data and then fails
with ``OSError(ENOSPC)`` -- what ``write(2)`` does when the disk fills up in
the middle of a checkpoint.  Other files are written normally.  In-process
tests patch ``builtins.open`` with :func:`full_disk_open` instead.
"""
import builtins
import errno
import os

MATCH = os.environ.get('SIPE_TEST_DISK_FULL', '')


class _FullDiskFile:

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[:len(data) // 2])
        self._f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def full_disk_open(match: str):
    """``builtins.open`` (as it is now), except that binary writes to a path
    containing ``match`` hit a full disk."""
    real_open = builtins.open

    def _open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if (match and isinstance(file, (str, os.PathLike)) and 'b' in mode
                and ('w' in mode or 'x' in mode) and match in os.fspath(file)):
            return _FullDiskFile(f)
        return f

    return _open


if MATCH:
    builtins.open = full_disk_open(MATCH)
