"""Pictures of a pipeline run (mmseg_sipe.visualization.sheet)."""
import numpy as np
from PIL import Image

from mmseg_sipe.datasets.label_io import voc_palette
from mmseg_sipe.visualization.sheet import (COLUMNS, cam_overlay,
                                            colorize_label, render_row,
                                            render_sheet, save_sheet)


def test_colorize_label_uses_the_voc_palette():
    label = np.array([[0, 1], [15, 255]], np.uint8)
    rgb = colorize_label(label)
    pal = np.asarray(voc_palette(), np.uint8).reshape(256, 3)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 1] == pal[1]).all() and (rgb[1, 0] == pal[15]).all()
    assert (rgb[0, 0] == 0).all()


def test_cam_overlay_blends_the_strongest_class():
    img = np.full((4, 5, 3), 100, np.uint8)
    cam = np.zeros((3, 4, 5), np.float32)
    cam[2, :, 3:] = 1.0  # a hot right edge
    out = cam_overlay(img, cam, np.array([0, 1, 2]), alpha=0.5)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out[:, 0], out[:, 4])  # cold vs hot
    # background only: the cold colour everywhere
    cold = cam_overlay(img, cam[:1], np.array([0]))
    assert (cold == cold[0, 0]).all()


def test_row_and_sheet_layout(tmp_path):
    img = np.zeros((10, 8, 3), np.uint8)
    row = render_row(img, [img, None], gap=2)
    assert row.shape == (10, 8 * 3 + 2 * 2, 3)
    assert (row[:, 8:10] == 255).all()  # the gap
    assert (row[:, 10:18] == 0).all()  # the first tile as given
    assert (row[:, 20:28] != 0).any()  # the crossed box of the missing tile
    small = render_row(img[:5, :4], [img[:5, :4]], gap=2)
    sheet = render_sheet([row, small], ['a', 'b'], columns=COLUMNS[:3])
    # header 18 + (label 14 + row) per row; the small row scaled to width
    assert sheet.shape[1] == row.shape[1]
    assert sheet.shape[0] == 18 + 14 + 10 + 14 + round(5 * row.shape[1] / 10)
    out = tmp_path / 'sub' / 'sheet.png'
    save_sheet(str(out), sheet)
    assert np.array_equal(np.asarray(Image.open(out)), sheet)
    assert sorted(p.name for p in out.parent.iterdir()) == ['sheet.png']
