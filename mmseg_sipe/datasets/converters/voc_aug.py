"""PASCAL VOC 2012 + SBD -> ``SegmentationClassAug`` and ``train_aug.txt``.

Inputs:

* VOC 2012 root (``VOCdevkit/VOC2012``): ``ImageSets/Segmentation/
  {train,val}.txt`` and ``SegmentationClass/{id}.png`` (class indices, 255 on
  object boundaries and void regions);
* SBD (``benchmark_RELEASE/dataset``, Hariharan et al. 2011):
  ``{train,val}.txt`` and ``cls/{id}.mat``, a MATLAB struct ``GTcls`` whose
  field ``Segmentation`` holds uint8 class indices 0..20 (no 255).

Outputs (in the VOC root):

* ``SegmentationClassAug/{id}.png`` for every image of VOC train/val and SBD
  train/val (12,031 on the real data): VOC's own label when VOC has one (its
  255 boundaries are kept), else the SBD label. VOC-palette class-index PNGs.
* ``ImageSets/Segmentation/train_aug.txt``: (VOC train | SBD train | SBD val)
  minus VOC val, sorted; 10,582 images on the real data.

Existing PNGs are skipped (resumable); every file is written atomically.
"""
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, TextIO, Tuple

import numpy as np

from ..label_io import save_label_png
from ..labels import read_label_map, read_split_file
from ..metainfo import IGNORE_INDEX, VOC_CLASSES
from ._utils import atomic_write_lines, run_tasks

#: Number of VOC foreground classes.
NUM_VOC_FG = len(VOC_CLASSES) - 1
#: Size of ``train_aug.txt`` on the real VOC 2012 + SBD data.
TRAIN_AUG_SIZE = 10582


# --------------------------------------------------------------------------
# finding the inputs
# --------------------------------------------------------------------------
def resolve_voc_root(root: str) -> str:
    """The VOC 2012 folder for ``root``: ``root`` itself if it holds
    ``ImageSets/Segmentation``, else ``root/VOC2012`` (a ``VOCdevkit``).

    Raises:
        FileNotFoundError: naming the folders looked for.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(f'VOC 2012 root not found: {root}')
    for cand in (root, osp.join(root, 'VOC2012')):
        if osp.isdir(osp.join(cand, 'ImageSets', 'Segmentation')):
            return cand
    raise FileNotFoundError(
        f'{osp.join(root, "ImageSets", "Segmentation")} not found: pass the '
        'VOC 2012 folder (.../VOCdevkit/VOC2012) that holds ImageSets/, '
        'SegmentationClass/ and JPEGImages/')


def resolve_sbd_root(root: str) -> str:
    """The SBD ``dataset`` folder for ``root``: ``root`` itself if it holds
    ``cls/``, else ``root/dataset`` (``benchmark_RELEASE``), else
    ``root/benchmark_RELEASE/dataset``.

    Raises:
        FileNotFoundError: naming the folders looked for.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(f'SBD root not found: {root}')
    cands = (root, osp.join(root, 'dataset'),
             osp.join(root, 'benchmark_RELEASE', 'dataset'))
    for cand in cands:
        if osp.isdir(osp.join(cand, 'cls')):
            return cand
    tried = ', '.join(osp.join(c, 'cls') for c in cands)
    raise FileNotFoundError(
        f'SBD class labels folder not found (tried {tried}): pass the SBD '
        'folder benchmark_RELEASE/dataset that holds cls/*.mat, train.txt '
        'and val.txt')


