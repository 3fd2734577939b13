"""A tiny, deterministic, PASCAL-VOC-layout demo dataset.

The demo exists so that the whole SIPE pipeline (stage one -> CAMs ->
refinement -> stage two) can run end to end on a CPU in minutes, through the
very same code paths as the real VOC 2012 data. See ``docs/demo_dataset.md``.

Image design (why it suits a CAM method):

* every object is a convex blob (a rotated super-ellipse) made of a large
  **body** whose colour (light grey) and texture (fine stripes) are shared by
  all classes, plus a small **class part** (15-25 % of the object area, a cap
  at one end of the long axis) whose colour identifies the class;
* the part has the same stripe texture and sits inside the same object
  outline, so the object is visually coherent;
* backgrounds are smooth, muted colour fields with pixel noise and a few
  muted clutter blobs; they never contain the light body grey or the
  saturated part colours.

A classifier therefore only needs the part to tell the classes apart, so a
plain CAM fires on the part and under-covers the object (like CAMs firing on
faces and wheels in real photos), while structure-aware seeds / IS-CAM can
grow it over the coherent body.

Four VOC classes are used, with their real VOC indices so the 21-class VOC
label layout (and every VOC config) applies unchanged:
``aeroplane`` (1), ``bird`` (3), ``car`` (7), ``cat`` (8).
"""
import io
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

from ..utils.fileio import atomic_write
from .metainfo import IGNORE_INDEX, VOC_CLASSES, flat_palette

#: Foreground classes drawn in the demo (real VOC names).
DEMO_CLASSES: Tuple[str, ...] = ('aeroplane', 'bird', 'car', 'cat')
#: Their VOC class indices (0 = background).
DEMO_CLASS_IDS: Tuple[int,
                      ...] = tuple(VOC_CLASSES.index(c) for c in DEMO_CLASSES)
#: RGB base colour of each class part.
PART_COLOURS: Dict[str, Tuple[int, int, int]] = {
    'aeroplane': (225, 40, 40),
    'bird': (40, 190, 60),
    'car': (40, 90, 230),
    'cat': (240, 205, 30),
}
#: RGB base colour of every object body (shared by all classes).
BODY_COLOUR: Tuple[int, int, int] = (200, 200, 206)

#: Sub-folders written by the generator (and removed by ``overwrite=True``).
DEMO_SUBDIRS = ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
                'Annotations', 'ImageSets')

# split code -> (name prefix, has SegmentationClass)
_SPLITS = {0: ('train', True), 1: ('val', True), 2: ('aug', False)}


