# Copyright (c) mmseg-sipe contributors.
"""COCO 2014 instances JSON -> class-index PNGs (no pycocotools needed).

Thin command line over :mod:`mmseg_sipe.cli.coco_wsss` (also installed as
``python -m mmseg_sipe.cli.coco_wsss``); ``--help`` lists the arguments.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(__file__, '..', '..', '..')))
from mmseg_sipe.cli.coco_wsss import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
