"""Checkpoint writes that never leave a truncated file.

:func:`write_checkpoint_bytes` writes through the package's one temp-file +
rename helper (:func:`mmseg_sipe.utils.fileio.atomic_write_bytes`, durably:
fsync before the rename), so a full disk or a killed process never leaves a
truncated ``epoch_N.pth``; a failure is one line
(:class:`~.errors.CheckpointWriteError`).  :class:`AtomicLocalBackend` is
mmengine's local file backend writing that way, registered as
``sipe_atomic_local`` (:func:`register_atomic_backend`); the class
subclasses mmengine's ``LocalBackend`` and is built on first registration
(``None`` until then).
"""
import errno
import os

from ..fileio import atomic_write_bytes
from .errors import CheckpointWriteError, first_line


def write_checkpoint_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably
    (:func:`~mmseg_sipe.utils.fileio.atomic_write_bytes` with ``fsync``).
    On failure the temporary file is removed and ``path`` is untouched (an
    older version stays intact).

    Raises:
        CheckpointWriteError: one line naming ``path`` and the OS error.
    """
    path = os.fspath(path)
    try:
        atomic_write_bytes(path, data, fsync=True)
    except OSError as exc:
        reason = exc.strerror or first_line(exc)
        hint = (' Free some space and rerun (with --resume to continue '
                'from the last complete checkpoint)'
                if exc.errno in (errno.ENOSPC, errno.EDQUOT) else '')
        raise CheckpointWriteError(
            f'cannot write {path}: {reason} (nothing half-written was '
            f'left behind).{hint}') from None


def _build_atomic_backend():
    from mmengine.fileio.backends import LocalBackend

    class AtomicLocalBackend(LocalBackend):
        """mmengine's local file backend with atomic ``put``/``put_text``
        (:func:`write_checkpoint_bytes`); everything else unchanged."""

        def put(self, obj: bytes, filepath) -> None:
            write_checkpoint_bytes(os.fspath(filepath), obj)

        def put_text(self, obj: str, filepath, encoding: str = 'utf-8'):
            write_checkpoint_bytes(os.fspath(filepath), obj.encode(encoding))

    AtomicLocalBackend.__qualname__ = 'AtomicLocalBackend'
    return AtomicLocalBackend


ATOMIC_BACKEND = 'sipe_atomic_local'
AtomicLocalBackend = None


def register_atomic_backend() -> None:
    """Register :class:`AtomicLocalBackend` as mmengine file backend
    ``sipe_atomic_local`` (``backend_args=dict(backend=...)``)."""
    global AtomicLocalBackend
    from mmengine.fileio import register_backend
    if AtomicLocalBackend is None:
        AtomicLocalBackend = _build_atomic_backend()
    register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
