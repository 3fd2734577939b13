"""Pictures and labels of the demo dataset (numpy and OpenCV).

Used by :func:`mmseg_sipe.datasets.demo.generate_demo_dataset`, which writes
them in the PASCAL VOC layout; see ``docs/demo_dataset.md``.

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
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from .metainfo import IGNORE_INDEX, VOC_CLASSES

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
    # Python floats keep the arithmetic float32 under every numpy version
    # (numpy 2 would promote a numpy float64 scalar to float64 and change
    # the rendered pixels; docs/pipeline.md, "The demo dataset").
    cos_t, sin_t = float(np.cos(theta)), float(np.sin(theta))
    u = (dx * cos_t + dy * sin_t) / a
    v = (-dx * sin_t + dy * cos_t) / b
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
    cos_p, sin_p = float(np.cos(phi)), float(np.sin(phi))  # see above
    s = np.sin(2 * np.pi * (xx * cos_p + yy * sin_p) / period + phase)
    return (0.91 + 0.09 * s).astype(np.float32)


def render_demo_image(rng: np.random.Generator,
                      size: Tuple[int, int] = (160, 256),
                      body_cue: float = 0.0) -> dict:
    """Render one demo image and its annotations.

    Args:
        rng (np.random.Generator): Source of all randomness.
        size (tuple[int, int]): Inclusive range of each image side.
        body_cue (float): How far each body's colour moves from the shared
            body grey towards its class part's colour (0: no class cue on
            the body). The same draws are made for every value, so two
            values give the same scenes.

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
        body = body + body_cue * (
            np.array(PART_COLOURS[name], np.float32) -
            np.array(BODY_COLOUR, np.float32))
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
