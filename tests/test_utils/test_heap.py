"""mmseg_sipe.utils.heap: glibc thresholds while CRFs run.

Real glibc behaviour is checked in a fresh interpreter (the thresholds are
process-wide): after four 20 MB blocks are freed, glibc's defaults hand the
memory back to the kernel, the retained thresholds keep it as free heap
(``mallinfo2().fordblks``), and the restored ones trim it again.  The
control flow (fallbacks, partial failures, nesting, opt-outs) runs against
a recording stand-in for libc.
"""
import json
import os
import subprocess
import sys

import pytest

from mmseg_sipe.utils import heap

_PROBE = r'''
import ctypes, json
import numpy as np
from mmseg_sipe.utils import heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
        'fsmblks', 'uordblks', 'fordblks', 'keepcost')]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2

def free_mb_after_round():
    """Free heap (MB) kept after 4 x 20 MB blocks are written and freed."""
    blocks = [np.ones(5 << 20, np.float32) for _ in range(4)]
    del blocks
    return libc.mallinfo2().fordblks / 2**20

out = {'default': max(free_mb_after_round() for _ in range(3))}
with heap.heap_retention() as active:
    out['retained'] = min(free_mb_after_round() for _ in range(3))
out['active'] = active
out['restored'] = max(free_mb_after_round() for _ in range(3))
out['settings'] = heap.applied_settings()
print(json.dumps(out))
'''


def _is_glibc():
    try:
        return os.confstr('CS_GNU_LIBC_VERSION').startswith('glibc')
    except (AttributeError, ValueError, OSError):
        return False


def test_glibc_found_here():
    # CI runs on glibc Linux with the default allocator: the tuning must not
    # silently turn itself off there
    assert _is_glibc() and heap._allocator_is_ours()
    assert heap._glibc() is not None


@pytest.mark.integration
def test_real_glibc_keeps_then_returns_freed_memory():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('MALLOC_')}
    p = subprocess.run([sys.executable, '-c', _PROBE], capture_output=True,
                       text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out['active'] is True
    assert out['default'] < 40, out  # defaults: given back to the kernel
    assert out['retained'] >= 78, out  # all 80 MB kept for reuse
    assert out['restored'] < 40, out  # fixed thresholds trim again
    # what is left behind are the documented RESTORED values
    assert {int(k): v for k, v in out['settings'].items()} == heap.RESTORED


class FakeLibc:
    """Records mallopt/malloc_trim; refuses what it is told to."""

    def __init__(self, refuse=lambda param, value: False):
        self.calls, self.trims, self.refuse = [], 0, refuse

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 0 if self.refuse(param, value) else 1

    def malloc_trim(self, pad):
        self.trims += 1
        return 1


@pytest.fixture
def fake(monkeypatch):
    def install(libc):
        monkeypatch.setattr(heap, '_LOADED', True)
        monkeypatch.setattr(heap, '_LIBC', libc)
        monkeypatch.setattr(heap, '_APPLIED', {})
        monkeypatch.setattr(heap, '_DEPTH', 0)
        monkeypatch.setattr(heap, '_ACTIVE', False)
        monkeypatch.setattr(heap, '_CHANGED', False)
        return libc

    return install


def test_mmap_threshold_falls_back_to_the_cap(fake):
    libc = fake(FakeLibc(lambda p, v: p == heap.M_MMAP_THRESHOLD and
                         v > heap.MMAP_CAP))
    assert heap.retain_freed_memory() is True
    assert heap.applied_settings()[heap.M_MMAP_THRESHOLD] == heap.MMAP_CAP
    assert (heap.M_MMAP_THRESHOLD, heap.MMAP_CAP) in libc.calls


def test_partly_refused_settings_are_still_restored(fake):
    libc = fake(FakeLibc(lambda p, v: p == heap.M_TRIM_THRESHOLD))
    with heap.heap_retention() as active:
        assert active is False  # not all of RETAIN took
        assert heap.applied_settings()[heap.M_TOP_PAD] == \
            heap.RETAIN[heap.M_TOP_PAD]
    # the accepted parts were undone and memory trimmed
    assert heap.applied_settings()[heap.M_TOP_PAD] == 0
    assert heap.applied_settings()[heap.M_MMAP_THRESHOLD] == \
        heap.RESTORED[heap.M_MMAP_THRESHOLD]
    assert libc.trims == 1


def test_nested_blocks_retain_once_and_restore_once(fake):
    libc = fake(FakeLibc())
    with heap.heap_retention() as outer:
        with heap.heap_retention() as inner:
            assert outer is True and inner is True
        assert libc.trims == 0  # the outer block still runs CRFs
        assert heap.applied_settings() == heap.RETAIN
    assert heap.applied_settings() == heap.RESTORED and libc.trims == 1
    assert len(libc.calls) == len(heap.RETAIN) + len(heap.RESTORED)


def test_nothing_changes_when_refused_entirely_or_disabled(fake):
    libc = fake(FakeLibc(lambda p, v: True))
    with heap.heap_retention() as active:
        assert active is False
    assert libc.trims == 0 and heap.applied_settings() == {}
    libc = fake(FakeLibc())
    with heap.heap_retention(enabled=False) as active:
        assert active is False
    assert libc.calls == []


@pytest.mark.parametrize('env', [
    dict(LD_PRELOAD='/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'),
    dict(MALLOC_ARENA_MAX='2'),
    dict(MALLOC_TRIM_THRESHOLD_='1000000'),
    dict(GLIBC_TUNABLES='glibc.malloc.hugetlb=1'),
])
def test_users_allocator_choice_is_left_alone(monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(heap, '_LOADED', False)
    monkeypatch.setattr(heap, '_LIBC', None)
    assert heap._allocator_is_ours() is False
    assert heap._glibc() is None
    assert heap.retain_freed_memory() is False
    with heap.heap_retention() as active:
        assert active is False


def test_no_op_without_glibc(fake):
    fake(None)
    assert heap.retain_freed_memory() is False
    assert heap.restore_heap_thresholds() is False
    with heap.heap_retention() as active:
        assert active is False
