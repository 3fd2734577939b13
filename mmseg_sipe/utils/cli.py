"""One-line, actionable errors for the command-line tools.

Tracebacks are for developers: with ``SIPE_DEBUG=1`` the original exception is
re-raised.  Otherwise the usual user mistakes (incompatible stack, missing
file or dataset directory, a config naming an unregistered type, a bad config
key) end the process with exit code 1 and one line on stderr.
"""
import os
import sys
from typing import Callable

from .version_gate import IncompatibleVersionError


def _one_line(msg: str) -> str:
    return ' '.join(str(msg).split())


def format_error(exc: BaseException) -> str:
    msg = _one_line(exc.args[0] if (isinstance(exc, KeyError) and exc.args)
                    else exc)
    if isinstance(exc, IncompatibleVersionError):
        return f'error: {msg}'
    if isinstance(exc, KeyError) and 'registry' in msg:
        # mmengine: "X is not in the mmseg::model registry. Please check ..."
        head = msg.split(' Please check')[0]
        return (f'error: {head}. Check the type name in the config, and that '
                "the config has custom_imports=dict(imports=['mmseg_sipe']) "
                '(run `pip install -e .` so mmseg_sipe is importable).')
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return f'error: {msg}'
    return f'error: {type(exc).__name__}: {msg}'


def run_cli(main: Callable[[], object]) -> None:
    """Run ``main()``; turn expected user errors into one line + exit 1."""
    from .sharded import JobError
    try:
        main()
    except (IncompatibleVersionError, FileNotFoundError, NotADirectoryError,
            KeyError, ValueError, JobError) as exc:
        if os.environ.get('SIPE_DEBUG'):
            raise
        print(format_error(exc), file=sys.stderr)
        sys.exit(1)