# --------------------------------------------------------------------------
# small file helpers
# --------------------------------------------------------------------------
def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file and ``os.replace``."""
    with atomic_write(path) as f:
        f.write(data)


def encode_jpg(img_rgb: np.ndarray, quality: int = 90) -> bytes:
    """Encode an RGB uint8 HxWx3 array as JPEG bytes (PIL, deterministic)."""
    buf = io.BytesIO()
    Image.fromarray(img_rgb).save(buf, format='JPEG', quality=quality)
    return buf.getvalue()


def encode_palette_png(label: np.ndarray) -> bytes:
    """Encode a uint8 HxW class-index map as a 'P' PNG with the VOC palette."""
    img = Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8))
    img.putpalette(flat_palette(256))
    assert img.mode == 'P'
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()


def voc_xml(name: str, width: int, height: int,
            objects: Sequence[dict]) -> str:
    """A VOC-style annotation XML string.

    Args:
        name (str): Image id (file stem).
        width, height (int): Image size.
        objects (list[dict]): Each with ``name`` (str), ``difficult`` (0/1)
            and ``bbox`` = (xmin, ymin, xmax, ymax), 1-based inclusive as VOC.
    """
    lines = [
        '<annotation>', '\t<folder>VOC2012</folder>',
        f'\t<filename>{name}.jpg</filename>', '\t<source>',
        '\t\t<database>mmseg_sipe demo</database>', '\t</source>', '\t<size>',
        f'\t\t<width>{width}</width>', f'\t\t<height>{height}</height>',
        '\t\t<depth>3</depth>', '\t</size>', '\t<segmented>1</segmented>'
    ]
    for obj in objects:
        x0, y0, x1, y1 = obj['bbox']
        lines += [
            '\t<object>', f'\t\t<name>{obj["name"]}</name>',
            '\t\t<pose>Unspecified</pose>', '\t\t<truncated>0</truncated>',
            f'\t\t<difficult>{int(obj["difficult"])}</difficult>',
            '\t\t<bndbox>', f'\t\t\t<xmin>{x0}</xmin>',
            f'\t\t\t<ymin>{y0}</ymin>', f'\t\t\t<xmax>{x1}</xmax>',
            f'\t\t\t<ymax>{y1}</ymax>', '\t\t</bndbox>', '\t</object>'
        ]
    lines.append('</annotation>')
    return '\n'.join(lines) + '\n'


# --------------------------------------------------------------------------
# rendering (pure numpy / cv2)
# --------------------------------------------------------------------------
def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth muted colour field + clutter + noise, float32 HxWx3 RGB."""
    gh, gw = rng.integers(3, 8, size=2)
    grey = rng.uniform(45, 135, size=(gh, gw, 1))
    chroma = rng.uniform(-22, 22, size=(gh, gw, 3))
    grid = (grey + chroma).astype(np.float32)
    bg = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(int(rng.integers(2, 6))):  # muted clutter blobs
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(6, 0.25 * h), rng.uniform(6, 0.25 * w)
        m = ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2 <= 1
        col = rng.uniform(35, 140) + rng.uniform(-20, 20, size=3)
        bg[m] = 0.5 * bg[m] + 0.5 * col.astype(np.float32)
    # coarse texture
    tex = rng.normal(0, 1, size=(h // 4 + 1, w // 4 + 1)).astype(np.float32)
    tex = cv2.resize(tex, (w, h), interpolation=cv2.INTER_LINEAR)
    bg += 9 * tex[..., None]
    return bg


def _object_masks(rng: np.random.Generator, h: int, w: int,
                  small: bool) -> Tuple[np.ndarray, np.ndarray, dict]:
    """Sample one object: (object mask, part mask, geometry) on an HxW grid.

    The object is a rotated super-ellipse; the part is the cap at one end of
    its long axis holding a fraction in [0.15, 0.25] of the visible object.
    """
    side = min(h, w)
    lo, hi = (0.12, 0.2) if small else (0.2, 0.42)
    a = rng.uniform(lo, hi) * side
    b = a * rng.uniform(0.45, 0.8)
    p = rng.uniform(2.0, 3.5)
    theta = rng.uniform(0, np.pi)
    margin = 0.8 * a
    cx = rng.uniform(min(margin, w / 2), max(w - margin, w / 2))
    cy = rng.uniform(min(margin, h / 2), max(h - margin, h / 2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    u = (dx * np.cos(theta) + dy * np.sin(theta)) / a
    v = (-dx * np.sin(theta) + dy * np.cos(theta)) / b
    obj = np.abs(u)**p + np.abs(v)**p <= 1.0
    frac = rng.uniform(0.15, 0.25)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    part = np.zeros_like(obj)
    if obj.sum() > 0:
        su = sign * u
        t = np.quantile(su[obj], 1.0 - frac)
        part = obj & (su >= t)
    return obj, part, dict(a=a, b=b, theta=theta, cx=cx, cy=cy, frac=frac)


def _stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Stripe modulation in [0.82, 1.0], float32 HxW (one per object)."""
    period = rng.uniform(6, 12)
    phi = rng.uniform(0, np.pi)
    phase = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    s = np.sin(2 * np.pi * (xx * np.cos(phi) + yy * np.sin(phi)) / period +
               phase)
    return (0.91 + 0.09 * s).astype(np.float32)


def render_demo_image(
    rng: np.random.Generator, size: Tuple[int, int] = (160, 256)) -> dict:
    """Render one demo image and its annotations.

    Args:
        rng (np.random.Generator): Source of all randomness.
        size (tuple[int, int]): Inclusive range of each image side.

    Returns:
        dict: ``img`` (uint8 HxWx3 RGB), ``label`` (uint8 HxW VOC class
        indices, no void), ``instances`` (uint8 HxW, 0 = bg, i+1 = object i),
        ``part`` (bool HxW, union of class parts) and ``objects`` (list of
        dicts with ``name``, ``class_id``, ``difficult``, ``bbox``).
    """
    h, w = (int(v) for v in rng.integers(size[0], size[1] + 1, size=2))
    canvas = _background(rng, h, w)
    label = np.zeros((h, w), np.uint8)
    inst = np.zeros((h, w), np.uint8)
    part_union = np.zeros((h, w), bool)
    objects: List[dict] = []
    masks: List[Tuple[np.ndarray, np.ndarray]] = []
    n_obj = int(rng.integers(1, 4))
    for _ in range(n_obj):
        cls = int(rng.integers(len(DEMO_CLASSES)))
        small = bool(rng.random() < 0.2)
        difficult = int(small and rng.random() < 0.5)
        for _try in range(20):
            obj, part, _ = _object_masks(rng, h, w, small)
            area = int(obj.sum())
            if area < 30 or int(part.sum()) < 6:
                continue
            ok = True
            for o_prev, p_prev in masks:
                inter = int((obj & o_prev).sum())
                if inter > 0.1 * min(area, int(o_prev.sum())) or \
                        int((obj & p_prev).sum()) > 0.1 * int(p_prev.sum()):
                    ok = False
                    break
            if ok:
                break
        else:
            continue  # could not place it: drop this object
        name = DEMO_CLASSES[cls]
        tex = _stripes(rng, h, w)
        body = np.array(BODY_COLOUR, np.float32) + rng.uniform(-10, 10)
        body = body + rng.uniform(-4, 4, size=3)
        pc = np.array(PART_COLOURS[name], np.float32) + rng.uniform(
            -15, 15, size=3)
        colour = np.where(part[..., None], pc, body) * tex[..., None]
        canvas[obj] = colour[obj]
        label[obj] = DEMO_CLASS_IDS[cls]
        inst[obj] = len(masks) + 1
        part_union &= ~obj
        part_union |= part
        masks.append((obj, part))
        ys, xs = np.nonzero(obj)
        objects.append(
            dict(
                name=name,
                class_id=DEMO_CLASS_IDS[cls],
                difficult=difficult,
                bbox=(int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1,
                      int(ys.max()) + 1)))
    canvas += rng.normal(0, 6, size=canvas.shape).astype(np.float32)
    img = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    return dict(
        img=img, label=label, instances=inst, part=part_union, objects=objects)


def voc_style_label(label: np.ndarray,
                    instances: np.ndarray,
                    objects: Sequence[dict],
                    band: bool = True,
                    void_difficult: bool = True) -> np.ndarray:
    """Turn a clean class map into a VOC-style ground truth.

    Args:
        label (np.ndarray): uint8 HxW class indices.
        instances (np.ndarray): uint8 HxW instance ids (0 = background).
        objects (list[dict]): Object records (``difficult`` used).
        band (bool): Mark a 2-pixel band on every instance / background
            boundary with 255, as VOC's SegmentationClass does.
        void_difficult (bool): Mark difficult objects 255, as VOC does.

    Returns:
        np.ndarray: uint8 HxW with values in {0..20, 255}.
    """
    out = label.copy()
    if void_difficult:
        for i, obj in enumerate(objects):
            if obj['difficult']:
                out[instances == i + 1] = IGNORE_INDEX
    if band:
        k = np.ones((3, 3), np.uint8)
        edge = cv2.dilate(instances, k) != cv2.erode(instances, k)
        out[edge] = IGNORE_INDEX
    return out


# --------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------
def _image_name(split_code: int, idx: int) -> str:
    return f'{_SPLITS[split_code][0]}_{idx:04d}'


def generate_demo_dataset(root: str,
                          num_train: int = 60,
                          num_val: int = 40,
                          num_aug: int = 140,
                          size: Tuple[int, int] = (160, 256),
                          seed: int = 0,
                          overwrite: bool = False) -> dict:
    """Write the demo dataset in the PASCAL VOC 2012 layout under ``root``.

    Layout::

        root/JPEGImages/{name}.jpg              all images
        root/SegmentationClass/{name}.png       train + val (VOC style: 255
                                                boundary band, difficult=255)
        root/SegmentationClassAug/{name}.png    train + val (same as above)
                                                + aug (SBD style: no band,
                                                difficult objects labelled)
        root/Annotations/{name}.xml             all images (VOC XML)
        root/ImageSets/Segmentation/{train,val,train_aug}.txt

    ``train_aug`` = ``train`` + ``aug`` images (like VOC's 10582 list, which
    excludes val); ``aug`` images have no ``SegmentationClass`` file.

    Image ``i`` of a split is drawn from ``np.random.default_rng([seed,
    split, i])``, so the same seed gives byte-identical files and changing
    one split's size does not change the images of the others.

    Args:
        root (str): Output directory (created if missing).
        num_train (int): Images in ``train.txt`` (with SegmentationClass).
        num_val (int): Images in ``val.txt``.
        num_aug (int): Extra images only in ``train_aug.txt``.
        size (tuple[int, int]): Inclusive range of each image side in px.
        seed (int): Random seed.
        overwrite (bool): Remove existing demo sub-folders first. Without it,
            an existing one raises ``FileExistsError``.

    Returns:
        dict: Summary with ``root``, ``classes``, ``class_ids``, ``seed``,
        ``size``, ``splits`` (name -> number of images), ``num_images``,
        ``num_objects`` and ``num_difficult``.
    """
    if min(num_train, num_val, num_aug) < 0:
        raise ValueError('image counts must be >= 0')
    if num_train + num_aug < 1:
        raise ValueError('num_train + num_aug must be >= 1')
    lo, hi = int(size[0]), int(size[1])
    if not 32 <= lo <= hi:
        raise ValueError(f'size must be (min, max) with 32 <= min <= max, '
                         f'got {size}')
    for sub in DEMO_SUBDIRS:
        path = osp.join(root, sub)
        if osp.exists(path):
            if not overwrite:
                raise FileExistsError(
                    f'{path} already exists; pass overwrite=True '
                    '(--overwrite) to replace the demo dataset')
            shutil.rmtree(path)
    for sub in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
                'Annotations', osp.join('ImageSets', 'Segmentation')):
        os.makedirs(osp.join(root, sub), exist_ok=True)

    lists: Dict[int, List[str]] = {0: [], 1: [], 2: []}
    n_obj = n_diff = 0
    for code, count in ((0, num_train), (1, num_val), (2, num_aug)):
        has_voc_gt = _SPLITS[code][1]
        for i in range(count):
            name = _image_name(code, i)
            rng = np.random.default_rng([seed, code, i])
            rec = render_demo_image(rng, (lo, hi))
            h, w = rec['label'].shape
            atomic_write_bytes(
                osp.join(root, 'JPEGImages', name + '.jpg'),
                encode_jpg(rec['img']))
            atomic_write_bytes(
                osp.join(root, 'Annotations', name + '.xml'),
                voc_xml(name, w, h, rec['objects']).encode())
            if has_voc_gt:
                gt = voc_style_label(rec['label'], rec['instances'],
                                     rec['objects'])
                png = encode_palette_png(gt)
                atomic_write_bytes(
                    osp.join(root, 'SegmentationClass', name + '.png'), png)
            else:
                png = encode_palette_png(
                    voc_style_label(
                        rec['label'],
                        rec['instances'],
                        rec['objects'],
                        band=False,
                        void_difficult=False))
            atomic_write_bytes(
                osp.join(root, 'SegmentationClassAug', name + '.png'), png)
            lists[code].append(name)
            n_obj += len(rec['objects'])
            n_diff += sum(o['difficult'] for o in rec['objects'])

    splits = {
        'train': lists[0],
        'val': lists[1],
        'train_aug': lists[0] + lists[2],
    }
    for split, names in splits.items():
        atomic_write_bytes(
            osp.join(root, 'ImageSets', 'Segmentation', split + '.txt'),
            ''.join(n + '\n' for n in names).encode())
    return dict(
        root=osp.abspath(root),
        classes=list(DEMO_CLASSES),
        class_ids=list(DEMO_CLASS_IDS),
        seed=seed,
        size=(lo, hi),
        splits={
            k: len(v)
            for k, v in splits.items()
        },
        num_images=num_train + num_val + num_aug,
        num_objects=n_obj,
        num_difficult=n_diff)


def render_demo_samples(root: str,
                        out_file: str,
                        names: Optional[Sequence[str]] = None,
                        num: int = 6,
                        tile: int = 160) -> str:
    """Render a grid picture: images on top, SegmentationClass masks below.

    Args:
        root (str): A VOC-layout root (e.g. made by
            :func:`generate_demo_dataset`).
        out_file (str): PNG to write (atomically).
        names (list[str], optional): Image ids; default: the first ``num``
            of ``ImageSets/Segmentation/train.txt``.
        num (int): Number of columns when ``names`` is None.
        tile (int): Tile side in px (each picture is letter-boxed into it).

    Returns:
        str: ``out_file``.
    """
    if names is None:
        split = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
        if not osp.isfile(split):
            raise FileNotFoundError(f'split file not found: {split}')
        with open(split) as f:
            names = [n.strip() for n in f if n.strip()][:num]
    if not names:
        raise ValueError('no images to render')
    pad = 4
    grid = np.full((2 * tile + 3 * pad, len(names) * (tile + pad) + pad, 3),
                   255, np.uint8)

    def _fit(img: Image.Image) -> np.ndarray:
        img = img.convert('RGB')
        s = tile / max(img.size)
        img = img.resize(
            (max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s))),
            Image.NEAREST)
        out = np.full((tile, tile, 3), 255, np.uint8)
        a = np.asarray(img)
        y0, x0 = (tile - a.shape[0]) // 2, (tile - a.shape[1]) // 2
        out[y0:y0 + a.shape[0], x0:x0 + a.shape[1]] = a
        return out

    for j, name in enumerate(names):
        img_path = osp.join(root, 'JPEGImages', name + '.jpg')
        seg_path = osp.join(root, 'SegmentationClass', name + '.png')
        if not osp.isfile(seg_path):
            seg_path = osp.join(root, 'SegmentationClassAug', name + '.png')
        for p in (img_path, seg_path):
            if not osp.isfile(p):
                raise FileNotFoundError(f'file not found: {p}')
        x = pad + j * (tile + pad)
        with Image.open(img_path) as im:
            grid[pad:pad + tile, x:x + tile] = _fit(im)
        with Image.open(seg_path) as im:
            grid[2 * pad + tile:2 * pad + 2 * tile, x:x + tile] = _fit(im)
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format='PNG')
    atomic_write_bytes(out_file, buf.getvalue())
    return out_file
