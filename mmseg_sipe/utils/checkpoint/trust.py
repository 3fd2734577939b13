"""Which checkpoints may be fully unpickled: the trust list.

A full (pickle) load, which can run code, happens only for files inside
trusted directories: the run's own work dir (:func:`trust_checkpoints`,
called by ``tools/train.py``) and the directories in
``SIPE_TRUSTED_CHECKPOINT_DIRS``.  Naming a file on the command line does not
trust it.  :func:`trust_checkpoints` wraps :func:`torch.load` so that a
trusted path loads with ``weights_only=False``; every other load keeps
torch's ``weights_only`` default.
"""
import contextlib
import os
import os.path as osp
import threading
from typing import Iterable, List, Optional

import torch

#: guards the trust list and every patch of torch / mmengine globals
_lock = threading.Lock()
_trusted: List[str] = []
#: :func:`torch.load` as torch defines it (before any wrapper of ours)
_original_load = torch.load
_installed = False


def real_path(path: str) -> str:
    """``path`` absolute, ``~`` expanded and symlinks resolved."""
    return osp.realpath(osp.abspath(osp.expanduser(path)))


def is_trusted(path) -> bool:
    """Whether ``path`` lies inside a trusted directory (or is a trusted file)."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    p = real_path(os.fspath(path))
    for t in list(_trusted) + _env_dirs():
        if p == t or p.startswith(t.rstrip(os.sep) + os.sep):
            return True
    return False


def _env_dirs() -> List[str]:
    raw = os.environ.get('SIPE_TRUSTED_CHECKPOINT_DIRS', '')
    return [real_path(d) for d in raw.split(os.pathsep) if d]


def _patched_load(f, *args, **kwargs):
    if 'weights_only' not in kwargs and is_trusted(f):
        kwargs['weights_only'] = False
    return _original_load(f, *args, **kwargs)


def trust_checkpoints(paths: Iterable[Optional[str]]) -> None:
    """Trust checkpoints below the directories ``paths`` for full (pickle)
    loading.

    Installs, once, a thin wrapper around :func:`torch.load` that passes
    ``weights_only=False`` only for trusted paths.  ``None`` entries are
    ignored.  Directories need not exist yet (a work dir before the first
    checkpoint).  An existing *file* is ignored: naming a checkpoint on the
    command line is no opt-in to unpickling it (use
    ``SIPE_TRUSTED_CHECKPOINT_DIRS`` for that).
    """
    global _installed
    with _lock:
        for p in paths:
            if p and not osp.isfile(real_path(p)):
                rp = real_path(p)
                if rp not in _trusted:
                    _trusted.append(rp)
        if not _installed:
            torch.load = _patched_load
            _installed = True


def untrust_all() -> None:
    """Forget every trusted path and restore :func:`torch.load`."""
    global _installed
    with _lock:
        _trusted.clear()
        torch.load = _original_load
        _installed = False


@contextlib.contextmanager
def trusted_checkpoints(paths: Iterable[Optional[str]]):
    """Context-manager form of :func:`trust_checkpoints`."""
    trust_checkpoints(paths)
    try:
        yield
    finally:
        untrust_all()
