"""``weights_only`` loading of one checkpoint file.

:func:`load_checkpoint_file` reads with ``weights_only=True``.  The allowlist
(:func:`safe_globals`) adds only what mmengine Runner checkpoints hold
besides tensors (numpy arrays/scalars, the message hub's ``HistoryBuffer``),
so ``tools/test.py``, ``make_cam`` and ``--resume`` read them without
unpickling.  A full (pickle) load happens only for files inside trusted
directories (:mod:`.trust`); elsewhere it is refused with one line saying how
to opt in.
"""
import contextlib
import os
import os.path as osp
import pickle
import re
from typing import Any, List, Optional

import numpy as np
import torch

from .errors import CheckpointReadError, UntrustedCheckpointError, first_line
from .trust import _original_load, is_trusted, real_path

_HB_METHODS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as a Runner checkpoint's message hub needs it: only the
    statistics methods of mmengine's ``HistoryBuffer`` (a general ``getattr``
    in the allowlist would let a file reach arbitrary attributes)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    owner = obj if isinstance(obj, type) else type(obj)
    allowed = set(_HB_METHODS) | set(
        getattr(HistoryBuffer, '_statistics_methods', {}))
    if issubclass(owner, HistoryBuffer) and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({owner.__name__}, {name!r}) is not allowed')


def safe_globals() -> List[Any]:
    """Globals allowed besides torch's own in ``weights_only`` loading: what
    mmengine Runner checkpoints hold (numpy arrays, scalars and dtypes; the
    message hub's ``HistoryBuffer`` and its statistics methods)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if np.lib.NumpyVersion(np.__version__) >= '2.0.0':
        from numpy._core import multiarray
    else:  # numpy 1.26 may hold a partial numpy._core: never look there
        from numpy.core import multiarray
    reconstruct = multiarray._reconstruct
    scalar = multiarray.scalar
    out: List[Any] = [reconstruct, scalar, np.ndarray, np.dtype, HistoryBuffer]
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        # written by numpy 1.x or 2.x: either name, the same functions
        out += [(reconstruct, f'{mod}._reconstruct'),
                (scalar, f'{mod}.scalar')]
    kinds = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16',
             'uint32', 'uint64', 'float16', 'float32', 'float64',
             'complex64', 'complex128', 'str', 'bytes', 'object')
    seen = set()
    for k in kinds:
        t = type(np.dtype(k))
        if t is not np.dtype and t not in seen:
            seen.add(t)
            out.append(t)
    out.append((_history_buffer_getattr, 'builtins.getattr'))
    return out


def _safe_globals_context():
    ctx = getattr(torch.serialization, 'safe_globals', None)
    return ctx(safe_globals()) if ctx else contextlib.nullcontext()


_TRUST_HINT = 'SIPE_TRUSTED_CHECKPOINT_DIRS'


def refused_global(exc: BaseException) -> str:
    """The global a ``weights_only`` load refused, from its error."""
    text = str(exc)
    m = re.search(r'Unsupported global: GLOBAL (\S+)', text)
    if m:
        return m.group(1)
    m = re.search(r'WeightsUnpickler error: ([^\n]+)', text)
    return (m.group(1) if m else first_line(exc)).strip()


def load_checkpoint_file(f: Any,
                         map_location: Any = None,
                         source: Optional[str] = None) -> Any:
    """:func:`torch.load` with ``weights_only=True`` (plus
    :func:`safe_globals`); a full unpickle only for a file inside a trusted
    directory (:func:`is_trusted`).

    Args:
        f: a path or a binary file object.
        map_location: as for :func:`torch.load`.
        source: how to name the checkpoint in errors (default: the path).

    Raises:
        UntrustedCheckpointError: the file needs a full unpickle and is not
            trusted -- one line naming it and ``SIPE_TRUSTED_CHECKPOINT_DIRS``.
        CheckpointReadError: truncated, corrupt or not a PyTorch file.
    """
    is_path = isinstance(f, (str, os.PathLike))
    name = source or (os.fspath(f) if is_path else '<checkpoint stream>')
    try:
        with _safe_globals_context():
            return _original_load(
                f, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if not (is_path and is_trusted(f)):
            where = (f'SIPE_TRUSTED_CHECKPOINT_DIRS={real_path(osp.dirname(os.fspath(f)))}'  # noqa: E501
                     if is_path else f'{_TRUST_HINT}=<its directory>')
            raise UntrustedCheckpointError(
                f'refusing to unpickle {name}: it is not a plain weights '
                f'file (it needs {refused_global(exc)}, and unpickling can '
                "run code) and it lies outside the run's work dir. If you "
                f'trust it, rerun with {where} (or save its state_dict as '
                'plain tensors)') from None
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:  # noqa: BLE001  (zip/EOF/format errors)
        raise CheckpointReadError(
            f'cannot read checkpoint {name}: {first_line(exc)}. Truncated by '
            'an interrupted save or download, or not a PyTorch checkpoint? '
            'Delete it and rerun (or point to another file)') from None
    # trusted (the run's own work dir or SIPE_TRUSTED_CHECKPOINT_DIRS)
    if hasattr(f, 'seek'):
        f.seek(0)
    try:
        return _original_load(f, map_location=map_location,
                              weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointReadError(
            f'cannot read checkpoint {name}: {first_line(exc)}') from None


@contextlib.contextmanager
def weights_only_torch_load():
    """Within the block, :func:`torch.load` of an untrusted source is
    ``weights_only`` whatever the caller asks (schemes we do not re-implement,
    e.g. ``s3://``, ``pavi://``)."""
    outer = torch.load

    def guarded(f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)) and is_trusted(f):
            return outer(f, *args, **kwargs)
        kwargs['weights_only'] = True
        with _safe_globals_context():
            return outer(f, *args, **kwargs)

    torch.load = guarded
    try:
        yield
    finally:
        torch.load = outer
