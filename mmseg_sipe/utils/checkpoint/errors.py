"""The checkpoint errors: one line each, naming the file and what to do.

Every error is a :class:`~mmseg_sipe.utils.errors.UserError`, printed by the
command-line tools as ``error: <message>``.  :func:`rank0_reports` keeps a
distributed run to one such line.
"""
from ..errors import PeerFailedError, UserError


class CheckpointError(UserError):
    """A checkpoint cannot be used; the message names the file."""


class UntrustedCheckpointError(CheckpointError):
    """The file needs a full unpickle and lies outside trusted directories."""


class CheckpointReadError(CheckpointError):
    """Not a readable PyTorch checkpoint (truncated, corrupt, other format)."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint's keys or shapes do not fit the model."""


class CheckpointDownloadError(CheckpointError):
    """Pretrained weights (a URL or ``torchvision://``) could not be
    downloaded."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (disk full, permissions)."""


def rank0_reports(exc: CheckpointError) -> CheckpointError:
    """``exc`` on rank 0; a quiet :class:`PeerFailedError` on the other
    ranks of a distributed run, which hit the same file and the same error
    (one line per failure, from rank 0)."""
    from mmengine.dist import get_rank
    if get_rank() != 0:
        return PeerFailedError(str(exc))
    return exc


def first_line(exc: BaseException) -> str:
    """The first non-blank line of ``exc``'s message (its type name if
    none), for one-line errors that quote an underlying one."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
