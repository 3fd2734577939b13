"""Class-index PNGs with the VOC palette, written atomically."""
import numpy as np
from PIL import Image

from ..utils.fileio import atomic_write
from .metainfo import flat_palette


def voc_palette() -> list:
    """The 256-entry PASCAL VOC colour map as a flat list (768 ints)."""
    return flat_palette(256)


_PALETTE = voc_palette()


def save_label_png(path: str, label: np.ndarray) -> None:
    """Write ``[H, W]`` class ids (0..254, 255 = ignore) as a palette PNG;
    temp file + rename, so a killed run leaves no truncated file."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'{path}: label must be 2-D, got {label.shape}')
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError(f'{path}: label values must be in 0..255')
    im = Image.fromarray(label.astype(np.uint8), mode='P')
    im.putpalette(_PALETTE)
    with atomic_write(path) as f:
        im.save(f, format='PNG')
