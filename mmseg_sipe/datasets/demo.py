"""A tiny, deterministic, PASCAL-VOC-layout demo dataset.

The demo exists so that the whole SIPE pipeline (stage one -> CAMs ->
refinement -> stage two) can run end to end on a CPU in minutes, through the
very same code paths as the real VOC 2012 data. See ``docs/demo_dataset.md``.

This module writes the files (:func:`generate_demo_dataset`) and a picture of
a few of them (:func:`render_demo_samples`); :mod:`.demo_render` draws the
images and their labels (and says why their design suits a CAM method)
with four VOC classes (:data:`DEMO_CLASSES`) at their real VOC indices.
"""
import io
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..utils.fileio import atomic_write_bytes
from .demo_render import (BODY_COLOUR, DEMO_CLASS_IDS, DEMO_CLASSES,
                          PART_COLOURS, render_demo_image, voc_style_label)
from .metainfo import flat_palette

__all__ = [
    'DEMO_CLASSES', 'DEMO_CLASS_IDS', 'PART_COLOURS', 'BODY_COLOUR',
    'DEMO_SUBDIRS', 'render_demo_image', 'voc_style_label', 'encode_jpg',
    'encode_palette_png', 'voc_xml', 'generate_demo_dataset',
    'render_demo_samples'
]

#: Sub-folders written by the generator (and removed by ``overwrite=True``).
DEMO_SUBDIRS = ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
                'Annotations', 'ImageSets')

# split code -> (name prefix, has SegmentationClass)
_SPLITS = {0: ('train', True), 1: ('val', True), 2: ('aug', False)}


# --------------------------------------------------------------------------
# file encoders
# --------------------------------------------------------------------------
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
                          body_cue: float = 0.0,
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
        body_cue (float): Class cue on object bodies (see
            :func:`render_demo_image`); 0 (default): none.
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
            rec = render_demo_image(rng, (lo, hi), body_cue=body_cue)
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
