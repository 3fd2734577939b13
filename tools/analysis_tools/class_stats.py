"""Per-class statistics of a training split for SFC's class-balance weights
(image counts from image-level labels, pixel counts from class-index PNGs).

Thin command line over :mod:`mmseg_sipe.cli.class_stats` (also installed as
``python -m mmseg_sipe.cli.class_stats``); ``--help`` lists the arguments.
"""
import os.path as osp
import sys

sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

if __name__ == '__main__':
    try:
        from mmseg_sipe.cli.class_stats import main
        from mmseg_sipe.utils.cli import run_cli
    except ImportError as e:  # one line, e.g. an incompatible stack
        sys.exit(f'error: {e}')
    run_cli(main)
