"""Write the built-in demo dataset (PASCAL VOC 2012 layout).

Thin command line over :mod:`mmseg_sipe.cli.make_demo_dataset` (also
installed as ``python -m mmseg_sipe.cli.make_demo_dataset``); see
docs/demo_dataset.md.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

if __name__ == '__main__':
    try:
        from mmseg_sipe.cli.make_demo_dataset import main
    except ImportError as e:  # one line, e.g. an incompatible stack
        sys.exit(f'error: {e}')
    sys.exit(main())
