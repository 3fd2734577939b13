"""Peak memory of one call, as the operating system (or CUDA) sees it.

Why not ``tracemalloc``: it only sees allocations made through Python's
allocator, and torch / numpy / oneDNN buffers bypass it.  What we want is
the extra resident memory a call needs on top of what is already resident
(model weights, inputs), so:

* **CPU.** Linux keeps a per-process high-water mark of the resident set
  (``VmHWM`` in ``/proc/self/status``).  Writing ``5`` to
  ``/proc/self/clear_refs`` resets it to the current RSS (Linux >= 4.0), so
  ``peak = VmHWM after the call - VmRSS before it`` is the call's own peak,
  with no sampling gaps.  Before the call we ``gc.collect()`` and
  ``malloc_trim(0)`` so that freed-but-cached heap pages are returned and
  cannot hide a new allocation.  The benchmark also starts memory workers
  with ``MALLOC_MMAP_THRESHOLD_=131072`` (fixed, which turns off glibc's
  growing mmap threshold), so every large tensor is ``mmap``-ed and
  unmapped on free and the RSS follows live memory.  Where the reset is not
  available the fallback is ``ru_maxrss`` (the process lifetime peak), which
  is only valid in a fresh process whose set-up needed less memory than the
  call; the result then says ``method='ru_maxrss'``.
* **CUDA.** ``torch.cuda.max_memory_allocated`` after
  ``reset_peak_memory_stats``, minus the memory allocated before the call
  (the caching allocator's own reserve is not counted).
"""
import ctypes
import gc
import os
import re
import resource
import sys
from typing import Any, Callable, Dict, Optional, Tuple

MMAP_ENV = {'MALLOC_MMAP_THRESHOLD_': '131072',
            'MALLOC_TRIM_THRESHOLD_': '131072'}


def _status_kb(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            m = re.search(rf'^{field}:\s+(\d+) kB', f.read(), re.M)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def _malloc_trim() -> None:
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_hwm() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        return False
    hwm, rss = _status_kb('VmHWM'), _status_kb('VmRSS')
    return hwm is not None and rss is not None and hwm <= rss + 1024


def _maxrss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == 'darwin' else r * 1024


def measure_peak(fn: Callable[[], Any],
                 device: str = 'cpu') -> Tuple[Any, Dict[str, Any]]:
    """Run ``fn()`` once and return ``(result, info)``.

    ``info``: ``peak_mb`` (extra memory at the call's peak, MiB),
    ``base_mb`` (resident before the call), ``method``.
    """
    gc.collect()
    if device.startswith('cuda'):
        import torch
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        out = fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        return out, dict(peak_mb=peak / 2**20, base_mb=base / 2**20,
                         method='cuda.max_memory_allocated')
    _malloc_trim()
    rss = _status_kb('VmRSS')
    reset = rss is not None and _reset_hwm()
    if reset:
        rss = _status_kb('VmRSS')
        out = fn()
        peak_kb = _status_kb('VmHWM') - rss
        return out, dict(peak_mb=peak_kb / 1024, base_mb=rss / 1024,
                         method='VmHWM reset (clear_refs=5)')
    base = rss * 1024 if rss is not None else _maxrss_bytes()
    before = _maxrss_bytes()
    out = fn()
    peak = _maxrss_bytes() - base
    return out, dict(
        peak_mb=max(peak, 0) / 2**20,
        base_mb=base / 2**20,
        method='ru_maxrss' + ('' if before <= base else
                              ' (lower bound: set-up peak was higher)'))


def mmap_env() -> Dict[str, str]:
    """Environment for a memory worker (see the module doc)."""
    env = dict(os.environ)
    env.update(MMAP_ENV)
    return env