# --------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------
def read_sbd_mat(path: str, key: str = 'GTcls') -> np.ndarray:
    """Read the class-index map of one SBD ``cls/*.mat`` file.

    The file holds a 1x1 MATLAB struct ``GTcls`` with fields
    ``Segmentation`` (uint8 HxW, 0..20), ``Boundaries`` and
    ``CategoriesPresent``; with scipy's defaults it reads back as
    ``loadmat(path)['GTcls'][0, 0]['Segmentation']``. Structs loaded with
    ``struct_as_record=False`` / ``squeeze_me=True`` are handled too.

    Args:
        path (str): The ``.mat`` file.
        key (str): The struct variable (``'GTcls'``; ``'GTinst'`` for
            instance files).

    Returns:
        np.ndarray: uint8 [H, W].

    Raises:
        FileNotFoundError / ValueError: naming ``path``.
    """
    from scipy.io import loadmat
    if not osp.isfile(path):
        raise FileNotFoundError(f'SBD label file not found: {path}')
    try:
        mat = loadmat(path)
    except Exception as e:  # noqa: BLE001  (scipy raises many types)
        raise ValueError(f'cannot read SBD .mat file {path}: {e}') from e
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith('__'))
        raise ValueError(f'SBD .mat file {path} has no {key!r} struct '
                         f'(variables: {found})')
    seg = _struct_field(mat[key], 'Segmentation')
    if seg is None:
        raise ValueError(f'{key!r} in SBD .mat file {path} has no '
                         "'Segmentation' field")
    seg = np.asarray(seg)
    if seg.ndim != 2 or seg.size == 0:
        raise ValueError(f'{key}.Segmentation in {path} has shape '
                         f'{seg.shape}; expected a 2-D map')
    if seg.dtype.kind not in 'ui' or seg.min() < 0 or seg.max() > 255:
        raise ValueError(f'{key}.Segmentation in {path} is not a class-index '
                         f'map (dtype {seg.dtype})')
    return seg.astype(np.uint8)


def _struct_field(obj, field: str):
    """``obj.field`` for a loadmat struct in any of scipy's layouts."""
    # mat_struct (struct_as_record=False)
    if hasattr(obj, '_fieldnames'):
        return getattr(obj, field, None)
    if isinstance(obj, np.ndarray):
        if obj.dtype.names is not None:  # record array, usually (1, 1)
            if field not in obj.dtype.names or obj.size == 0:
                return None
            return _unwrap(obj.flat[0][field])
        if obj.dtype == object and obj.size == 1:
            return _struct_field(obj.flat[0], field)
    return None


def _unwrap(val):
    """Strip object-array wrappers around a numeric array."""
    while isinstance(val, np.ndarray) and val.dtype == object \
            and val.size == 1:
        val = val.flat[0]
    return val


def make_train_aug_list(voc_train: Iterable[str], voc_val: Iterable[str],
                        sbd_train: Iterable[str],
                        sbd_val: Iterable[str]) -> List[str]:
    """``sorted((voc_train | sbd_train | sbd_val) - voc_val)``.

    On the real data this is the 10,582-image ``train_aug`` list (mmseg's
    converter writes the same set as ``aug.txt``).
    """
    return sorted((set(voc_train) | set(sbd_train) | set(sbd_val)) -
                  set(voc_val))


def plan_label_sources(voc_ids: Iterable[str],
                       sbd_ids: Iterable[str]) -> Dict[str, str]:
    """Which source each ``SegmentationClassAug`` label comes from:
    ``'voc'`` for every VOC train/val image (VOC's wins), ``'sbd'`` for the
    other SBD images."""
    plan = {name: 'sbd' for name in sbd_ids}
    plan.update({name: 'voc' for name in voc_ids})
    return plan


def load_voc_aug_label(kind: str, src: str) -> np.ndarray:
    """Read one label (``kind`` = ``'voc'``: class-index PNG, ``'sbd'``:
    ``.mat``) and check its values are in ``{0..20, 255}``.

    Returns:
        np.ndarray: uint8 [H, W].
    """
    label = read_label_map(src) if kind == 'voc' else read_sbd_mat(src)
    values = np.unique(label)
    bad = [int(v) for v in values if v > NUM_VOC_FG and v != IGNORE_INDEX]
    if bad:
        raise ValueError(f'label {src} has illegal values {bad}; expected '
                         f'0..{NUM_VOC_FG} or {IGNORE_INDEX}')
    return label.astype(np.uint8)


def _convert_one(task: Tuple[str, str, str]) -> str:
    """Worker: ``(kind, src, dst)`` -> write ``dst``; returns ``dst``."""
    kind, src, dst = task
    save_label_png(dst, load_voc_aug_label(kind, src))
    return dst


def _missing(paths: Sequence[str], what: str, limit: int = 5) -> None:
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        more = f' (and {len(missing) - limit} more)' \
            if len(missing) > limit else ''
        raise FileNotFoundError(f'{len(missing)} {what} not found: '
                                f'{", ".join(missing[:limit])}{more}')


