"""Class names and palettes shared by the stage-one datasets.

Kept free of mmseg imports so that the demo generator and the dataset
checker can use them without building the OpenMMLab stack.

Class-index convention (see ``docs/design.md``): 0 = background,
``k + 1`` = foreground class ``k``, 255 = ignore.
"""
from typing import List, Tuple

#: PASCAL VOC 2012 classes, background first (21 entries).
VOC_CLASSES: Tuple[str, ...] = ('background', 'aeroplane', 'bicycle', 'bird',
                                'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
                                'cow', 'diningtable', 'dog', 'horse',
                                'motorbike', 'person', 'pottedplant', 'sheep',
                                'sofa', 'train', 'tvmonitor')

#: COCO 2014 classes in ascending category-id order, background first
#: (81 entries). Category ids 1..90 (with gaps) map to 1..80 in this order.
COCO_CLASSES: Tuple[str, ...] = (
    'background', 'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus',
    'train', 'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag',
    'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon',
    'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
    'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush')

#: Index used for "ignore" / void pixels in every label map.
IGNORE_INDEX = 255


def voc_colormap(n: int = 256) -> List[List[int]]:
    """The PASCAL VOC colour map (bit-interleaving of the index).

    Args:
        n (int): Number of entries (<= 256).

    Returns:
        list[list[int]]: ``n`` RGB triples; entry 255 is (224, 224, 192).
    """
    cmap = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap.append([r, g, b])
    return cmap


def flat_palette(n: int = 256) -> List[int]:
    """The VOC colour map flattened for ``PIL.Image.putpalette`` (768 ints)."""
    return [v for rgb in voc_colormap(n) for v in rgb]


VOC_PALETTE: List[List[int]] = voc_colormap(len(VOC_CLASSES))
COCO_PALETTE: List[List[int]] = voc_colormap(len(COCO_CLASSES))
