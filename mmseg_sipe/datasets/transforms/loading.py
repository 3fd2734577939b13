"""Image / label loading with one decoder rule and one-line errors.

**Decoder rule (whole pipeline): EXIF orientation is ignored.** VOC / COCO
labels, our pseudo labels and localisation maps are drawn on the *stored*
pixel grid of a JPEG, so every reader uses that grid: ``make_cam`` and the
CRF label tools read with PIL (which never applies EXIF by itself), the
dataset checker reports an orientation tag as a warning, and the training /
validation loaders here decode with ``color_ignore_orientation`` (mmcv's
default ``'color'`` makes cv2 rotate such images, and the rotated image no
longer lines up with its label).  For images without an orientation tag
both flags decode the same bytes to the same array.

A file that cannot be decoded (truncated JPEG, zero-byte PNG) or a label of
another size than its image raises :class:`DataFileError`, whose message is
one line naming the file -- also when it comes out of a DataLoader worker.
"""
import io
import os.path as osp
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmseg.datasets.transforms import LoadAnnotations
from PIL import Image

from mmseg_sipe.registry import TRANSFORMS
from mmseg_sipe.utils.errors import UserError

#: ``color_type`` of :class:`SIPELoadImageFromFile` (see the module doc).
IGNORE_ORIENTATION = 'color_ignore_orientation'


def read_rgb(path: str) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB (PIL, as the reference code); clear error on
    a missing or corrupt file.  The stored pixel grid: an EXIF orientation is
    ignored, as in training (:class:`SIPELoadImageFromFile`) and in the
    labels.  The reader of make_cam, the CRF steps, the pictures and the
    stage-two test-time CRF."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'image not found: {path}')
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))  # writable (pydensecrf)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f'cannot read image {path}: {e}') from e


class DataFileError(UserError):
    """An input file that cannot be used; the message names the file
    (a ``ValueError``; the tools print it as ``error: <message>``).

    A DataLoader worker re-raises an exception in the main process as
    ``type(e)(text)`` where ``text`` holds the worker's whole traceback;
    this class keeps only its own last line, so the command-line tools still
    print one line.
    """

    def __init__(self, msg: str = '') -> None:
        msg = str(msg)
        if msg.startswith('Caught ') and 'Traceback' in msg:
            head = f'{type(self).__name__}: '
            for line in reversed(msg.strip().splitlines()):
                if head in line:
                    msg = line.split(head, 1)[1]
                    break
        super().__init__(msg)


def _jpeg_truncated(data: bytes) -> Optional[str]:
    """For JPEG bytes without an end-of-image marker: PIL's reason when it
    cannot decode them either (``None`` when the image is complete)."""
    if data[:2] != b'\xff\xd8' or data.rstrip(b'\x00\r\n')[-2:] == b'\xff\xd9':
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception as e:  # noqa: BLE001
        return f'{type(e).__name__}: {e}'
    return None


def decode_image(data: bytes,
                 path: str,
                 color_type: str = IGNORE_ORIENTATION,
                 backend: str = 'cv2') -> np.ndarray:
    """``mmcv.imfrombytes`` (BGR) with a one-line error naming ``path``."""
    if not data:
        raise DataFileError(f'cannot read image {path}: the file is empty')
    reason = _jpeg_truncated(data)
    if reason is None:
        try:
            img = mmcv.imfrombytes(data, flag=color_type, backend=backend)
        except Exception as e:  # noqa: BLE001
            reason = f'{type(e).__name__}: {e}'
            img = None
        else:
            if img is None:
                reason = 'not a decodable image'
    if reason is not None:
        raise DataFileError(f'cannot read image {path} (truncated or '
                            f'corrupt; re-copy or remove it): '
                            f'{" ".join(reason.split())}')
    return img


@TRANSFORMS.register_module()
class SIPELoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that ignores EXIF orientation and names the file
    it cannot decode.

    Same arguments and output as mmcv's ``LoadImageFromFile`` (BGR uint8),
    except ``color_type`` defaults to ``'color_ignore_orientation'`` (the
    pipeline's decoder rule, see :mod:`mmseg_sipe.datasets.transforms.
    loading`) and a missing, empty, truncated or corrupt file raises
    :class:`DataFileError` (``FileNotFoundError`` for a missing one) with one
    line naming it, unless ``ignore_empty``.
    """

    def __init__(self,
                 *args,
                 color_type: str = IGNORE_ORIENTATION,
                 **kwargs) -> None:
        super().__init__(*args, color_type=color_type, **kwargs)

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            data = fileio.get(path, backend_args=self.backend_args)
            img = decode_image(data, path, self.color_type,
                               self.imdecode_backend)
        except FileNotFoundError as e:
            if self.ignore_empty:
                return None
            raise FileNotFoundError(f'image not found: {path}') from e
        except DataFileError:
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class SIPELoadAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` with one-line errors naming the label.

    A missing, empty, truncated or corrupt label PNG and a label whose size
    differs from the image as decoded (``results['ori_shape']``; mmseg's test
    pipelines load the labels after resizing the image) raise
    :class:`DataFileError` naming the PNG (and the image).  Arguments and
    output are mmseg's.
    """

    def _load_seg_map(self, results: dict) -> None:
        path = results['seg_map_path']
        try:
            super()._load_seg_map(results)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'label map not found: {path}') from e
        except Exception as e:  # noqa: BLE001
            reason = ' '.join(f'{type(e).__name__}: {e}'.split())
            if 'BytesIO' in reason or not str(e):
                reason = 'not a readable PNG'
            raise DataFileError(f'cannot read label map {path} (empty, '
                                f'truncated or corrupt; re-create it): '
                                f'{reason}') from e
        seg = results['gt_seg_map']
        shape = results.get('ori_shape')
        if shape is None and results.get('img') is not None:
            shape = results['img'].shape
        if seg.ndim > 2:
            raise DataFileError(f'label map {path} has shape {seg.shape}; '
                                'expected a single-channel class-index PNG')
        if shape is not None and tuple(seg.shape[:2]) != tuple(shape[:2]):
            raise DataFileError(
                f'label map {path} is {seg.shape[1]}x{seg.shape[0]} but its '
                f'image {results.get("img_path", "?")} is {shape[1]}x'
                f'{shape[0]} (WxH); labels must be drawn on the stored '
                'image grid')