# --------------------------------------------------------------------------
# the converter
# --------------------------------------------------------------------------
def convert_voc_aug(voc_root: str,
                    sbd_root: str,
                    nproc: int = 1,
                    overwrite: bool = False,
                    seg_dir: str = 'SegmentationClassAug',
                    list_name: str = 'train_aug.txt',
                    progress_file: Optional[TextIO] = None) -> dict:
    """Build ``SegmentationClassAug`` and ``train_aug.txt`` from VOC + SBD.

    Args:
        voc_root (str): ``VOCdevkit/VOC2012`` (a ``VOCdevkit`` is accepted).
        sbd_root (str): SBD's ``benchmark_RELEASE/dataset`` (its parent is
            accepted).
        nproc (int): Worker processes.
        overwrite (bool): Rewrite labels that already exist (default: skip
            them, so an interrupted run resumes).
        seg_dir (str): Output label folder, relative to the VOC root.
        list_name (str): Output list, in ``ImageSets/Segmentation``.
        progress_file (TextIO, optional): Progress-bar stream.

    Returns:
        dict: ``voc_root``, ``sbd_root`` (resolved), ``seg_dir``,
        ``list_file`` (absolute paths), ``num_train_aug``, ``num_labels``,
        ``num_from_voc``, ``num_from_sbd``, ``written``, ``skipped``,
        ``missing_images`` (train_aug ids without ``JPEGImages/{id}.jpg``).

    Raises:
        FileNotFoundError: a missing folder or file, named.
        ValueError: an unreadable or illegal label, named.
    """
    voc = resolve_voc_root(voc_root)
    sbd = resolve_sbd_root(sbd_root)
    split_dir = osp.join(voc, 'ImageSets', 'Segmentation')
    voc_train = read_split_file(osp.join(split_dir, 'train.txt'))
    voc_val = read_split_file(osp.join(split_dir, 'val.txt'))
    sbd_train = read_split_file(osp.join(sbd, 'train.txt'))
    sbd_val = read_split_file(osp.join(sbd, 'val.txt'))

    voc_seg = osp.join(voc, 'SegmentationClass')
    if not osp.isdir(voc_seg):
        raise FileNotFoundError(
            f'VOC label folder not found: {voc_seg} (it comes with '
            'VOCtrainval_11-May-2012.tar)')
    plan = plan_label_sources(voc_train + voc_val, sbd_train + sbd_val)
    srcs = {}
    for name, kind in plan.items():
        srcs[name] = osp.join(voc_seg, name + '.png') if kind == 'voc' \
            else osp.join(sbd, 'cls', name + '.mat')
    _missing([srcs[n] for n in sorted(plan) if plan[n] == 'voc'],
             'VOC labels (SegmentationClass/*.png)')
    _missing([srcs[n] for n in sorted(plan) if plan[n] == 'sbd'],
             'SBD labels (cls/*.mat)')

    out_dir = osp.join(voc, seg_dir)
    os.makedirs(out_dir, exist_ok=True)
    tasks, skipped = [], 0
    for name in sorted(plan):
        dst = osp.join(out_dir, name + '.png')
        if not overwrite and osp.isfile(dst):
            skipped += 1
            continue
        tasks.append((plan[name], srcs[name], dst))
    run_tasks(_convert_one, tasks, nproc=nproc, file=progress_file)

    train_aug = make_train_aug_list(voc_train, voc_val, sbd_train, sbd_val)
    list_file = osp.join(split_dir, list_name)
    atomic_write_lines(list_file, train_aug)
    missing_images = [
        n for n in train_aug
        if not osp.isfile(osp.join(voc, 'JPEGImages', n + '.jpg'))
    ]
    return dict(
        voc_root=osp.abspath(voc),
        sbd_root=osp.abspath(sbd),
        seg_dir=osp.abspath(out_dir),
        list_file=osp.abspath(list_file),
        num_train_aug=len(train_aug),
        num_labels=len(plan),
        num_from_voc=sum(k == 'voc' for k in plan.values()),
        num_from_sbd=sum(k == 'sbd' for k in plan.values()),
        written=len(tasks),
        skipped=skipped,
        missing_images=missing_images)
