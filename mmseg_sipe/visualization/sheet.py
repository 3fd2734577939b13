"""Render rows of image | ground truth | CAM | IS-CAM | CRF | pseudo label."""
from typing import List, Optional, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ..datasets.label_io import voc_palette
from ..utils.fileio import atomic_write

_PAL = np.asarray(voc_palette(), np.uint8).reshape(256, 3)
COLUMNS = ('image', 'ground truth', 'CAM', 'IS-CAM', 'CRF labels',
           'pseudo label')


def colorize_label(label: np.ndarray) -> np.ndarray:
    """``[H, W]`` class ids -> ``[H, W, 3]`` uint8 RGB (VOC palette; 255 is
    drawn white like VOC's boundary)."""
    return _PAL[np.asarray(label, np.uint8)]


def cam_overlay(img: np.ndarray, cam: np.ndarray, keys: np.ndarray,
                alpha: float = 0.5) -> np.ndarray:
    """Jet heat map of the foreground maps (max over the image's classes)
    blended over the RGB image.

    Args:
        img: ``[H, W, 3]`` uint8 RGB.
        cam: ``[K_img+1, H, W]`` maps, channel 0 background.
    """
    fg = cam[1:].max(0) if cam.shape[0] > 1 else np.zeros(cam.shape[1:])
    heat = cv2.applyColorMap(
        (np.clip(fg, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return (img * (1 - alpha) + heat * alpha).astype(np.uint8)


def _blank(h: int, w: int) -> np.ndarray:
    out = np.full((h, w, 3), 230, np.uint8)
    cv2.line(out, (0, 0), (w - 1, h - 1), (160, 160, 160), 1)
    cv2.line(out, (0, h - 1), (w - 1, 0), (160, 160, 160), 1)
    return out


def render_row(img: np.ndarray, tiles: Sequence[Optional[np.ndarray]],
               gap: int = 4) -> np.ndarray:
    """Image plus tiles side by side; a missing tile (None) is drawn as a
    crossed grey box."""
    h, w = img.shape[:2]
    parts = [img]
    for t in tiles:
        parts.append(np.full((h, gap, 3), 255, np.uint8))
        parts.append(_blank(h, w) if t is None else t)
    return np.concatenate(parts, 1)


def render_sheet(rows: List[np.ndarray], names: Sequence[str],
                 columns: Sequence[str] = COLUMNS,
                 tile_width: Optional[int] = None) -> np.ndarray:
    """Stack rows (resized to a common width) under a header of column
    names; each row labelled with its image name."""
    width = max(r.shape[1] for r in rows)
    fixed = []
    for r in rows:
        if r.shape[1] != width:
            s = width / r.shape[1]
            r = cv2.resize(r, (width, int(round(r.shape[0] * s))),
                           interpolation=cv2.INTER_NEAREST)
        fixed.append(r)
    header = Image.new('RGB', (width, 18), (255, 255, 255))
    draw = ImageDraw.Draw(header)
    col_w = width / len(columns)
    for i, c in enumerate(columns):
        draw.text((int(i * col_w) + 4, 3), c, fill=(0, 0, 0))
    out = [np.asarray(header)]
    for r, n in zip(fixed, names):
        lab = Image.new('RGB', (width, 14), (245, 245, 245))
        ImageDraw.Draw(lab).text((4, 1), n, fill=(60, 60, 60))
        out += [np.asarray(lab), r]
    return np.concatenate(out, 0)


def save_sheet(path: str, sheet: np.ndarray) -> None:
    """Write the sheet as a PNG, atomically."""
    with atomic_write(path) as f:
        Image.fromarray(sheet).save(f, format='PNG')
