"""The quadratic seed step stays within its memory budget
(``SIPE_MAX_CHUNK_MB``) and gives the same seeds."""
import subprocess
import sys
import textwrap

import pytest
import torch

from mmseg_sipe.models.functional.sipe import (CHUNK_MB_ENV, seed_chunk_size,
                                               structure_seeds,
                                               structure_similarity)
from sipe_testing import ROOT, tool_env

MIB = 2**20


def _grid(h, w, scale=2.0):
    """Feature positions of an ``h x w`` image at ``scale`` (stride 16)."""
    return -(-round(h * scale) // 16) * -(-round(w * scale) // 16)


def test_dataset_images_are_not_chunked(monkeypatch):
    monkeypatch.delenv(CHUNK_MB_ENV, raising=False)
    for h, w in ((500, 500), (640, 640), (480, 640)):  # VOC / COCO maxima
        hw = _grid(h, w)
        assert seed_chunk_size(1, hw) == hw


def test_large_photos_are_chunked_within_the_budget(monkeypatch):
    monkeypatch.delenv(CHUNK_MB_ENV, raising=False)
    for h, w in ((1500, 2000), (3000, 4000)):
        for scale in (1.0, 2.0):
            hw = _grid(h, w, scale)
            b = seed_chunk_size(1, hw)
            assert 1 <= b < hw
            assert 3 * 4 * hw * b <= 512 * MIB
    hw = _grid(1500, 2000)
    assert hw == 47000  # the whole S: 47000^2 * 4 bytes = 8.8 GB
    monkeypatch.setenv(CHUNK_MB_ENV, '64')
    assert 3 * 4 * hw * seed_chunk_size(1, hw) <= 64 * MIB
    assert seed_chunk_size(2, hw) == seed_chunk_size(1, hw) // 2
    monkeypatch.setenv(CHUNK_MB_ENV, 'lots')
    with pytest.raises(ValueError, match=f"{CHUNK_MB_ENV}='lots'"):
        seed_chunk_size(1, hw)
    monkeypatch.setenv(CHUNK_MB_ENV, '0')
    with pytest.raises(ValueError, match=CHUNK_MB_ENV):
        seed_chunk_size(1, hw)


def test_budget_chunks_give_the_same_result(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    h, w = 21, 27
    norm_cam = torch.rand(2, 4, h, w, generator=gen)
    feat = torch.randn(2, 32, h, w, generator=gen)
    mask = torch.ones(2, 4, 1, 1)
    mask[1, 2] = 0
    monkeypatch.delenv(CHUNK_MB_ENV, raising=False)
    whole_c = structure_similarity(norm_cam, feat)
    whole_s = structure_seeds(norm_cam, feat, mask)
    assert torch.equal(whole_c,
                       structure_similarity(norm_cam, feat, chunk_size=h * w))
    monkeypatch.setenv(CHUNK_MB_ENV, '0.05')  # a few columns per block
    b = seed_chunk_size(2, h * w)
    assert 1 < b < h * w // 10
    chunked_c = structure_similarity(norm_cam, feat)
    assert torch.allclose(chunked_c, whole_c, rtol=0, atol=1e-6)
    assert torch.equal(structure_seeds(norm_cam, feat, mask), whole_s)


_PEAK = textwrap.dedent('''
    import torch
    from mmseg_sipe.models.functional.sipe import structure_seeds

    def status_kb(key):
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    h, w = 60, 100  # hw = 6000: all of S is 144 MB
    cam = torch.rand(1, 3, h, w, generator=gen)
    feat = torch.randn(1, 16, h, w, generator=gen)
    mask = torch.ones(1, 3, 1, 1)
    structure_seeds(cam[..., :8, :8], feat[..., :8, :8], mask)  # warm-up
    # reset the high-water mark (imports may have peaked higher than the
    # seed step), so VmHWM is the peak of this call alone
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    base = status_kb('VmRSS:')
    structure_seeds(cam, feat, mask)
    print((status_kb('VmHWM:') - base) // 1024)
''')


def _peak_mb(budget_mb):
    env = tool_env()
    env[CHUNK_MB_ENV] = str(budget_mb)
    # glibc returns every block above 64 KiB to the system when it is freed,
    # so the peak RSS is the peak of the live tensors (its default, dynamic
    # threshold keeps some freed blocks mapped, which blurs the measurement)
    env['MALLOC_MMAP_THRESHOLD_'] = '65536'
    out = subprocess.run([sys.executable, '-c', _PEAK],
                         cwd=ROOT,
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=300,
                         check=True).stdout
    return int(out.strip().splitlines()[-1])


@pytest.mark.integration
def test_peak_memory_follows_the_budget():
    """A 16 MiB budget keeps the seed step far below the 137 MiB of a whole
    ``S`` (which a large budget allocates, at least once)."""
    if not sys.platform.startswith('linux'):
        pytest.skip('measures peak RSS with glibc settings (Linux only)')
    assert _peak_mb(4096) >= 130
    assert _peak_mb(16) <= 40
