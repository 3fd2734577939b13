"""One-line, actionable errors for the command-line tools.

Tracebacks are for developers: with ``SIPE_DEBUG=1`` the original exception is
re-raised.  Otherwise the usual user mistakes (incompatible stack, missing
file or dataset directory, a config naming an unregistered type, a bad config
key) end the process with exit code 1 and one line on stderr.
"""
import os
import sys
from typing import Callable

from .version_gate import IncompatibleVersionError


def _one_line(msg: str) -> str:
    return ' '.join(str(msg).split())


def format_error(exc: BaseException) -> str:
    msg = _one_line(exc.args[0] if (isinstance(exc, KeyError) and exc.args)
                    else exc)
    if isinstance(exc, IncompatibleVersionError):
        return f'error: {msg}'
    if isinstance(exc, KeyError) and 'registry' in msg:
        # mmengine: "X is not in the mmseg::model registry. Please check ..."
        head = msg.split(' Please check')[0]
        return (f'error: {head}. Check the type name in the config, and that '
                "the config has custom_imports=dict(imports=['mmseg_sipe']) "
                '(run `pip install -e .` so mmseg_sipe is importable).')
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return f'error: {msg}'
    return f'error: {type(exc).__name__}: {msg}'


def run_cli(main: Callable[[], object]) -> None:
    """Run ``main()``; turn expected user errors into one line + exit 1."""
    from .sharded import JobError
    try:
        return main()
    except (IncompatibleVersionError, FileNotFoundError, NotADirectoryError,
            KeyError, ValueError, JobError) as exc:
        if os.environ.get('SIPE_DEBUG'):
            raise
        print(format_error(exc), file=sys.stderr)
        sys.exit(1)


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


def dataset_items_from_args(cfg, args, with_seg_map=None):
    """The image items selected by :func:`add_dataset_args` arguments."""
    from mmseg_sipe.cam import dataset_items, split_dataset_cfg
    ds_cfg = split_dataset_cfg(cfg, args.split, args.ann_file)
    if with_seg_map is not None:
        ds_cfg['with_seg_map'] = with_seg_map
    if args.data_root:
        ds_cfg['data_root'] = args.data_root
    return dataset_items(ds_cfg)
