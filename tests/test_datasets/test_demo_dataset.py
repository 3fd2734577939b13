import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from mmseg_sipe.datasets.demo import (DEMO_CLASS_IDS, DEMO_CLASSES,
                                      generate_demo_dataset, render_demo_image,
                                      render_demo_samples)
from mmseg_sipe.datasets.metainfo import VOC_CLASSES, flat_palette


def _split(root, name):
    path = root / 'ImageSets' / 'Segmentation' / f'{name}.txt'
    return path.read_text().split()


def _xml_objects(path):
    out = []
    for obj in ET.parse(path).getroot().iter('object'):
        box = obj.find('bndbox')
        out.append(
            (obj.find('name').text, int(obj.find('difficult').text),
             [int(box.find(k).text)
              for k in ('xmin', 'ymin', 'xmax', 'ymax')]))
    return out


def test_demo_classes_are_voc_classes():
    assert DEMO_CLASSES == ('aeroplane', 'bird', 'car', 'cat')
    assert DEMO_CLASS_IDS == (1, 3, 7, 8)
    assert all(VOC_CLASSES[i] == c
               for c, i in zip(DEMO_CLASSES, DEMO_CLASS_IDS))


def test_splits(demo_root, demo_params):
    SMALL = demo_params
    train, val, aug = (
        _split(demo_root, s) for s in ('train', 'val', 'train_aug'))
    assert len(train) == SMALL['num_train']
    assert len(val) == SMALL['num_val']
    assert len(aug) == SMALL['num_train'] + SMALL['num_aug']
    assert set(train) <= set(aug)
    assert not set(val) & set(aug)
    assert len(set(aug)) == len(aug)


def test_layout_and_labels(demo_root, demo_params):
    SMALL = demo_params
    train, val, aug = (
        _split(demo_root, s) for s in ('train', 'val', 'train_aug'))
    legal = {0, 255, *DEMO_CLASS_IDS}
    palette = flat_palette(256)
    for name in sorted(set(train + val + aug)):
        has_voc = name in train or name in val
        jpg = demo_root / 'JPEGImages' / f'{name}.jpg'
        xml = demo_root / 'Annotations' / f'{name}.xml'
        aug_png = demo_root / 'SegmentationClassAug' / f'{name}.png'
        voc_png = demo_root / 'SegmentationClass' / f'{name}.png'
        assert jpg.is_file() and xml.is_file() and aug_png.is_file()
        assert voc_png.is_file() == has_voc
        with Image.open(jpg) as im:
            w, h = im.size
            assert im.mode == 'RGB'
            assert SMALL['size'][0] <= min(w, h) <= max(w, h) <= \
                SMALL['size'][1]
        objs = _xml_objects(xml)
        assert 1 <= len(objs) <= 3
        names = {o[0] for o in objs}
        easy = {o[0] for o in objs if o[1] == 0}
        for x0, y0, x1, y1 in (o[2] for o in objs):
            assert 1 <= x0 <= x1 <= w and 1 <= y0 <= y1 <= h
        for png, is_voc in ((aug_png, has_voc), (voc_png, True)):
            if not png.is_file():
                continue
            with Image.open(png) as im:
                assert im.mode == 'P'
                assert im.getpalette()[:48] == palette[:48]
                lab = np.array(im)
            assert lab.shape == (h, w)
            values = set(np.unique(lab).tolist())
            assert values <= legal
            classes = {VOC_CLASSES[v] for v in values - {0, 255}}
            if is_voc:  # VOC style: band + difficult objects void
                assert 255 in values
                assert easy <= classes <= names
            else:  # SBD style: no void at all
                assert 255 not in values
                assert classes == names


def test_voc_band_is_thin(demo_root):
    name = _split(demo_root, 'train')[0]
    with Image.open(demo_root / 'SegmentationClass' / f'{name}.png') as im:
        voc = np.array(im)
    with Image.open(demo_root / 'SegmentationClassAug' / f'{name}.png') as im:
        aug = np.array(im)
    assert np.array_equal(voc, aug)  # train images: aug label == VOC label
    assert 0 < (voc == 255).mean() < 0.2


def test_part_is_small_fraction_of_object():
    rng = np.random.default_rng(3)
    fracs = []
    for _ in range(10):
        rec = render_demo_image(rng, (160, 256))
        fg = rec['label'] > 0
        fracs.append(rec['part'].sum() / fg.sum())
        assert not (rec['part'] & ~fg).any()
    assert 0.1 < np.mean(fracs) < 0.3


def test_body_cue_tints_only_the_bodies():
    """``body_cue`` moves each body's colour towards its class part's and
    changes nothing else: same scenes, labels, parts and background."""
    from mmseg_sipe.datasets.demo_render import BODY_COLOUR, PART_COLOURS
    for seed in range(5):
        plain = render_demo_image(np.random.default_rng(seed))
        cued = render_demo_image(np.random.default_rng(seed), body_cue=0.1)
        for k in ('label', 'instances', 'part'):
            np.testing.assert_array_equal(cued[k], plain[k])
        assert cued['objects'] == plain['objects']
        body = (plain['instances'] > 0) & ~plain['part']
        diff = cued['img'].astype(float) - plain['img'].astype(float)
        assert not diff[~body].any()
        for i, obj in enumerate(plain['objects']):
            own = body & (plain['instances'] == i + 1)
            if own.sum() < 50:
                continue
            want = 0.1 * (np.array(PART_COLOURS[obj['name']], float) -
                          np.array(BODY_COLOUR, float))
            got = diff[own].mean(axis=0)
            # stripes scale the colour by 0.82-1.0; clipping at 255 can
            # only shrink a positive shift
            lo = np.minimum(0.8 * want, want) - 1.5
            hi = np.maximum(0.8 * want, want) + 1.5
            assert ((got >= lo) & (got <= hi)).all(), (obj['name'], got,
                                                        want)


