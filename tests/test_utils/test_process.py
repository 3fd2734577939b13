"""Workers die with their launcher; one run at a time per work dir."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mmseg_sipe.utils.process import (LOCK_NAME, WorkDirInUseError,
                                      lock_work_dir)
from sipe_testing import HELPERS, ROOT, free_port, tool_env

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                reason='prctl and flock semantics: Linux')


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def _wait_gone(pids, seconds=20):
    end = time.time() + seconds
    while time.time() < end and any(_alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


def _pids_with(text):
    """Processes whose command line contains ``text``."""
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/cmdline', 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if text in cmd and _alive(int(name)):
            out.append(int(name))
    return out


HOLD = textwrap.dedent('''
    import sys, time
    from mmseg_sipe.utils.process import lock_work_dir
    lock_work_dir(sys.argv[1])
    print('locked', flush=True)
    time.sleep(120)
''')


@pytest.mark.integration
def test_second_holder_is_refused_until_the_first_dies(tmp_path):
    work = str(tmp_path / 'work')
    holder = subprocess.Popen([sys.executable, '-c', HOLD, work],
                              stdout=subprocess.PIPE, text=True,
                              env=tool_env())
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(WorkDirInUseError,
                           match=f'work dir {work} is in use by another run '
                           rf'\(pid {holder.pid}\)'):
            lock_work_dir(work)
    finally:
        holder.kill()
        holder.wait()
    # SIGKILL leaves the lock file but not the lock
    assert (tmp_path / 'work' / LOCK_NAME).exists()
    lock_work_dir(work)
    lock_work_dir(work)  # the same process again: no-op
    assert (tmp_path / 'work' / LOCK_NAME).read_text().strip() == \
        str(os.getpid())


PARENT = textwrap.dedent('''
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, '-c',
        'import time; from mmseg_sipe.utils.process import die_with_parent;'
        'die_with_parent(); print("armed", flush=True); time.sleep(120)'],
        start_new_session=True)  # as torchrun starts its workers
    print(child.pid, flush=True)
    time.sleep(120)
''')


@pytest.mark.integration
def test_child_dies_with_its_killed_parent():
    parent = subprocess.Popen([sys.executable, '-c', PARENT],
                              stdout=subprocess.PIPE, text=True,
                              env=tool_env())
    child = int(parent.stdout.readline())
    assert parent.stdout.readline().strip() == 'armed'
    assert _alive(child)
    parent.kill()
    parent.wait()
    assert _wait_gone([child]) == []


@pytest.mark.integration
def test_killed_dist_train_leaves_no_worker_and_locks_its_work_dir(
        tiny_demo, tmp_path):
    from sipe_testing import demo_train_opts
    work = str(tmp_path / 'work_lifetime')
    env = tool_env(extra_pythonpath=[HELPERS])
    env['PORT'] = str(free_port())
    opts = demo_train_opts(tiny_demo, epochs=200)
    launch = subprocess.Popen(
        ['bash', 'tools/dist_train.sh', 'configs/sipe/demo_r18.py', '2',
         '--work-dir', work, *opts], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # wait until both workers train (the lock is held by rank 0)
        end = time.time() + 240
        while time.time() < end and not (
                len(_pids_with(f'--work-dir {work}')) >= 3 and
                os.path.exists(os.path.join(work, LOCK_NAME))):
            assert launch.poll() is None, 'the launch ended early'
            time.sleep(0.5)
        time.sleep(2)
        workers = [p for p in _pids_with(f'--work-dir {work}')
                   if p != launch.pid]
        assert len(workers) >= 2, workers
        # a second run into the same work dir refuses with one line
        second = subprocess.run(
            [sys.executable, 'tools/train.py', 'configs/sipe/demo_r18.py',
             '--work-dir', work, *opts], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=300)
        assert second.returncode == 1
        err = [ln for ln in second.stderr.splitlines() if ln.strip()]
        assert err[-1].startswith('error: ') and 'is in use by another run' \
            in err[-1] and work in err[-1], second.stderr[-2000:]
        assert 'Traceback' not in second.stderr
        # SIGKILL the launcher only: its workers go down with it
        os.kill(launch.pid, signal.SIGKILL)
        launch.wait()
        assert _wait_gone(workers) == []
        assert _pids_with(f'--work-dir {work}') == []
    finally:
        for p in _pids_with(f'--work-dir {work}'):
            os.kill(p, signal.SIGKILL)
