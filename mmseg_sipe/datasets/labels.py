"""Pure helpers that read image lists and image-level labels.

No mmseg import here: the datasets, the dataset checker and the converters
share these. Every function raises ``FileNotFoundError`` / ``ValueError``
naming the offending file.

Image-level labels are float32 multi-hot vectors of length ``K`` (foreground
classes only); foreground class ``k`` has pixel value ``k + 1`` in label maps.
"""
import json
import os.path as osp
import re
import xml.etree.ElementTree as ET
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from ..utils.errors import UserError
from .metainfo import IGNORE_INDEX


def read_split_file(path: str, suffix: str = '.jpg') -> List[str]:
    """Read an image list (one image id per line).

    Blank lines are skipped and a UTF-8 byte-order mark is dropped. Lines
    holding paths (e.g. the two-column ``/JPEGImages/x.jpg
    /SegmentationClassAug/x.png`` format) are reduced to the file stem of
    their first column. An id listed twice is an error: it would be trained
    and evaluated twice.

    Args:
        path (str): The split file.
        suffix (str): Image suffix stripped from path-like entries.

    Returns:
        list[str]: Image ids in file order.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: A duplicate id (naming the file, the id and both line
            numbers) or a file that is not UTF-8 text.
    """
    if not path or not osp.isfile(path):
        raise FileNotFoundError(f'split file not found: {path!r}')
    names = []
    first_line: Dict[str, int] = {}
    try:
        with open(path, encoding='utf-8-sig') as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f'split file {path} is not UTF-8 text: {e}') from e
    for i, line in enumerate(lines, 1):
        tok = line.strip().split()
        if not tok:
            continue
        name = tok[0]
        if '/' in name or name.endswith(suffix):
            name = osp.splitext(osp.basename(name))[0]
        if name in first_line:
            raise UserError(
                f'split file {path}: duplicate image id {name!r} on lines '
                f'{first_line[name]} and {i} (list every image once)')
        first_line[name] = i
        names.append(name)
    return names


def parse_voc_xml(path: str) -> Tuple[List[str], List[int]]:
    """Object names and difficult flags from a VOC annotation XML.

    Returns:
        tuple[list[str], list[int]]: ``names`` and ``difficult`` (0/1), one
        per ``<object>``, in file order.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation XML not found: {path}')
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f'cannot parse annotation XML {path}: {e}') from e
    names, difficult = [], []
    for obj in root.iter('object'):
        name_el = obj.find('name')
        if name_el is None or not (name_el.text or '').strip():
            raise ValueError(f'<object> without <name> in {path}')
        names.append(name_el.text.strip())
        diff_el = obj.find('difficult')
        difficult.append(
            int((diff_el.text or '0').strip()) if diff_el is not None else 0)
    return names, difficult


def labels_from_xml(path: str,
                    fg_classes: Sequence[str],
                    include_difficult: bool = True) -> np.ndarray:
    """Multi-hot image labels from a VOC XML.

    IRN and SIPE count *difficult* objects too (``include_difficult=True``).

    Args:
        path (str): The XML file.
        fg_classes (Sequence[str]): The ``K`` foreground class names.
        include_difficult (bool): Count objects with ``<difficult>1``.

    Returns:
        np.ndarray: float32 [K].
    """
    names, difficult = parse_voc_xml(path)
    label = np.zeros(len(fg_classes), np.float32)
    index = {c: i for i, c in enumerate(fg_classes)}
    for name, diff in zip(names, difficult):
        if name not in index:
            raise ValueError(f'unknown class name {name!r} in {path}; '
                             f'expected one of {list(fg_classes)}')
        if diff and not include_difficult:
            continue
        label[index[name]] = 1.0
    return label


def read_label_map(path: str) -> np.ndarray:
    """Read a class-index PNG ('P' or 'L' mode) as uint8 HxW.

    Colour (RGB) PNGs are rejected: they hold palette colours, not indices.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'label map not found: {path}')
    with Image.open(path) as img:
        if img.mode not in ('P', 'L', 'I', 'I;16'):
            raise ValueError(f'label map {path} has mode {img.mode!r}; '
                             'expected a class-index PNG (mode P or L)')
        arr = np.array(img)
    if arr.ndim != 2:
        raise ValueError(f'label map {path} is not single-channel')
    return arr


def labels_from_mask(path: str, num_classes: int) -> np.ndarray:
    """Multi-hot labels from the classes present in a label map.

    0 (background) and 255 (ignore) are skipped; any value outside
    ``{0..num_classes, 255}`` raises ``ValueError``.

    Returns:
        np.ndarray: float32 [num_classes].
    """
    values = np.unique(read_label_map(path))
    bad = [int(v) for v in values if v != IGNORE_INDEX and v > num_classes]
    if bad:
        raise ValueError(f'label map {path} has illegal values {bad}; '
                         f'expected 0..{num_classes} or {IGNORE_INDEX}')
    label = np.zeros(num_classes, np.float32)
    for v in values:
        if 0 < v <= num_classes:
            label[int(v) - 1] = 1.0
    return label


