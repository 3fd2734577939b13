"""mmseg_sipe.utils.heap: glibc thresholds while CRFs run.

The behaviour is checked by page-fault counts in fresh interpreters (the
thresholds are process-wide, so the pytest process is left alone): a loop
that allocates four 20 MB blocks and frees them all returns the memory to
the kernel with glibc's defaults (faulting it in again every round), and
keeps it with the retained thresholds.
"""
import json
import platform
import subprocess
import sys

import pytest

from mmseg_sipe.utils import heap

IS_GLIBC = sys.platform.startswith('linux') and \
    platform.libc_ver()[0] == 'glibc'

_PROBE = r'''
import json, resource, sys
import numpy as np
from mmseg_sipe.utils import heap

def rounds(n=6):
    """Minor faults of n rounds of: 4 x 20 MB blocks written, then freed."""
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        blocks = [np.ones(5 << 20, np.float32) for _ in range(4)]
        del blocks
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0

rounds(1)  # let the dynamic thresholds settle
out = {'default': rounds()}
with heap.heap_retention() as applied:
    rounds(1)
    out['retained'] = rounds()
out['applied'] = applied
out['restored'] = rounds()
print(json.dumps(out))
'''


def test_glibc_found_on_linux():
    # CI runs on glibc Linux: the tuning must not silently turn itself off
    assert (heap._glibc() is not None) == IS_GLIBC


@pytest.mark.skipif(not IS_GLIBC, reason='mallopt is glibc-only')
def test_retention_stops_refaulting_and_is_undone():
    p = subprocess.run([sys.executable, '-c', _PROBE], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out['applied'] is True
    # defaults: part of the freed 80 MB is given back to the kernel and
    # faulted in again every round (here ~8 MB a round: 12,000 faults)
    assert out['default'] >= 6 * 1024, out
    # retained: reused from the heap, (almost) no page faults
    assert out['retained'] <= out['default'] // 20, out
    # restored thresholds trim the free heap top again
    assert out['restored'] >= out['default'] // 2, out


def test_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(heap, '_LOADED', True)
    monkeypatch.setattr(heap, '_LIBC', None)
    assert heap.retain_freed_memory() is False
    assert heap.restore_heap_thresholds() is False
    with heap.heap_retention() as applied:
        assert applied is False


def test_disabled_context_changes_nothing(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, '_apply', lambda params: calls.append(params))
    with heap.heap_retention(enabled=False) as applied:
        assert applied is False
    assert calls == []
