"""Evaluate localisation maps (mIoU) written by tools/make_cam.py.

Thin command line over :mod:`mmseg_sipe.cli.eval_cam` (also installed as
``python -m mmseg_sipe.cli.eval_cam``); ``--help`` lists the arguments.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

if __name__ == '__main__':
    try:
        from mmseg_sipe.cli.eval_cam import main
        from mmseg_sipe.utils.cli import run_cli
    except ImportError as e:  # one line, e.g. an incompatible stack
        sys.exit(f'error: {e}')
    run_cli(main)
