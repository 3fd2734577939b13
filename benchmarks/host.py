"""Where a benchmark ran: the facts ``run.py`` and ``gpu_check.py`` record
about the host, and the environment of the processes they start.

No torch import: ``gpu_check.py --device cpu`` must be able to hide CUDA
before torch is loaded.
"""
import datetime
import os
import os.path as osp
import platform
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds')


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def load_average() -> Optional[List[float]]:
    """The 1, 5 and 15 minute load averages (``None`` where unknown)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def with_root_on_path(env: Dict[str, str]) -> Dict[str, str]:
    """``env`` with the repository first on ``PYTHONPATH`` (so that a
    started process imports ``benchmarks`` and ``mmseg_sipe`` from here)."""
    env['PYTHONPATH'] = os.pathsep.join(
        [ROOT] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    return env
