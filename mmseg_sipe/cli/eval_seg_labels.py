"""mIoU of pseudo-label (or IR-label) PNGs against ground truth.

    python tools/eval_seg_labels.py CONFIG LABEL_DIR [--split train] [--uncertain-as 0]
"""
import argparse
import os.path as osp

from mmseg_sipe.cli.common import add_dataset_args, dataset_items_from_args


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='stage-one config (dataset definition)')
    p.add_argument('label_dir', help='directory of <name>.png labels')
    p.add_argument('--uncertain-as', type=int, default=None,
                   help='count predicted 255 as this class (0 = the SIPE '
                   '"+dCRF" protocol); default: ignore those pixels')
    p.add_argument('--out', help='JSON output path')
    add_dataset_args(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import mmseg_sipe  # noqa: F401
    from mmseg_sipe.evaluation import (evaluate_label_dir, format_table,
                                       write_json)
    from mmseg_sipe.utils.config import load_config

    cfg = load_config(args.config)
    items = dataset_items_from_args(cfg, args, with_seg_map=True)
    num_classes = cfg.model.head.num_classes + 1
    res = evaluate_label_dir(items, args.label_dir, num_classes,
                             uncertain_as=args.uncertain_as)
    print(format_table(
        [[args.label_dir, f"{res['mIoU']:.2f}",
          f"{100 * res['uncertain_fraction']:.1f}"]],
        ['labels', 'mIoU', 'uncertain %']))
    out = args.out or osp.join(args.label_dir, f'eval_{args.split or "test"}.json')
    write_json(out, dict(label_dir=args.label_dir, split=args.split,
                         num_images=len(items), **res))
    print(f'wrote {out}')


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
