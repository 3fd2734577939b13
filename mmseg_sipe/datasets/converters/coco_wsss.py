"""MS COCO 2014 instances JSON -> class-index PNGs, without pycocotools.

Output: ``SegmentationClass/{split}/{file stem}.png`` (e.g.
``COCO_train2014_000000000009.png``) with 0 = background, 1..80 = the COCO
categories in ascending category-id order (the mapping of
:class:`mmseg_sipe.datasets.SIPECOCODataset`), 255 = ignore.

Rasterisation rules:

* polygons (a list of ``[x1, y1, x2, y2, ...]``, parts united): a pixel is
  inside when its centre is, in COCO's pixel convention (pixel ``(x, y)``
  covers ``[x, x+1) x [y, y+1)``, centre ``(x + 0.5, y + 0.5)``), by a
  vectorised scanline fill. Against pycocotools (which works on a 1/5 px
  grid) on random polygons, only boundary pixels differ, as many extra as
  missing: about 1 % of the area of large jagged polygons, 0-7 pixels on
  small ones. ``poly_method='cv2'`` uses ``cv2.fillPoly`` instead, which
  also fills every pixel the outline touches (about nine times more pixels
  differ, nearly all of them extra);
* RLE (``{'size': [h, w], 'counts': ...}``), as uncompressed run lengths
  (a list, used by COCO's crowd annotations) or COCO's compressed string,
  column-major, first run = background;
* the annotations of an image are painted in order of decreasing ``area``
  (stable), so smaller objects end up on top of larger ones;
* crowd annotations (``iscrowd=1``) paint 255 unless ``crowd_as_class``.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple, Union

import cv2
import numpy as np

from ..label_io import save_label_png
from ..metainfo import COCO_CLASSES, IGNORE_INDEX
from ._utils import run_tasks

#: Fixed-point bits for sub-pixel polygon coordinates in ``cv2.fillPoly``.
POLY_SHIFT = 4
#: Polygon fill methods of :func:`polygons_to_mask`.
POLY_METHODS = ('scanline', 'cv2')


# --------------------------------------------------------------------------
# RLE
# --------------------------------------------------------------------------
def rle_string_to_counts(s: Union[str, bytes]) -> List[int]:
    """Decode COCO's compressed RLE string into run lengths.

    Each count is stored in 5-bit groups, least significant first, as the
    characters ``chr(48 + group)``; bit ``0x20`` of a group means "more
    groups follow", bit ``0x10`` of the last group is the sign. From the
    fourth count on (index > 2) the stored value is the difference to the
    count two places before.

    Args:
        s (str | bytes): The ``counts`` string.

    Returns:
        list[int]: Run lengths, first run = zeros.

    Raises:
        ValueError: on a character out of range, a truncated value or a
            negative count.
    """
    if isinstance(s, bytes):
        s = s.decode('ascii')
    counts: List[int] = []
    p, n = 0, len(s)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError(f'truncated compressed RLE string {s!r}')
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f'illegal character {s[p]!r} in compressed '
                                 'RLE string')
            x |= (c & 0x1f) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            raise ValueError(f'negative run length in compressed RLE {s!r}')
        counts.append(x)
    return counts


def rle_counts_to_string(counts: Sequence[int]) -> str:
    """Encode run lengths as COCO's compressed RLE string (inverse of
    :func:`rle_string_to_counts`)."""
    out = []
    for i, cnt in enumerate(counts):
        x = int(cnt)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            c = x & 0x1f
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return ''.join(out)


def rle_encode(mask: np.ndarray) -> List[int]:
    """Uncompressed COCO RLE counts of a binary ``[H, W]`` mask
    (column-major; the first run counts zeros and may be 0)."""
    flat = np.asarray(mask, dtype=bool).flatten(order='F')
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0] + runs
    return runs


def rle_decode(counts: Union[Sequence[int], str, bytes], h: int,
               w: int) -> np.ndarray:
    """Binary ``[h, w]`` mask of a COCO RLE.

    Args:
        counts (list[int] | str | bytes): Uncompressed run lengths or the
            compressed string.
        h (int): Height.
        w (int): Width.

    Returns:
        np.ndarray: bool [h, w].

    Raises:
        ValueError: if the runs do not add up to ``h * w``.
    """
    if isinstance(counts, (str, bytes)):
        counts = rle_string_to_counts(counts)
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    if counts.size and counts.min() < 0:
        raise ValueError('negative run length in RLE counts')
    if int(counts.sum()) != h * w:
        raise ValueError(f'RLE runs add up to {int(counts.sum())} pixels; '
                         f'size {h}x{w} has {h * w}')
    values = np.arange(counts.size) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape(w, h).T.copy()


# --------------------------------------------------------------------------
# masks of annotations
# --------------------------------------------------------------------------
def _polygon_array(poly: Sequence[float]) -> np.ndarray:
    arr = np.asarray(poly, dtype=np.float64).reshape(-1)
    if arr.size % 2:
        raise ValueError(f'polygon has an odd number of coordinates '
                         f'({arr.size})')
    if not np.isfinite(arr).all():
        raise ValueError('polygon has non-finite coordinates')
    return arr.reshape(-1, 2)


def scanline_fill(xy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixels whose centre lies inside one polygon (even-odd rule).

    Pixel ``(x, y)`` is inside when its centre ``(x + 0.5, y + 0.5)`` is;
    edges are half-open (a centre on a left / top edge is in, on a right /
    bottom edge out), so the box polygon ``(x0, y0)-(x1, y1)`` with integer
    corners covers exactly columns ``x0..x1-1`` and rows ``y0..y1-1``.

    Args:
        xy (np.ndarray): float [N, 2] vertices ``(x, y)``, in pixels.
        h (int): Mask height.
        w (int): Mask width.

    Returns:
        np.ndarray: bool [h, w].
    """
    mask = np.zeros((h, w), bool)
    if len(xy) < 3:
        return mask
    x0, y0 = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    # rows whose centre c = r + 0.5 satisfies min(y) <= c < max(y)
    r0 = np.clip(np.ceil(np.minimum(y0, y1) - 0.5), 0, h).astype(np.int64)
    r1 = np.clip(np.ceil(np.maximum(y0, y1) - 0.5), 0, h).astype(np.int64)
    n = r1 - r0
    edges = np.flatnonzero(n > 0)  # horizontal edges have n == 0
    if edges.size == 0:
        return mask
    n = n[edges]
    e = np.repeat(edges, n)
    rows = r0[e] + np.arange(e.size) - np.repeat(np.cumsum(n) - n, n)
    t = (rows + 0.5 - y0[e]) / (y1[e] - y0[e])
    xs = x0[e] + t * (x1[e] - x0[e])
    order = np.lexsort((xs, rows))
    rows, xs = rows[order], xs[order]
    # every row is crossed an even number of times: consecutive pairs are
    # the inside spans [xa, xb); pixel x is in when xa <= x + 0.5 < xb
    start = np.clip(np.ceil(xs[0::2] - 0.5), 0, w).astype(np.int64)
    stop = np.clip(np.ceil(xs[1::2] - 0.5), 0, w).astype(np.int64)
    span_rows = rows[0::2]
    diff = np.zeros((h, w + 1), np.int32)
    np.add.at(diff, (span_rows, start), 1)
    np.add.at(diff, (span_rows, stop), -1)
    return np.cumsum(diff[:, :w], axis=1) > 0


