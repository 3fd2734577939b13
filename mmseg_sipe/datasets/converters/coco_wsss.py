"""MS COCO 2014 instances JSON -> class-index PNGs, without pycocotools.

Output: ``SegmentationClass/{split}/{file stem}.png`` (e.g.
``COCO_train2014_000000000009.png``) with 0 = background, 1..80 = the COCO
categories in ascending category-id order (the mapping of
:class:`mmseg_sipe.datasets.SIPECOCODataset`), 255 = ignore.

Rasterisation rules:

* each annotation's mask comes from its polygons or RLE as
  :mod:`.coco_masks` describes (:func:`.coco_masks.segmentation_to_mask`);
* the annotations of an image are painted in order of decreasing ``area``
  (stable), so smaller objects end up on top of larger ones;
* crowd annotations (``iscrowd=1``) paint 255 unless ``crowd_as_class``.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

import numpy as np

from ..label_io import save_label_png
from ..metainfo import COCO_CLASSES, IGNORE_INDEX
from ._utils import run_tasks
from .coco_masks import POLY_METHODS, segmentation_to_mask

# --------------------------------------------------------------------------
# categories and per-image annotation tables
# --------------------------------------------------------------------------
def coco_category_mapping(categories: Sequence[dict],
                          class_names: Optional[
                              Sequence[str]] = COCO_CLASSES[1:],
                          source: str = 'COCO JSON') -> Dict[int, int]:
    """``{category id: class index 1..K}`` by ascending category id.

    The same rule as :func:`mmseg_sipe.datasets.labels.load_coco_instances`
    (used by :class:`SIPECOCODataset`): the ``i``-th category in id order
    is class ``i + 1`` and must be named ``class_names[i]``.

    Args:
        categories (Sequence[dict]): The JSON's ``categories`` (``id``,
            ``name``).
        class_names (Sequence[str], optional): The ``K`` foreground names in
            order; None skips the name check.
        source (str): File name used in error messages.

    Raises:
        ValueError: on duplicate ids, a wrong count or a wrong name.
    """
    cats = sorted(categories, key=lambda c: c['id'])
    ids = [c['id'] for c in cats]
    if len(set(ids)) != len(ids):
        raise ValueError(f'duplicate category ids in {source}')
    if class_names is not None:
        if len(cats) != len(class_names):
            raise ValueError(f'{source} has {len(cats)} categories; '
                             f'expected {len(class_names)}')
        for i, (cat, name) in enumerate(zip(cats, class_names)):
            if cat.get('name') != name:
                raise ValueError(
                    f'category id {cat["id"]} in {source} is '
                    f'{cat.get("name")!r}; expected {name!r} (class {i + 1})')
    return {cid: i + 1 for i, cid in enumerate(ids)}


#: One annotation as sent to a worker:
#: (annotation id, class index, iscrowd, area, segmentation).
AnnTuple = Tuple[Any, int, int, float, Any]


def rasterize_annotations(anns: Sequence[AnnTuple],
                          h: int,
                          w: int,
                          crowd_as_class: bool = False,
                          poly_method: str = 'scanline') -> np.ndarray:
    """Paint the annotations of one image into a class-index map.

    Args:
        anns (Sequence[tuple]): ``(ann id, class index, iscrowd, area,
            segmentation)`` per annotation; ``area`` None means the mask's
            pixel count.
        h (int): Image height.
        w (int): Image width.
        crowd_as_class (bool): Paint crowd regions with their class instead
            of 255.
        poly_method (str): See :func:`polygons_to_mask`.

    Returns:
        np.ndarray: uint8 [h, w]; 0 background, class indices, 255 crowd.
    """
    label = np.zeros((h, w), np.uint8)
    items = []
    for ann_id, cls, crowd, area, seg in anns:
        try:
            mask = segmentation_to_mask(seg, h, w, poly_method)
        except ValueError as e:
            raise ValueError(f'annotation {ann_id}: {e}') from e
        items.append((float(mask.sum()) if area is None else float(area), mask,
                      cls, crowd))
    # stable sort: equal areas keep the JSON order
    items.sort(key=lambda it: -it[0])
    for _, mask, cls, crowd in items:
        label[mask] = cls if (crowd_as_class or not crowd) else IGNORE_INDEX
    return label


def _convert_one(task) -> str:
    """Worker: ``(dst, file name, h, w, anns, crowd_as_class,
    poly_method)`` -> PNG."""
    dst, file_name, h, w, anns, crowd_as_class, poly_method = task
    try:
        label = rasterize_annotations(anns, h, w, crowd_as_class, poly_method)
    except ValueError as e:
        raise ValueError(f'{file_name}: {e}') from e
    save_label_png(dst, label)
    return dst


def group_annotations(data: dict, cat_to_index: Dict[int, int],
                      source: str) -> Dict[Any, List[AnnTuple]]:
    """``{image id: [AnnTuple, ...]}`` in JSON order (every image present).

    Raises:
        ValueError: on an annotation with an unknown image or category id,
            or without ``segmentation``.
    """
    by_image: Dict[Any, List[AnnTuple]] = {
        img['id']: []
        for img in data['images']
    }
    for ann in data['annotations']:
        ann_id = ann.get('id')
        if ann.get('image_id') not in by_image:
            raise ValueError(f'annotation {ann_id} in {source} refers to '
                             f'unknown image id {ann.get("image_id")}')
        cid = ann.get('category_id')
        if cid not in cat_to_index:
            raise ValueError(f'annotation {ann_id} in {source} has unknown '
                             f'category id {cid}')
        if 'segmentation' not in ann:
            raise ValueError(f'annotation {ann_id} in {source} has no '
                             "'segmentation'")
        by_image[ann['image_id']].append(
            (ann_id, cat_to_index[cid], int(ann.get('iscrowd', 0)),
             ann.get('area'), ann['segmentation']))
    return by_image


def load_instances(path: str) -> dict:
    """Parse an ``instances_*.json`` and check its top-level lists."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'COCO annotation file not found: {path} (it comes with '
            'annotations_trainval2014.zip)')
    try:
        with open(path) as f:
            data = json.load(f)
    except ValueError as e:
        raise ValueError(f'cannot parse COCO JSON {path}: {e}') from e
    if not isinstance(data, dict):
        raise ValueError(f'COCO JSON {path} is not an object')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            raise ValueError(f'COCO JSON {path} has no {key!r} list')
    return data


