"""Pieces shared by the command lines.

* per-image steps: which images (``--split``, ``--ann-file``,
  ``--data-root``), how they are launched, how a sharded step starts and
  ends, which images a picture shows;
* evaluations: the ground-truth items and where the JSON result goes;
* Runner commands (train, test): the config and its work dir;
* dataset converters: one-line errors and a code instead of a traceback.
"""
import functools
import os
import os.path as osp
import sys


def add_dataset_args(parser) -> None:
    """``--split``, ``--ann-file``, ``--data-root``: which images a per-image
    tool processes (the config's test dataset, re-pointed)."""
    parser.add_argument(
        '--split', default=None,
        help='VOC-layout split (ImageSets/Segmentation/<split>.txt), e.g. '
        'train_aug for pseudo labels, train for evaluation; default: the '
        "config's test dataset as it is (VOC train / COCO train2014)")
    parser.add_argument('--ann-file',
                        help='split/annotation file overriding --split '
                        '(e.g. a COCO instances JSON)')
    parser.add_argument('--data-root', help='override the dataset root')


def add_launcher_args(parser) -> None:
    """``--launcher none|pytorch`` and both spellings of ``--local-rank``."""
    parser.add_argument('--launcher', choices=['none', 'pytorch'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_step_args(parser) -> None:
    """The launcher and dataset arguments of a sharded per-image step
    (:func:`add_launcher_args`, then :func:`add_dataset_args`)."""
    add_launcher_args(parser)
    add_dataset_args(parser)


def dataset_items_from_args(cfg, args, with_seg_map=None):
    """The image items selected by :func:`add_dataset_args` arguments."""
    from ..cam import dataset_items, split_dataset_cfg
    ds_cfg = split_dataset_cfg(cfg, args.split, args.ann_file)
    if with_seg_map is not None:
        ds_cfg['with_seg_map'] = with_seg_map
    if args.data_root:
        ds_cfg['data_root'] = args.data_root
    return dataset_items(ds_cfg)


def select_items(items, names, num: int, where: str):
    """``items`` named in ``names`` (in that order), else the first ``num``.

    Raises:
        KeyError: naming the images not in ``items`` (``where`` says which
            split they were looked up in).
    """
    if not names:
        return items[:num]
    by_name = {it['name']: it for it in items}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise KeyError(f'images not in {where}: {missing}')
    return [by_name[n] for n in names]


# --------------------------------------------------------------------------
# sharded per-image steps
# --------------------------------------------------------------------------
def start_step(args, cfg_options=None):
    """Load ``args.config`` and join the launch: ``(cfg, device)``."""
    import mmseg_sipe  # noqa: F401  (registers everything; version gate)
    from ..utils.config import load_config
    from ..utils.sharded import init_dist_for_tool
    cfg = load_config(args.config, cfg_options)
    device = init_dist_for_tool(args.launcher)
    return cfg, device


def finish_step(summary, step: str, out_dir: str) -> None:
    """Rank 0 prints the step's summary line; leave the launch; exit with
    code 1 if any image failed."""
    from ..utils.dist import finish_launch
    from ..utils.sharded import dist_info
    if dist_info()[0] == 0:
        print(summary.line(step) + f' -> {out_dir}')
    failed = summary.failed
    finish_launch()
    if failed:
        sys.exit(1)


# --------------------------------------------------------------------------
# evaluations
# --------------------------------------------------------------------------
def eval_items(args):
    """``(items with ground truth, number of classes incl. background)``
    for an evaluation of ``args.config``'s images."""
    import mmseg_sipe  # noqa: F401  (registers everything; version gate)
    from ..utils.config import load_config
    cfg = load_config(args.config)
    items = dataset_items_from_args(cfg, args, with_seg_map=True)
    return items, cfg.model.head.num_classes + 1


def write_eval_json(args, key: str, directory: str, items, res: dict) -> None:
    """Write an evaluation to ``--out`` (default
    ``<directory>/eval_<split>.json``) and say where."""
    from ..evaluation import write_json
    out = args.out or osp.join(directory,
                               f'eval_{args.split or "test"}.json')
    write_json(out, {key: directory, 'split': args.split,
                     'num_images': len(items), **res})
    print(f'wrote {out}')


# --------------------------------------------------------------------------
# Runner commands
# --------------------------------------------------------------------------
def add_runner_launcher_arg(parser) -> None:
    """``--launcher none|pytorch|slurm|mpi`` of the Runner commands."""
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')


def parse_runner_args(parser, argv=None):
    """Parse a Runner command's arguments; ``--local-rank`` becomes
    ``LOCAL_RANK`` unless the launcher set that already."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_work_dir_config(args):
    """``args.config`` with ``--cfg-options`` merged and ``work_dir`` set:
    ``--work-dir``, else the config's own, else
    ``./work_dirs/<config name>``."""
    from ..utils.config import load_config
    cfg = load_config(args.config, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


# --------------------------------------------------------------------------
# dataset converters
# --------------------------------------------------------------------------
def add_splits_arg(parser, help: str) -> None:
    """A repeatable ``--split NAME`` collected in ``args.splits``."""
    parser.add_argument('--split', action='append', dest='splits',
                        metavar='NAME', help=help)


def one_line_errors(*errors):
    """Decorator of a converter's ``main(argv=None) -> int``: one of
    ``errors`` (default ``FileNotFoundError``, ``ValueError``) prints
    ``error: <message>`` on stderr and returns 1."""
    errors = errors or (FileNotFoundError, ValueError)

    def wrap(main):

        @functools.wraps(main)
        def run(argv=None) -> int:
            try:
                return main(argv)
            except errors as e:
                print(f'error: {e}', file=sys.stderr)
                return 1

        return run

    return wrap
