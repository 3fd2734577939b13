"""Convert a reference SIPE checkpoint (chenqi1126/SIPE) for mmseg_sipe.

Usage:
    python tools/model_converters/sipe2mmseg.py SRC.pth DST.pth

The result loads with strict key matching into ``SIPEClassifier`` built from
``configs/sipe/voc_r50.py`` (or ``coco_r50.py``), e.g. for
``tools/make_cam.py --checkpoint DST.pth``.  The reference ``Net`` lists
every tensor up to three times (``resnet50.*``, ``stage<i>.*``,
``backbone.<i>.*``; ``side<k>``/``classifier`` and ``newly_added.<i>``):
the aliases are checked to be identical and dropped, and the result is
checked to load strictly before it is written.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='reference checkpoint ({"net": ...})')
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument(
        '--config', help='config whose model the result must load into '
        'strictly (default: configs/sipe/voc_r50.py for 20 classes, '
        'coco_r50.py for 80)')
    args = parser.parse_args(argv)

    from mmseg_sipe.utils.model_converters import convert_reference_file
    n = convert_reference_file(args.src, args.dst, args.config)
    print(f'converted {n} tensors -> {args.dst}')


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
