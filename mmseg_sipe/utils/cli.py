"""One-line, actionable errors for the command-line tools.

Tracebacks are for developers: with ``SIPE_DEBUG=1`` the original exception is
re-raised.  Otherwise the usual user mistakes (incompatible stack, missing
file or dataset directory, a config naming an unregistered type, a bad config
key) end the process with exit code 1 and one line on stderr.
"""
import os
import sys
from typing import Callable, Optional

from .errors import UserError
from .version_gate import IncompatibleVersionError


def _one_line(msg: str) -> str:
    return ' '.join(str(msg).split())


def format_error(exc: BaseException) -> str:
    msg = _one_line(exc.args[0] if (isinstance(exc, KeyError) and exc.args)
                    else exc)
    if isinstance(exc, (IncompatibleVersionError, UserError)):
        return f'error: {msg}'
    if isinstance(exc, KeyError) and 'registry' in msg:
        # mmengine: "X is not in the mmseg::model registry. Please check ..."
        head = msg.split(' Please check')[0]
        return (f'error: {head}. Check the type name in the config, and that '
                "the config has custom_imports=dict(imports=['mmseg_sipe']) "
                '(run `pip install -e .` so mmseg_sipe is importable).')
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return f'error: {msg}'
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        # disk full, permission denied, ...: name the file, no traceback
        return f'error: {exc.strerror}: {exc.filename}'
    return f'error: {type(exc).__name__}: {msg}'


def _dist_rank() -> Optional[int]:
    """This process's rank in an initialised process group, else None."""
    try:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank()
    except Exception:  # noqa: BLE001
        pass
    return None


def _peer_gone(exc: BaseException) -> bool:
    """A collective failed because another rank exited (gloo/NCCL say
    "Connection closed by peer" and the like): that rank reports why."""
    text = str(exc)
    return any(s in text for s in ('Connection closed by peer',
                                   'Connection reset by peer',
                                   'Broken pipe'))


def _exit(code: int) -> None:
    """Leave; inside a distributed run without tearing the process group
    down (a peer may be gone, and gloo can abort at interpreter exit)."""
    if _dist_rank() is not None:
        import logging
        logging.shutdown()  # flush the run's log file
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def run_cli(main: Callable[[], object]) -> None:
    """Run ``main()``; turn expected user errors into one line + exit 1.

    In a distributed run, a rank other than 0 that fails only because a
    peer left (or that raises a quiet :class:`UserError`) exits with code 1
    and prints nothing: rank 0 prints the reason.
    """
    from .sharded import JobError
    try:
        return main()
    except (IncompatibleVersionError, FileNotFoundError, NotADirectoryError,
            KeyError, ValueError, JobError, OSError) as exc:
        if os.environ.get('SIPE_DEBUG'):
            raise
        if not getattr(exc, 'quiet', False):
            print(format_error(exc), file=sys.stderr)
        _exit(1)
    except RuntimeError as exc:
        rank = _dist_rank()
        if not rank or not _peer_gone(exc) or os.environ.get('SIPE_DEBUG'):
            raise
        _exit(1)
