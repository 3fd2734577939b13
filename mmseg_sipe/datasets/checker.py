"""Validate a PASCAL-VOC-layout dataset root and say exactly what is wrong.

Pure numpy / PIL (no mmseg import), used by
``tools/dataset_converters/check_dataset.py``.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .labels import parse_voc_xml
from .metainfo import IGNORE_INDEX, VOC_CLASSES

#: Splits checked when none are named (those that exist).
DEFAULT_SPLITS = ('train', 'val', 'train_aug', 'aug')

#: Images with more pixels get a warning: ``make_cam`` needs about 2.5 GB
#: per megapixel at the default scales (up to 2.0), plus the seed-step
#: budget ``SIPE_MAX_CHUNK_MB`` (docs/faq.md).  VOC images have at most
#: 0.25 MP, COCO images 0.41 MP.
MAX_IMAGE_PIXELS = 2_000_000

#: EXIF tag id of the orientation.
EXIF_ORIENTATION = 0x0112


@dataclass
class Problem:
    """One problem found: the file concerned and what is wrong with it.

    ``level`` is ``'error'`` (the tools would stop or compute something
    wrong) or ``'warning'`` (works as documented, but worth knowing).
    """
    path: str
    message: str
    level: str = 'error'

    def __str__(self) -> str:
        if self.level == 'warning':
            return f'{self.path}: warning: {self.message}'
        return f'{self.path}: {self.message}'


def check_image(path: str,
                decode: bool = True,
                max_pixels: Optional[int] = MAX_IMAGE_PIXELS
                ) -> Tuple[Optional[tuple], List[Problem]]:
    """Open an image the way the tools do (stored pixel grid).

    Errors: unreadable, truncated (with ``decode``: the whole file is
    decoded).  Warnings: an EXIF orientation other than 1 (ignored by every
    tool: labels are drawn on the stored grid) and more than ``max_pixels``
    pixels (``make_cam`` memory, see :data:`MAX_IMAGE_PIXELS`).

    Returns:
        tuple: ``(size (w, h) or None, problems)``.
    """
    problems: List[Problem] = []
    try:
        with Image.open(path) as img:
            size = img.size
            orientation = img.getexif().get(EXIF_ORIENTATION, 1)
            if decode:
                img.load()
    except Exception as e:  # noqa: BLE001  (PIL raises many types)
        reason = ' '.join(str(e).split())
        return None, [Problem(path, f'cannot read image (truncated or '
                              f'corrupt): {reason}')]
    if orientation not in (None, 1):
        problems.append(
            Problem(
                path, f'EXIF orientation {orientation} is ignored: every '
                'tool uses the stored pixel grid (as the labels do); a viewer '
                'shows the image rotated/flipped', 'warning'))
    if max_pixels and size[0] * size[1] > max_pixels:
        problems.append(
            Problem(
                path, f'{size[0]}x{size[1]} is {size[0] * size[1] / 1e6:.1f} '
                f'MP, above the {max_pixels / 1e6:g} MP limit: make_cam '
                'needs about 2.5 GB per MP (docs/faq.md); downscale it and '
                'its label', 'warning'))
    return size, problems


def default_seg_dir(split: str) -> str:
    """``SegmentationClassAug`` for ``*aug*`` splits, else
    ``SegmentationClass`` (VOC's own labels cover only train/val)."""
    return 'SegmentationClassAug' if 'aug' in split else 'SegmentationClass'


def check_split_file(path: str) -> Tuple[List[str], List[Problem]]:
    """Read a split file strictly: no blank lines, no inner spaces, no
    duplicates.

    Returns:
        tuple: (image ids, problems).
    """
    problems: List[Problem] = []
    if not osp.isfile(path):
        return [], [Problem(path, 'split file not found')]
    names: List[str] = []
    first_line: Dict[str, int] = {}
    with open(path, encoding='utf-8-sig', errors='replace') as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines, 1):
        name = line.strip()
        if not name:
            problems.append(Problem(path, f'line {i}: blank line'))
            continue
        if len(name.split()) > 1:
            problems.append(
                Problem(path, f'line {i}: {name!r} is not a single image id'))
            continue
        if name in first_line:
            problems.append(
                Problem(
                    path, f'line {i}: duplicate image id {name!r} (first '
                    f'on line {first_line[name]})'))
            continue
        first_line[name] = i
        names.append(name)
    if not lines:
        problems.append(Problem(path, 'split file is empty'))
    return names, problems


