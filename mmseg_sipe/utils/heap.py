"""Keep freed memory in the process while dense CRFs run (glibc only).

pydensecrf allocates and frees several ``n_labels x H*W`` float32 matrices
in every mean-field iteration (16 MB each for 21 labels at 500x375).  With
glibc's default (dynamic) thresholds those blocks are handed back to the
kernel (``munmap`` or a heap trim) and faulted in again, zero-filled, on the
next iteration: about 46,000 minor page faults (180 MB of fresh pages) per
``cam2ir`` image.  Raising the mmap and trim thresholds keeps the memory in
the heap for reuse; measured on the 2-core benchmark machine: 0 faults and
about 9% less time per image (``docs/benchmarks.md``).

The settings are process-wide.  CRF worker processes keep them for their
whole life (:func:`retain_freed_memory` in the pool initializer); the
in-process path uses :func:`heap_retention`, which restores fixed
thresholds afterwards (see :data:`RESTORED`) and returns the retained memory
with ``malloc_trim(0)``.  On a C library without ``mallopt`` (macOS, musl)
everything here is a no-op that returns ``False``.
"""
import ctypes
import ctypes.util
from contextlib import contextmanager
from typing import Iterator, Optional

# mallopt parameter numbers (glibc <malloc.h>)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

#: thresholds while CRFs run: blocks up to 256 MB come from the heap, up to
#: 512 MB of free heap top is kept, the heap grows in 64 MB steps.
RETAIN = {M_MMAP_THRESHOLD: 256 << 20, M_TRIM_THRESHOLD: 512 << 20,
          M_TOP_PAD: 64 << 20}
#: thresholds :func:`heap_retention` leaves behind.  glibc cannot switch its
#: dynamic thresholds back on once set; these are the values the dynamic
#: scheme converges to after large blocks were freed (mmap threshold at its
#: 32 MB cap, trim threshold twice that) and the default top pad of 0.
RESTORED = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 64 << 20,
            M_TOP_PAD: 0}

_LIBC: Optional[ctypes.CDLL] = None
_LOADED = False


def _glibc() -> Optional[ctypes.CDLL]:
    """The process's glibc, or None when the C library is something else."""
    global _LIBC, _LOADED
    if not _LOADED:
        _LOADED = True
        name = ctypes.util.find_library('c')
        try:
            libc = ctypes.CDLL(name) if name else None
        except OSError:
            libc = None
        if libc is not None and all(
                hasattr(libc, f) for f in ('mallopt', 'malloc_trim',
                                           'gnu_get_libc_version')):
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.mallopt.restype = ctypes.c_int
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
            libc.malloc_trim.restype = ctypes.c_int
            _LIBC = libc
    return _LIBC


#: the largest mmap threshold every glibc accepts (some refuse more than
#: half their 64 MB heap size)
_MMAP_CAP = 32 << 20


def _apply(params: dict) -> bool:
    libc = _glibc()
    if libc is None:
        return False
    ok = True
    for param, value in params.items():
        done = bool(libc.mallopt(param, int(value)))
        if not done and param == M_MMAP_THRESHOLD and value > _MMAP_CAP:
            done = bool(libc.mallopt(param, _MMAP_CAP))
        ok = done and ok
    return ok


def retain_freed_memory() -> bool:
    """Set the :data:`RETAIN` thresholds for the rest of this process.

    Returns:
        bool: True when glibc accepted all of them.
    """
    return _apply(RETAIN)


def restore_heap_thresholds() -> bool:
    """Set the :data:`RESTORED` thresholds and give free memory back."""
    ok = _apply(RESTORED)
    if ok:
        _glibc().malloc_trim(0)
    return ok


@contextmanager
def heap_retention(enabled: bool = True) -> Iterator[bool]:
    """``with heap_retention(): ...`` runs the block with :data:`RETAIN`
    thresholds and restores :data:`RESTORED` ones afterwards.

    Yields:
        bool: whether the thresholds were changed.
    """
    applied = retain_freed_memory() if enabled else False
    try:
        yield applied
    finally:
        if applied:
            restore_heap_thresholds()
