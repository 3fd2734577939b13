"""mIoU of pseudo-label (or IR-label) PNGs against ground truth.

    python tools/eval_seg_labels.py CONFIG LABEL_DIR [--split train] [--uncertain-as 0]
"""
import argparse

from mmseg_sipe.cli.common import add_dataset_args, eval_items, write_eval_json


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
    from mmseg_sipe.evaluation import evaluate_label_dir, format_table

    items, num_classes = eval_items(args)
    res = evaluate_label_dir(items, args.label_dir, num_classes,
                             uncertain_as=args.uncertain_as)
    print(format_table(
        [[args.label_dir, f"{res['mIoU']:.2f}",
          f"{100 * res['uncertain_fraction']:.1f}"]],
        ['labels', 'mIoU', 'uncertain %']))
    write_eval_json(args, 'label_dir', args.label_dir, items, res)


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
