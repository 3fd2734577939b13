"""Loading the user's own mmengine checkpoints on torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, and a checkpoint
written by mmengine's Runner (message hub, numpy scalars) cannot be loaded
that way, so ``--resume`` fails.  Disabling the check globally
(``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``) would also unpickle downloaded or
third-party files.  Instead we trust, explicitly, only checkpoints that live in
directories the user named (the run's work dir, a checkpoint passed on the
command line, ``SIPE_TRUSTED_CHECKPOINT_DIRS``); every other file keeps
torch's ``weights_only`` loading.
"""
import contextlib
import os
import os.path as osp
import threading
from typing import Iterable, List, Optional

import torch

_lock = threading.Lock()
_trusted: List[str] = []
_original_load = torch.load
_installed = False


def _real(path: str) -> str:
    return osp.realpath(osp.abspath(osp.expanduser(path)))


def is_trusted(path) -> bool:
    """Whether ``path`` lies inside a trusted directory (or is a trusted file)."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    p = _real(os.fspath(path))
    for t in list(_trusted) + _env_dirs():
        if p == t or p.startswith(t.rstrip(os.sep) + os.sep):
            return True
    return False


def _env_dirs() -> List[str]:
    raw = os.environ.get('SIPE_TRUSTED_CHECKPOINT_DIRS', '')
    return [_real(d) for d in raw.split(os.pathsep) if d]


def _patched_load(f, *args, **kwargs):
    if 'weights_only' not in kwargs and is_trusted(f):
        kwargs['weights_only'] = False
    return _original_load(f, *args, **kwargs)


def trust_checkpoints(paths: Iterable[Optional[str]]) -> None:
    """Trust checkpoints at or below ``paths`` for full (pickle) loading.

    Installs, once, a thin wrapper around :func:`torch.load` that passes
    ``weights_only=False`` only for trusted paths.  ``None`` entries are
    ignored.  Directories need not exist yet (a work dir before the first
    checkpoint).
    """
    global _installed
    with _lock:
        for p in paths:
            if p:
                rp = _real(p)
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


def build_and_load(model_cfg: dict, checkpoint: str, device) -> 'torch.nn.Module':
    """Build ``model_cfg`` from ``MODELS`` (backbone ``init_cfg`` dropped: the
    weights come from ``checkpoint``), load ``checkpoint`` with strict key
    matching and return the model in eval mode on ``device``."""
    import copy
    import os.path as osp

    from mmengine.runner import load_checkpoint

    from mmseg_sipe.registry import MODELS
    cfg = copy.deepcopy(model_cfg)
    if isinstance(cfg.get('backbone'), dict):
        cfg['backbone'].pop('init_cfg', None)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    model = MODELS.build(cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    logger='silent')
    return model.to(device).eval()
