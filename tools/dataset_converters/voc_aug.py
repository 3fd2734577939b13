# Copyright (c) mmseg-sipe contributors.
"""Build ``SegmentationClassAug`` and ``train_aug.txt`` from VOC 2012 + SBD.

Thin command line over :mod:`mmseg_sipe.cli.voc_aug` (also installed as
``python -m mmseg_sipe.cli.voc_aug``); ``--help`` lists the arguments.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(__file__, '..', '..', '..')))
from mmseg_sipe.cli.voc_aug import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
