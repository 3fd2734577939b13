"""``PackSIPEInputs``: mmseg's ``PackSegInputs`` + SIPE's extra fields."""
from typing import Sequence

import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs

from mmseg_sipe.registry import TRANSFORMS

#: mmseg's default meta keys plus the SIPE ones.
SIPE_META_KEYS = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                  'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                  'reduce_zero_label', 'img_id', 'img_labels')


@TRANSFORMS.register_module()
class PackSIPEInputs(PackSegInputs):
    """Pack inputs like ``PackSegInputs``, plus SIPE's fields.

    Output ``dict(inputs=Tensor[C,H,W] (uint8, BGR), data_samples=
    SegDataSample)`` where the data sample has

    * ``gt_sem_seg`` (``PixelData``, int64 ``[1,H,W]``) if ``gt_seg_map``;
    * ``valid_mask`` (``PixelData``, uint8 ``[1,H,W]``, 1 = image) if
      ``valid_mask`` is in the results (else no such field);
    * metainfo from ``meta_keys``; ``img_labels`` stays a float32 numpy
      array ``[K]``.

    Args:
        meta_keys (Sequence[str]): Keys copied into the metainfo.
    """

    def __init__(self, meta_keys: Sequence[str] = SIPE_META_KEYS) -> None:
        super().__init__(meta_keys=tuple(meta_keys))

    def transform(self, results: dict) -> dict:
        """Pack ``results`` (see class docstring)."""
        packed = super().transform(results)
        data_sample = packed['data_samples']
        if 'img_labels' in results and 'img_labels' in self.meta_keys:
            data_sample.set_metainfo(
                dict(
                    img_labels=np.asarray(
                        results['img_labels'], dtype=np.float32)))
        if results.get('valid_mask') is not None:
            mask = np.ascontiguousarray(results['valid_mask'])
            data_sample.valid_mask = PixelData(
                data=torch.from_numpy(mask[None].copy()))
        return packed

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