# --------------------------------------------------------------------------
# the converter
# --------------------------------------------------------------------------
def convert_coco_wsss(coco_root: str,
                      split: str = 'train2014',
                      ann_file: Optional[str] = None,
                      out_dir: Optional[str] = None,
                      nproc: int = 1,
                      crowd_as_class: bool = False,
                      poly_method: str = 'scanline',
                      overwrite: bool = False,
                      class_names: Optional[Sequence[str]] = COCO_CLASSES[1:],
                      progress_file: Optional[TextIO] = None) -> dict:
    """Write one class-index PNG per image of a COCO instances JSON.

    Args:
        coco_root (str): COCO root (holds ``annotations/``).
        split (str): ``train2014`` or ``val2014`` (any name works).
        ann_file (str, optional): Instances JSON; default
            ``{coco_root}/annotations/instances_{split}.json``.
        out_dir (str, optional): Output folder; default
            ``{coco_root}/SegmentationClass/{split}``.
        nproc (int): Worker processes.
        crowd_as_class (bool): Crowd regions get their class, not 255.
        poly_method (str): ``'scanline'`` or ``'cv2'``, see
            :func:`polygons_to_mask`.
        overwrite (bool): Rewrite existing PNGs (default: skip them).
        class_names (Sequence[str], optional): Expected category names in
            id order (None: no check).
        progress_file (TextIO, optional): Progress-bar stream.

    Returns:
        dict: ``ann_file``, ``out_dir``, ``num_images``, ``num_annotations``,
        ``num_crowd``, ``num_empty`` (images without annotations, written as
        all background), ``written``, ``skipped``.

    Raises:
        FileNotFoundError / ValueError: naming the file, image or annotation.
    """
    if poly_method not in POLY_METHODS:
        raise ValueError(f'unknown polygon fill method {poly_method!r}; '
                         f'expected one of {POLY_METHODS}')
    if not osp.isdir(coco_root):
        raise FileNotFoundError(f'COCO root not found: {coco_root}')
    ann_file = ann_file or osp.join(coco_root, 'annotations',
                                    f'instances_{split}.json')
    out_dir = out_dir or osp.join(coco_root, 'SegmentationClass', split)
    data = load_instances(ann_file)
    for img in data['images']:
        for key in ('id', 'file_name', 'height', 'width'):
            if key not in img:
                raise ValueError(f'image entry {img.get("id")} in {ann_file} '
                                 f'has no {key!r}')
    cat_to_index = coco_category_mapping(data['categories'], class_names,
                                         ann_file)
    by_image = group_annotations(data, cat_to_index, ann_file)

    os.makedirs(out_dir, exist_ok=True)
    tasks, skipped, seen = [], 0, set()
    for img in data['images']:
        stem = osp.splitext(osp.basename(img['file_name']))[0]
        if stem in seen:
            raise ValueError(f'duplicate file name {img["file_name"]!r} in '
                             f'{ann_file}')
        seen.add(stem)
        dst = osp.join(out_dir, stem + '.png')
        if not overwrite and osp.isfile(dst):
            skipped += 1
            continue
        tasks.append(
            (dst, img['file_name'], int(img['height']), int(img['width']),
             by_image[img['id']], crowd_as_class, poly_method))
    del data
    run_tasks(_convert_one, tasks, nproc=nproc, file=progress_file)
    anns = [a for v in by_image.values() for a in v]
    return dict(
        ann_file=osp.abspath(ann_file),
        out_dir=osp.abspath(out_dir),
        num_images=len(by_image),
        num_annotations=len(anns),
        num_crowd=sum(a[2] for a in anns),
        num_empty=sum(not v for v in by_image.values()),
        written=len(tasks),
        skipped=skipped)
