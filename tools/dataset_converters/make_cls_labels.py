# Copyright (c) mmseg-sipe contributors.
"""Write a reference-style ``cls_labels.npy`` (image id -> multi-hot).

Thin command line over :mod:`mmseg_sipe.cli.make_cls_labels` (also installed as
``python -m mmseg_sipe.cli.make_cls_labels``); ``--help`` lists the arguments.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(__file__, '..', '..', '..')))
from mmseg_sipe.cli.make_cls_labels import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