def _tree_bytes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, 'rb') as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def test_determinism(tmp_path, demo_root, demo_params):
    kw = dict(demo_params)
    generate_demo_dataset(str(tmp_path / 'a'), **kw)
    a = _tree_bytes(tmp_path / 'a')
    assert a == _tree_bytes(demo_root)
    kw['seed'] = 1
    generate_demo_dataset(str(tmp_path / 'b'), **kw)
    b = _tree_bytes(tmp_path / 'b')
    assert set(a) == set(b)
    jpgs = [k for k in a if k.endswith('.jpg')]
    assert all(a[k] != b[k] for k in jpgs)
    # no temp files left behind
    assert not [k for k in a if '.tmp' in k]


def test_split_sizes_are_independent(tmp_path, demo_root, demo_params):
    kw = dict(demo_params, num_val=1, num_aug=0)
    generate_demo_dataset(str(tmp_path / 'c'), **kw)
    name = _split(demo_root, 'train')[-1]
    rel = os.path.join('JPEGImages', f'{name}.jpg')
    assert (tmp_path / 'c' / rel).read_bytes() == (demo_root /
                                                   rel).read_bytes()


def test_overwrite(tmp_path, demo_params):
    kw = dict(demo_params, num_train=1, num_val=1, num_aug=1)
    root = tmp_path / 'd'
    summary = generate_demo_dataset(str(root), **kw)
    assert summary['splits'] == {'train': 1, 'val': 1, 'train_aug': 2}
    assert summary['classes'] == list(DEMO_CLASSES)
    with pytest.raises(FileExistsError, match='JPEGImages'):
        generate_demo_dataset(str(root), **kw)
    (root / 'JPEGImages' / 'stale.jpg').write_bytes(b'x')
    generate_demo_dataset(str(root), overwrite=True, **kw)
    assert not (root / 'JPEGImages' / 'stale.jpg').exists()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate_demo_dataset(str(tmp_path / 'e'), size=(10, 20))
    with pytest.raises(ValueError):
        generate_demo_dataset(str(tmp_path / 'e'), num_train=-1)


def test_render_samples(demo_root, tmp_path):
    out = render_demo_samples(
        str(demo_root), str(tmp_path / 'g.png'), num=3, tile=40)
    with Image.open(out) as im:
        assert im.size == (3 * 44 + 4, 2 * 40 + 12)
    with pytest.raises(FileNotFoundError, match='nope'):
        render_demo_samples(
            str(demo_root), str(tmp_path / 'h.png'), names=['nope'])


def test_cli(tmp_path, capsys):
    import json
    from mmseg_sipe.cli import make_demo_dataset as mod
    root = str(tmp_path / 'cli')
    args = [
        root, '--num-train', '2', '--num-val', '1', '--num-aug', '1', '--size',
        '64', '80', '--seed', '3'
    ]
    assert mod.main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['splits']['train_aug'] == 3
    assert mod.main(args) == 1  # exists, no --overwrite
    assert 'overwrite' in capsys.readouterr().err
    assert mod.main(args + ['--overwrite']) == 0
    capsys.readouterr()
    cued = str(tmp_path / 'cued')
    assert mod.main([cued] + args[1:] + ['--body-cue', '0.2']) == 0
    jpgs = sorted(os.listdir(os.path.join(root, 'JPEGImages')))
    assert jpgs == sorted(os.listdir(os.path.join(cued, 'JPEGImages')))
    assert any((tmp_path / 'cli' / 'JPEGImages' / j).read_bytes() !=
               (tmp_path / 'cued' / 'JPEGImages' / j).read_bytes()
               for j in jpgs)


def test_rendering_is_the_same_on_every_stack():
    """The demo pictures are pinned bit for bit: numpy 1 and 2 (scalar
    promotion) and OpenCV 4 and 5 (bicubic resize) once gave different
    pictures, hence different demo numbers per stack.  A change here moves
    the documented demo numbers: re-measure them (docs/pipeline.md)."""
    import cv2
    if not cv2.__version__.startswith('4.11.'):
        pytest.skip(f'the pinned pictures need OpenCV 4.11 (the pinned '
                    f'stacks); this is {cv2.__version__}')
    import hashlib
    from mmseg_sipe.datasets.demo_render import render_demo_image
    h = hashlib.sha256()
    for seed in range(40):
        out = render_demo_image(np.random.default_rng(seed))
        for k in ('img', 'label', 'instances', 'part'):
            h.update(np.ascontiguousarray(out[k]).tobytes())
    assert h.hexdigest() == ('89f9c292269b72f928d4b7184ffdc05e'
                             '83bd9dcacb2ebf583d15efc20529014f')

