"""What the sections of ``benchmarks/gpu_check.py`` share: the section
context (options, device, time budget), checks, and the bookkeeping of a
section's variants.

No torch import at module level: ``--device cpu`` must be able to hide CUDA
before torch is loaded.
"""
import contextlib
import gc
import time
import traceback
from typing import Any, Dict, Iterator, List

LOSS_RTOL = 1e-2  # first-step losses of AMP vs fp32 (relative)
CAM_ATOL = 1e-4  # IS-CAM float32: device vs CPU, exact vs naive
RW_MIN_AGREEMENT = 0.99  # random walk: dense (device) vs sparse (CPU)


def one_line(text: str, limit: int = 240) -> str:
    lines = [s.strip() for s in str(text).strip().splitlines() if s.strip()]
    line = lines[0] if lines else ''
    return line if len(line) <= limit else line[:limit - 3] + '...'


def exc_line(e: BaseException) -> str:
    return one_line(f'{type(e).__name__}: {e}')


def json_default(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
    except ImportError:
        pass
    return str(o)


class Clock:
    """A section's time budget."""

    def __init__(self, budget_s: float):
        self.t0 = time.monotonic()
        self.budget = float(budget_s)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def left(self) -> float:
        return self.budget - self.elapsed()

    def share(self, parts_left: int, frac: float = 0.85) -> float:
        """A monotonic deadline giving the next of ``parts_left`` parts
        (variants) its fair share of the time that is left."""
        return time.monotonic() + max(0.0, self.left()) * frac / max(
            1, parts_left)


class SkipVariant(Exception):
    """A variant that does not exist on this device (reason in message)."""


def passes(value, op: str, threshold) -> bool:
    """``value OP threshold`` for ``op`` in ``>=``, ``<=``, ``==``."""
    if op == '>=':
        return value >= threshold
    if op == '<=':
        return value <= threshold
    if op == '==':
        return value == threshold
    raise ValueError(f'unknown comparison {op!r}')


def check(name: str, value, op: str, threshold) -> Dict[str, Any]:
    """A named check; ``passed`` is ``None`` when nothing was measured."""
    ok = None if value is None else bool(passes(value, op, threshold))
    return dict(name=name, value=value, op=op, threshold=threshold,
                passed=ok)


def rel(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(b), 1e-12)


def _on_cuda(device) -> bool:
    return str(device).startswith('cuda')


class Ctx:
    """What a section gets: options, device, budget, output directory."""

    def __init__(self, name: str, args, budget_s: float):
        import torch
        self.name = name
        self.args = args
        self.tiny = bool(args.tiny)
        self.device = torch.device('cuda', 0) if args.device == 'cuda' \
            else torch.device('cpu')
        self.cuda = self.device.type == 'cuda'
        self.clock = Clock(budget_s)
        self.out_dir = args.out_dir

    def pick(self, tiny, full):
        """``tiny`` in a ``--tiny`` rehearsal, else ``full``."""
        return tiny if self.tiny else full

    def log(self, msg: str) -> None:
        print(f'[gpu_check] {self.name}: {msg}', flush=True)

    def sync(self) -> None:
        if self.cuda:
            import torch
            torch.cuda.synchronize(self.device)

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            import torch
            torch.cuda.empty_cache()

    def need(self, seconds: float, what: str) -> None:
        """Refuse to start ``what`` with less than ``seconds`` left."""
        if self.clock.left() < seconds:
            raise TimeoutError(
                f'out of time budget before {what} ({self.clock.left():.0f} '
                f's of {self.clock.budget:.0f} s left)')

    def start_peak(self, device) -> None:
        """On a CUDA ``device``: free cached memory, reset the peak."""
        if _on_cuda(device):
            import torch
            self.free()
            torch.cuda.reset_peak_memory_stats(device)

    def record_peak(self, res: Dict[str, Any], device) -> None:
        """On a CUDA ``device``: the peak allocated since
        :meth:`start_peak`, into ``res``."""
        if _on_cuda(device):
            import torch
            res['peak_mb'] = torch.cuda.max_memory_allocated(device) / 2**20
            res['memory_method'] = 'torch.cuda.max_memory_allocated'

    @contextlib.contextmanager
    def variant(self, v: str, res: Dict[str, Any]) -> Iterator[None]:
        """Run one variant: a :class:`SkipVariant` or any error is recorded
        in ``res`` and logged, and the next variant runs."""
        try:
            yield
        except SkipVariant as e:
            res.update(status='skipped', reason=str(e))
            self.log(f'{v}: skipped ({e})')
        except Exception as e:  # noqa: BLE001  (recorded, next variant)
            res.update(status='error', reason=exc_line(e),
                       traceback=traceback.format_exc()[-3000:])
            self.log(f'{v}: ERROR {exc_line(e)}')


def set_precision(ctx: Ctx, tf32: bool, benchmark: bool) -> Dict[str, Any]:
    """State a section's cuDNN / TF32 settings explicitly and return them."""
    import torch
    torch.backends.cudnn.benchmark = bool(benchmark)
    torch.backends.cudnn.allow_tf32 = bool(tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    return dict(cudnn_benchmark=bool(benchmark), cudnn_allow_tf32=bool(tf32),
                matmul_allow_tf32=False)


def time_images(run, count: int, deadline: float):
    """``run(0)`` once to warm up, then ``run(i)`` for images ``0..count-1``
    (fewer when the monotonic ``deadline`` passes); returns the outputs and
    ``images``, ``images_per_s``, ``s_per_image``."""
    run(0)
    outs = []
    t0 = time.perf_counter()
    for i in range(count):
        outs.append(run(i))
        if time.monotonic() > deadline:
            break
    dt = time.perf_counter() - t0
    return outs, dict(images=len(outs), images_per_s=len(outs) / dt,
                      s_per_image=dt / len(outs))


def add_speedups(variants: Dict[str, Any], baseline: str) -> None:
    """``speedup_vs_baseline`` (images/s ratio) of every variant that ran."""
    base_ips = variants.get(baseline, {}).get('images_per_s')
    for r in variants.values():
        if base_ips and r.get('images_per_s'):
            r['speedup_vs_baseline'] = r['images_per_s'] / base_ips


def _variant_failures(variants: Dict[str, Any]) -> List[str]:
    return [f"{v}: {r.get('reason')}" for v, r in variants.items()
            if r.get('status') == 'error']


def section_result(params: Dict[str, Any], variants: Dict[str, Any],
                   baseline: str, checks: List[Dict]) -> Dict[str, Any]:
    """What a section of variants returns (its errors: the variants that
    failed)."""
    return dict(params=params, variants=variants, baseline=baseline,
                checks=checks, errors=_variant_failures(variants))
