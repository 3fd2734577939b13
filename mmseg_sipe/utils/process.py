"""Process lifetime of a launched run: workers die with their launcher, and
one run at a time writes into a work dir.

``torch.distributed.run`` starts every worker in its own POSIX session, so a
launcher killed with SIGKILL (an OOM kill, ``kill -9``, a cluster pre-emption)
used to leave its workers training and writing into the work dir that a
``--resume`` then reads.  :func:`die_with_parent` asks the kernel to kill a
worker when its parent exits; :func:`lock_work_dir` makes a second run into a
work dir that is in use stop with one line.
"""
import errno
import os
import os.path as osp
import signal
import sys

PR_SET_PDEATHSIG = 1
LOCK_NAME = '.sipe_run.lock'
_held = {}  # work dir -> open lock file, kept for the process lifetime


class WorkDirInUseError(OSError):
    """Another live run holds the work dir."""


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Linux: have the kernel send ``sig`` to this process when its parent
    exits (``prctl(PR_SET_PDEATHSIG)``); if the parent is already gone, die
    now.  Returns False (and does nothing) elsewhere."""
    if not sys.platform.startswith('linux'):
        return False
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        parent = os.getppid()
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)
    return True


def lock_work_dir(work_dir: str) -> None:
    """Hold an exclusive lock on ``work_dir`` until this process exits.

    The lock is ``flock`` on ``<work_dir>/.sipe_run.lock``: the kernel drops
    it when the holder dies, however it dies, so a killed run never leaves a
    stale lock.  Calling it again for the same dir is a no-op.

    Raises:
        WorkDirInUseError: another live process holds the lock (the message names
            the work dir and that process).
    """
    import fcntl
    work_dir = osp.abspath(work_dir)
    if work_dir in _held:
        return
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    f = open(path, 'a+')
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            f.close()
            raise
        f.seek(0)
        holder = f.read().strip() or 'unknown'
        f.close()
        raise WorkDirInUseError(
            f'work dir {work_dir} is in use by another run (pid {holder}); '
            'wait for it to finish or stop it, or choose another --work-dir'
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f'{os.getpid()}\n')
    f.flush()
    _held[work_dir] = f
