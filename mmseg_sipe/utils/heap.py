"""Keep freed memory in the process while dense CRFs run (glibc only).

pydensecrf allocates and frees several ``n_labels x H*W`` float32 matrices
in every mean-field iteration (16 MB each for 21 labels at 500x375).  With
glibc's default (dynamic) thresholds part of that memory goes back to the
kernel (``munmap`` or a heap trim) and is faulted in again, zero-filled, on
the next iteration: about 46,000 minor page faults per 21-label ``cam2ir``
image.  Raising the mmap and trim thresholds keeps it in the heap for reuse:
0 faults and 8-13% less time per image (``docs/benchmarks.md``).

The settings are process-wide.  CRF worker processes keep them for their
life (:func:`retain_freed_memory` in the pool initializer).  The in-process
path uses :func:`heap_retention`, which afterwards sets the fixed
:data:`RESTORED` thresholds (glibc cannot switch its dynamic thresholds back
on) and returns free memory with ``malloc_trim(0)``.

Nothing is changed, and every function returns ``False``, when the C library
is not glibc, when a ``malloc`` replacement is preloaded (``LD_PRELOAD``
naming jemalloc, tcmalloc, mimalloc, ...), or when the user tuned glibc's
allocator already (``MALLOC_*_`` variables or ``glibc.malloc`` tunables).
"""
import ctypes
import os
import threading
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

# mallopt parameter numbers (glibc <malloc.h>)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

#: thresholds while CRFs run: blocks up to 256 MB come from the heap (glibc
#: before 2.35 caps this at 32 MB, see :data:`MMAP_CAP`), up to 512 MB of
#: free heap top is kept, the heap grows in 64 MB steps.
RETAIN = {M_MMAP_THRESHOLD: 256 << 20, M_TRIM_THRESHOLD: 512 << 20,
          M_TOP_PAD: 64 << 20}
#: thresholds :func:`heap_retention` leaves behind: the mmap threshold at the
#: cap of glibc's dynamic scheme (32 MB on 64-bit), a trim threshold twice
#: that (the dynamic rule), and the default top pad of 0.
RESTORED = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 64 << 20,
            M_TOP_PAD: 0}
#: the largest mmap threshold older glibc accepts (half its 64 MB heap size)
MMAP_CAP = 32 << 20

_ENV_TUNING = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_',
               'MALLOC_TOP_PAD_', 'MALLOC_MMAP_MAX_', 'MALLOC_ARENA_MAX')
_LIBC: Optional[ctypes.CDLL] = None
_LOADED = False
_LOCK = threading.Lock()
_DEPTH = 0  # nesting of heap_retention() blocks in this process
_ACTIVE = False  # all RETAIN values set for the current blocks
_CHANGED = False  # some RETAIN value set: restore when the last block ends
_APPLIED: Dict[int, int] = {}  # what this process set last, by parameter


def _allocator_is_ours() -> bool:
    """False when the user preloaded another malloc or tuned glibc's."""
    preload = os.environ.get('LD_PRELOAD', '').lower()
    if 'malloc' in preload:  # jemalloc, tcmalloc, mimalloc, ...
        return False
    if any(k in os.environ for k in _ENV_TUNING):
        return False
    return 'glibc.malloc' not in os.environ.get('GLIBC_TUNABLES', '')


def _glibc() -> Optional[ctypes.CDLL]:
    """glibc's ``mallopt``/``malloc_trim`` holder, or None (not glibc, or an
    allocator the user chose)."""
    global _LIBC, _LOADED
    if not _LOADED:
        _LOADED = True
        try:
            is_glibc = os.confstr('CS_GNU_LIBC_VERSION').startswith('glibc')
        except (AttributeError, ValueError, OSError):
            is_glibc = False
        if is_glibc and _allocator_is_ours():
            libc = ctypes.CDLL(None)  # the symbols the process already has
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.mallopt.restype = ctypes.c_int
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
            libc.malloc_trim.restype = ctypes.c_int
            _LIBC = libc
    return _LIBC


def _apply(params: Dict[int, int]) -> Dict[int, int]:
    """``mallopt`` each of ``params``; an mmap threshold above what this
    glibc accepts falls back to :data:`MMAP_CAP`.

    Returns:
        dict: the values glibc accepted, by parameter (empty off glibc).
    """
    libc = _glibc()
    done: Dict[int, int] = {}
    if libc is None:
        return done
    for param, value in params.items():
        value = int(value)
        if not libc.mallopt(param, value):
            if param != M_MMAP_THRESHOLD or value <= MMAP_CAP or \
                    not libc.mallopt(param, MMAP_CAP):
                continue
            value = MMAP_CAP
        done[param] = value
    _APPLIED.update(done)
    return done


def applied_settings() -> Dict[int, int]:
    """What this module set in this process (parameter -> value)."""
    return dict(_APPLIED)


def retain_freed_memory() -> bool:
    """Set the :data:`RETAIN` thresholds for the rest of this process.

    Returns:
        bool: True when all three were set (the mmap threshold possibly at
        :data:`MMAP_CAP`).
    """
    return len(_apply(RETAIN)) == len(RETAIN)


def restore_heap_thresholds() -> bool:
    """Set the :data:`RESTORED` thresholds and give free memory back."""
    ok = len(_apply(RESTORED)) == len(RESTORED)
    if _glibc() is not None:
        _glibc().malloc_trim(0)
    return ok


@contextmanager
def heap_retention(enabled: bool = True) -> Iterator[bool]:
    """``with heap_retention(): ...`` runs the block with :data:`RETAIN`
    thresholds and leaves :data:`RESTORED` ones behind.

    Nested or concurrent blocks share one retention period: the first to
    enter sets it, the last to leave restores.  Whatever part glibc accepted
    is restored, even if another part was refused.

    Yields:
        bool: whether the thresholds are retained during the block.
    """
    global _DEPTH, _ACTIVE, _CHANGED
    if not enabled or _glibc() is None:
        yield False
        return
    with _LOCK:
        _DEPTH += 1
        if _DEPTH == 1:
            done = _apply(RETAIN)
            _ACTIVE, _CHANGED = len(done) == len(RETAIN), bool(done)
        active = _ACTIVE
    try:
        yield active
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _CHANGED:
                restore_heap_thresholds()
                _ACTIVE = _CHANGED = False