def polygons_to_mask(polygons: Sequence[Sequence[float]],
                     h: int,
                     w: int,
                     method: str = 'scanline') -> np.ndarray:
    """Union of COCO polygons (each ``[x1, y1, x2, y2, ...]``) as a bool
    ``[h, w]`` mask.

    Args:
        polygons (Sequence): The parts of one annotation.
        h (int): Mask height.
        w (int): Mask width.
        method (str): ``'scanline'`` (default): pixel centres inside the
            polygon (:func:`scanline_fill`), differing from pycocotools
            on a few boundary pixels only; ``'cv2'``: ``cv2.fillPoly`` at 1/16 px,
            which also fills every pixel the outline touches (about half a
            pixel larger all round than pycocotools).

    Returns:
        np.ndarray: bool [h, w].
    """
    if method not in POLY_METHODS:
        raise ValueError(f'unknown polygon fill method {method!r}; '
                         f'expected one of {POLY_METHODS}')
    mask = np.zeros((h, w), bool)
    for poly in polygons:
        xy = _polygon_array(poly)
        if len(xy) == 0:
            continue
        if method == 'scanline':
            mask |= scanline_fill(xy, h, w)
        else:
            # one call per part: a single fillPoly call over several
            # parts would XOR their overlaps; COCO means the union
            part = np.zeros((h, w), np.uint8)
            pts = np.round((xy - 0.5) * (1 << POLY_SHIFT)).astype(np.int32)
            cv2.fillPoly(part, [pts], 1, lineType=cv2.LINE_8, shift=POLY_SHIFT)
            mask |= part.astype(bool)
    return mask


def segmentation_to_mask(seg: Any,
                         h: int,
                         w: int,
                         poly_method: str = 'scanline') -> np.ndarray:
    """Bool ``[h, w]`` mask of an annotation's ``segmentation`` (polygon
    list, uncompressed RLE or compressed RLE); ``poly_method`` as in
    :func:`polygons_to_mask`.

    Raises:
        ValueError: on an unknown format or an RLE of another size.
    """
    if isinstance(seg, list):
        return polygons_to_mask(seg, h, w, poly_method)
    if isinstance(seg, dict) and 'counts' in seg:
        size = seg.get('size')
        if size is None or [int(v) for v in size] != [h, w]:
            raise ValueError(f'RLE size {size} differs from the image size '
                             f'[{h}, {w}]')
        return rle_decode(seg['counts'], h, w)
    raise ValueError('segmentation is neither a polygon list nor an RLE '
                     f'dict (got {type(seg).__name__})')


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
