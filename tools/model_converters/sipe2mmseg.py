"""Convert a reference SIPE checkpoint (chenqi1126/SIPE) for mmseg_sipe.

Usage:
    python tools/model_converters/sipe2mmseg.py SRC.pth DST.pth

The result loads with strict key matching into ``SIPEClassifier`` built from
``configs/sipe/voc_r50.py`` (or ``coco_r50.py``), e.g. for
``tools/make_cam.py --checkpoint DST.pth``.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='reference checkpoint ({"net": ...})')
    parser.add_argument('dst', help='output checkpoint path')
    args = parser.parse_args(argv)

    import torch

    from mmseg_sipe.utils.model_converters import (convert_sipe_state_dict,
                                                   load_reference_checkpoint)
    if not osp.isfile(args.src):
        raise FileNotFoundError(f'source checkpoint not found: {args.src}')
    state_dict = convert_sipe_state_dict(load_reference_checkpoint(args.src))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save(
        dict(state_dict=state_dict,
             meta=dict(converted_from=osp.basename(args.src))), tmp)
    os.replace(tmp, args.dst)
    print(f'converted {len(state_dict)} tensors -> {args.dst}')


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
