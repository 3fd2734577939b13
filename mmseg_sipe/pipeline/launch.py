"""How the pipeline launches one step: the user-facing command in a
subprocess.

``['train', cfg, ...]`` runs as ``python -m mmseg_sipe.cli.train cfg ...``
(what ``tools/train.py`` runs), through ``torch.distributed.run`` on a free
port when the step shards over more than one process.  The package's parent
folder goes on ``PYTHONPATH`` (a checkout or an installed package alike) and
the pipeline's work dir on ``SIPE_TRUSTED_CHECKPOINT_DIRS``: the steps trust
the checkpoints the pipeline wrote itself.
"""
import os
import os.path as osp
import socket
import subprocess
import sys
from typing import Callable, Dict, List, Sequence

from ..utils.sharded import JobError

# the folder holding the ``mmseg_sipe`` package: on PYTHONPATH of every step
PACKAGE_PARENT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def free_port() -> int:
    """A TCP port free on this host now (for ``--master_port``)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def step_module(args: Sequence[str]) -> List[str]:
    """``['train', ...]`` -> ``['mmseg_sipe.cli.train', ...]``."""
    return [f'mmseg_sipe.cli.{args[0]}', *args[1:]]


def step_env(work_dir: str) -> Dict[str, str]:
    """The environment of a step: this one, plus the pipeline's work dir on
    ``SIPE_TRUSTED_CHECKPOINT_DIRS`` and :data:`PACKAGE_PARENT` on
    ``PYTHONPATH`` (both in front), unbuffered output."""
    env = dict(os.environ)
    # the pipeline trusts the checkpoints it wrote itself (torch>=2.6)
    env['SIPE_TRUSTED_CHECKPOINT_DIRS'] = os.pathsep.join(
        [work_dir] + ([env['SIPE_TRUSTED_CHECKPOINT_DIRS']]
                      if env.get('SIPE_TRUSTED_CHECKPOINT_DIRS') else []))
    env['PYTHONPATH'] = os.pathsep.join(
        [PACKAGE_PARENT] +
        ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.setdefault('PYTHONUNBUFFERED', '1')
    return env


def step_command(args: Sequence[str], nproc: int = 1) -> List[str]:
    """The command line of step ``args`` (``['make_cam', cfg, ...]``) with
    ``nproc`` processes (> 1: through ``torch.distributed.run``)."""
    if nproc > 1:
        return [sys.executable, '-m', 'torch.distributed.run',
                f'--nproc_per_node={nproc}',
                f'--master_port={free_port()}', '-m', *step_module(args),
                '--launcher', 'pytorch']
    return [sys.executable, '-m', *step_module(args)]


def run_step(args: Sequence[str], work_dir: str, nproc: int = 1,
             log: Callable[[str], None] = print) -> None:
    """Run step ``args`` (see :func:`step_command`), logging its command.

    Raises:
        JobError: the command failed (one line with its exit code).
    """
    cmd = step_command(args, nproc)
    log('  $ ' + ' '.join(cmd))
    proc = subprocess.run(cmd, env=step_env(work_dir))
    if proc.returncode != 0:
        raise JobError(
            f'step command failed with exit code {proc.returncode}: '
            f"{' '.join(cmd)} (rerun the pipeline to resume)")
