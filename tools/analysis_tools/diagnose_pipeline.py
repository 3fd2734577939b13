"""A picture of every pipeline stage (image, ground truth, CAM, IS-CAM, IR
label, IRN edges, pseudo label) for N images of a pipeline work dir.

Thin command line over :mod:`mmseg_sipe.cli.diagnose` (also installed as
``python -m mmseg_sipe.cli.diagnose``); ``--help`` lists the arguments.
"""
import os.path as osp
import sys

sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

if __name__ == '__main__':
    try:
        from mmseg_sipe.cli.diagnose import main
        from mmseg_sipe.utils.cli import run_cli
    except ImportError as e:  # one line, e.g. an incompatible stack
        sys.exit(f'error: {e}')
    run_cli(main)