def check_label_map(path: str,
                    num_classes: int,
                    img_size: Optional[tuple] = None) -> List[Problem]:
    """Check one class-index PNG: mode, size and values in
    ``{0..num_classes, 255}``."""
    try:
        with Image.open(path) as img:  # SyntaxError: a broken PNG chunk
            mode, size = img.mode, img.size
            if mode not in ('P', 'L'):
                return [
                    Problem(
                        path, f'mode {mode!r}: expected a class-index PNG '
                        '(mode P or L)')
                ]
            arr = np.array(img)
    except (OSError, SyntaxError, ValueError) as e:
        return [Problem(path, f'cannot read (truncated or corrupt): '
                        f'{" ".join(str(e).split())}')]
    problems = []
    if img_size is not None and size != img_size:
        problems.append(
            Problem(
                path, f'size {size[0]}x{size[1]} differs from the image '
                f'({img_size[0]}x{img_size[1]})'))
    values = np.unique(arr)
    bad = [int(v) for v in values if v > num_classes and v != IGNORE_INDEX]
    if bad:
        problems.append(
            Problem(
                path, f'illegal label values {bad} (legal: 0..{num_classes} '
                f'and {IGNORE_INDEX})'))
    return problems


def check_voc_root(root: str,
                   splits: Optional[Sequence[str]] = None,
                   seg_dir: Optional[str] = None,
                   class_names: Sequence[str] = VOC_CLASSES,
                   check_xml: bool = True,
                   check_values: bool = True,
                   decode_images: bool = True,
                   max_pixels: Optional[int] = MAX_IMAGE_PIXELS
                   ) -> List[Problem]:
    """Check a VOC-layout root.

    For every split (``ImageSets/Segmentation/{split}.txt``) it checks the
    split file itself (exists, no blank lines, no duplicates), and for every
    listed image that ``JPEGImages/{id}.jpg`` exists and decodes (see
    :func:`check_image`: truncation; warnings for an EXIF orientation and
    for images above ``max_pixels``), that the
    label ``{seg_dir}/{id}.png`` exists, is a class-index PNG of the image's
    size with values in ``{0..K, 255}`` and, with ``check_xml``, that
    ``Annotations/{id}.xml`` exists, parses and names only known classes.

    Args:
        root (str): Dataset root (``VOCdevkit/VOC2012`` or the demo).
        splits (Sequence[str], optional): Split names; default: those of
            ``train``, ``val``, ``train_aug``, ``aug`` (mmseg's converter's
            name for the 10,582 list) that exist (at least one must).
        seg_dir (str, optional): Label folder; default per split
            (:func:`default_seg_dir`).
        class_names (Sequence[str]): Classes, background first.
        check_xml (bool): Check the annotation XMLs.
        check_values (bool): Decode label PNGs to check their values (the
            slow part on the real dataset).
        decode_images (bool): Decode every image fully (finds truncated
            files); ``False`` reads the headers only.
        max_pixels (int, optional): Warn about larger images (``None``: no
            limit).

    Returns:
        list[Problem]: Empty if everything is fine.
    """
    if not osp.isdir(root):
        return [Problem(root, 'dataset root not found')]
    num_classes = len(class_names) - 1
    fg = list(class_names[1:])
    split_dir = osp.join(root, 'ImageSets', 'Segmentation')
    if splits is None:
        splits = [
            s for s in DEFAULT_SPLITS
            if osp.isfile(osp.join(split_dir, s + '.txt'))
        ]
        if not splits:
            return [
                Problem(
                    split_dir,
                    f'none of {[s + ".txt" for s in DEFAULT_SPLITS]} '
                    'found')
            ]
    problems: List[Problem] = []
    checked_img: Dict[str, Optional[tuple]] = {}
    checked_xml: set = set()
    checked_seg: set = set()
    for split in splits:
        names, split_problems = check_split_file(
            osp.join(split_dir, split + '.txt'))
        problems += split_problems
        sdir = osp.join(root, seg_dir or default_seg_dir(split))
        for name in names:
            img_path = osp.join(root, 'JPEGImages', name + '.jpg')
            if img_path not in checked_img:
                size = None
                if not osp.isfile(img_path):
                    problems.append(
                        Problem(img_path, f'image listed in {split}.txt '
                                'not found'))
                else:
                    size, img_problems = check_image(
                        img_path, decode_images, max_pixels)
                    problems += img_problems
                checked_img[img_path] = size
            seg_path = osp.join(sdir, name + '.png')
            if seg_path not in checked_seg:
                checked_seg.add(seg_path)
                if not osp.isfile(seg_path):
                    problems.append(
                        Problem(
                            seg_path, f'label of image {name!r} '
                            f'(listed in {split}.txt) not found'))
                elif check_values:
                    problems += check_label_map(seg_path, num_classes,
                                                checked_img[img_path])
            xml_path = osp.join(root, 'Annotations', name + '.xml')
            if check_xml and xml_path not in checked_xml:
                checked_xml.add(xml_path)
                try:
                    obj_names, _ = parse_voc_xml(xml_path)
                except FileNotFoundError:
                    problems.append(
                        Problem(
                            xml_path, f'annotation of image {name!r} '
                            f'(listed in {split}.txt) not found'))
                    continue
                except ValueError as e:
                    problems.append(Problem(xml_path, str(e)))
                    continue
                unknown = sorted(set(obj_names) - set(fg))
                if unknown:
                    problems.append(
                        Problem(xml_path, f'unknown class names {unknown}'))
                if not obj_names:
                    problems.append(Problem(xml_path, 'no <object> entries'))
    return problems
