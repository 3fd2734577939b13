"""Localisation-map files: one ``.npz`` per image, no pickle.

Each file holds ``keys`` (int64 ``[K_img+1]``, background 0 first, ascending
class ids) and ``cam`` (``[K_img+1, H, W]`` float16 or float32, per-channel
max-normalised).  Files are written to a temporary name and renamed, so a
killed run never leaves a truncated file and a rerun can skip what exists.

The reference code's ``.npy`` dicts (``{'keys', 'IS_CAM'}``) can only be read
by unpickling; :func:`load_cam` refuses them unless ``allow_pickle=True`` is
passed explicitly (``--allow-reference-format`` in the tools).
"""
import os.path as osp
import zipfile
import zlib
from typing import Tuple

import numpy as np

from .errors import UserError
from .fileio import atomic_write

CAM_SUFFIX = '.npz'


def cam_path(out_dir: str, name: str) -> str:
    return osp.join(out_dir, name + CAM_SUFFIX)


def save_cam(path: str, keys: np.ndarray, cam: np.ndarray,
             dtype: str = 'float16') -> None:
    """Atomically write ``keys`` and ``cam`` (cast to ``dtype``)."""
    if dtype not in ('float16', 'float32'):
        raise ValueError(f"dtype must be 'float16' or 'float32', got {dtype}")
    keys = np.asarray(keys, dtype=np.int64)
    cam = np.asarray(cam)
    if cam.ndim != 3 or cam.shape[0] != keys.shape[0]:
        raise ValueError(f'{path}: cam {cam.shape} does not match keys '
                         f'{keys.shape}')
    with atomic_write(path) as f:
        np.savez(f, keys=keys, cam=cam.astype(dtype))


def load_cam(path: str,
             allow_pickle: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Read ``(keys, cam float32)`` from our ``.npz`` or, with
    ``allow_pickle=True``, from a reference ``.npy`` dict."""
    if not osp.isfile(path):
        ref = osp.splitext(path)[0] + '.npy'
        if path.endswith(CAM_SUFFIX) and not allow_pickle and \
                osp.isfile(ref):
            raise UserError(
                f'{path} not found, but {ref} (reference .npy format) is '
                'there; pass --allow-reference-format to read it (it '
                'unpickles: only for files you trust)')
        raise FileNotFoundError(f'localisation map not found: {path}')
    if path.endswith('.npy'):
        if not allow_pickle:
            raise ValueError(
                f'{path} is in the reference .npy (pickled dict) format; '
                'loading it unpickles arbitrary objects. Pass '
                '--allow-reference-format (allow_pickle=True) only for files '
                'you trust.')
        try:
            d = np.load(path, allow_pickle=True).item()
        except Exception as e:  # noqa: BLE001  (unpickling raises anything)
            raise ValueError(f'cannot read reference localisation map '
                             f'{path}: {type(e).__name__}: {e}') from e
        if not isinstance(d, dict):
            raise ValueError(f'{path} does not hold a reference dict '
                             f"{{'keys', 'IS_CAM'}}")
        if 'keys' not in d or not ({'IS_CAM', 'high_res', 'cam'} & set(d)):
            raise KeyError(f'{path}: expected keys "keys" and "IS_CAM" in '
                           f'the reference dict, found {sorted(d)}')
        cam = d.get('IS_CAM', d.get('high_res', d.get('cam')))
        keys = np.asarray(d['keys'], dtype=np.int64)
        if keys[0] != 0:  # IRN-style dicts store fg keys only
            keys = np.concatenate([[0], keys + 1])
        return keys, np.asarray(cam, dtype=np.float32)
    try:
        with np.load(path, allow_pickle=False) as z:
            return z['keys'].astype(np.int64), z['cam'].astype(np.float32)
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile,
            zlib.error) as e:
        raise UserError(f'cannot read localisation map {path} (truncated '
                         f'or not written by make_cam; delete it and rerun '
                         f'make_cam): {type(e).__name__}: {e}') from e
