"""Step 3c: IRN random walk on IS-CAM -> pseudo-label PNGs.

Thin command line over :mod:`mmseg_sipe.cli.make_seg_labels` (also installed as
``python -m mmseg_sipe.cli.make_seg_labels``); ``--help`` lists the arguments.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

if __name__ == '__main__':
    try:
        from mmseg_sipe.cli.make_seg_labels import main
        from mmseg_sipe.utils.cli import run_cli
    except ImportError as e:  # one line, e.g. an incompatible stack
        sys.exit(f'error: {e}')
    run_cli(main)
