"""Test-only: a full disk for one file name, imported through
``custom_imports``.

Once imported, every binary write to a file whose path contains
``$SIPE_TEST_DISK_FULL`` writes the first half of the data and then fails
with ``OSError(ENOSPC)`` -- what ``write(2)`` does when the disk fills up in
the middle of a checkpoint.  Other files are written normally.
"""
import builtins
import errno
import os

_real_open = builtins.open
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


def _open(file, mode='r', *args, **kwargs):
    f = _real_open(file, mode, *args, **kwargs)
    if (MATCH and isinstance(file, (str, os.PathLike)) and 'b' in mode
            and ('w' in mode or 'x' in mode) and MATCH in os.fspath(file)):
        return _FullDiskFile(f)
    return f


builtins.open = _open
