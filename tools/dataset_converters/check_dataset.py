# Copyright (c) mmseg-sipe contributors.
"""Check a PASCAL-VOC-layout dataset root (real VOC 2012 or the demo).

Thin command line over :mod:`mmseg_sipe.cli.check_dataset` (also installed as
``python -m mmseg_sipe.cli.check_dataset``); ``--help`` lists the arguments.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(__file__, '..', '..', '..')))
from mmseg_sipe.cli.check_dataset import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
