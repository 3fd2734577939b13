"""Helpers for tool-level tests (importable as ``sipe_testing``)."""
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HELPERS = osp.dirname(osp.abspath(__file__))


def tool_env(extra_pythonpath=()):
    """Environment for running tools/*.py and tools/*.sh in a subprocess."""
    env = dict(os.environ)
    paths = [ROOT, *extra_pythonpath]
    if env.get('PYTHONPATH'):
        paths.append(env['PYTHONPATH'])
    env['PYTHONPATH'] = os.pathsep.join(paths)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    env['PYTHON'] = sys.executable
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONUNBUFFERED'] = '1'
    return env


def run_tool(args, timeout=600, env=None, check=True):
    """Run a command from the repo root; on failure show its output."""
    proc = subprocess.run(
        args, cwd=ROOT, env=env or tool_env(), capture_output=True,
        text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{args} exited {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}'
            f'\nSTDERR:\n{proc.stderr[-6000:]}')
    return proc


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