def load_cls_labels(path: str, num_classes: int) -> Dict:
    """Load a reference-style ``cls_labels.npy`` dict ``{name: float32[K]}``.

    The file is a pickled dict, so this uses ``np.load(allow_pickle=True)``:
    only load files you made yourself or trust.
    """
    if not path or not osp.isfile(path):
        raise FileNotFoundError(f'cls_label_file not found: {path!r}')
    try:
        obj = np.load(path, allow_pickle=True)
        table = obj.item() if isinstance(obj, np.ndarray) else obj
    except Exception as e:  # noqa: BLE001
        raise ValueError(
            f'cannot read {path} as a cls_labels dict: {e}') from e
    if not isinstance(table, dict):
        raise ValueError(f'{path} does not hold a dict {{name: labels}} '
                         f'(got {type(table).__name__})')
    for key, val in table.items():
        if np.asarray(val).shape != (num_classes, ):
            raise ValueError(
                f'entry {key!r} of {path} has shape {np.asarray(val).shape}; '
                f'expected ({num_classes},)')
        break
    return table


_VOC_NAME = re.compile(r'^(\d{4})_(\d{6})$')


def lookup_cls_label(table: Dict, name: str, path: str,
                     num_classes: int) -> np.ndarray:
    """``table[name]`` as float32 [K]; also tries IRN's integer key
    (``'2007_000032'`` -> ``2007000032``)."""
    if name in table:
        val = table[name]
    else:
        m = _VOC_NAME.match(name)
        key = int(m.group(1) + m.group(2)) if m else None
        if key is None or key not in table:
            raise ValueError(f'no entry for image {name!r} in {path}')
        val = table[key]
    val = np.asarray(val, dtype=np.float32).reshape(-1)
    if val.shape != (num_classes, ):
        raise ValueError(f'entry {name!r} of {path} has {val.size} values; '
                         f'expected {num_classes}')
    return val


def load_coco_instances(path: str,
                        class_names: Sequence[str],
                        include_crowd: bool = True) -> Tuple[Dict, Dict]:
    """Image-level labels from a COCO ``instances_*.json`` (json module only).

    Category ids are mapped to ``1..N`` in ascending id order; the name of
    the ``i``-th category must equal ``class_names[i]``.

    Args:
        path (str): The instances JSON.
        class_names (Sequence[str]): The ``K`` foreground names in order.
        include_crowd (bool): Count ``iscrowd=1`` annotations too.

    Returns:
        tuple[dict, dict]: ``labels`` {file stem: float32[K]} for every image
        in the file (all zeros if it has no annotation), and ``cat_to_index``
        {category id: 1-based class index}.
    """
    if not path or not osp.isfile(path):
        raise FileNotFoundError(f'COCO annotation file not found: {path!r}')
    try:
        with open(path) as f:
            data = json.load(f)
    except ValueError as e:
        raise ValueError(f'cannot parse COCO JSON {path}: {e}') from e
    for key in ('images', 'annotations', 'categories'):
        if key not in data:
            raise ValueError(f'COCO JSON {path} has no {key!r} list')
    cats = sorted(data['categories'], key=lambda c: c['id'])
    if len(cats) != len(class_names):
        raise ValueError(f'COCO JSON {path} has {len(cats)} categories; '
                         f'expected {len(class_names)}')
    cat_to_index = {}
    for i, (cat, name) in enumerate(zip(cats, class_names)):
        if cat['name'] != name:
            raise ValueError(
                f'category id {cat["id"]} in {path} is {cat["name"]!r}; '
                f'expected {name!r} (class {i + 1})')
        cat_to_index[cat['id']] = i + 1
    id_to_stem = {
        img['id']: osp.splitext(osp.basename(img['file_name']))[0]
        for img in data['images']
    }
    labels = {
        stem: np.zeros(len(class_names), np.float32)
        for stem in id_to_stem.values()
    }
    for ann in data['annotations']:
        if not include_crowd and ann.get('iscrowd', 0):
            continue
        cid = ann['category_id']
        if cid not in cat_to_index:
            raise ValueError(f'annotation {ann.get("id")} in {path} has '
                             f'unknown category id {cid}')
        if ann['image_id'] not in id_to_stem:
            raise ValueError(f'annotation {ann.get("id")} in {path} refers '
                             f'to unknown image id {ann["image_id"]}')
        labels[id_to_stem[ann['image_id']]][cat_to_index[cid] - 1] = 1.0
    return labels, cat_to_index
