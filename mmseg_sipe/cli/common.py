"""Arguments shared by the per-image step commands: which images
(``--split``, ``--ann-file``, ``--data-root``) and how they are launched."""
from ..cam import dataset_items, split_dataset_cfg


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
    ds_cfg = split_dataset_cfg(cfg, args.split, args.ann_file)
    if with_seg_map is not None:
        ds_cfg['with_seg_map'] = with_seg_map
    if args.data_root:
        ds_cfg['data_root'] = args.data_root
    return dataset_items(ds_cfg)
