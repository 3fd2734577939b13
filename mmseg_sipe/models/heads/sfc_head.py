"""SFC head: SIPE's IPE head plus the pixel-correlation projection."""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg_sipe.registry import MODELS
from .ipe_head import IPEHead


@MODELS.register_module()
class SFCHead(IPEHead):
    """:class:`IPEHead` (side convolutions, CAM classifier) plus the 1x1
    bias-free convolution of SFC's pixel-correlation module (reference
    ``Net.f9``, ``3 + 2048 -> 2048`` channels, PyTorch's default init).

    Parameter names: ``sides.*`` and ``classifier`` as in :class:`IPEHead`,
    ``pcm_conv`` for the projection; all are "new layers" (the configs'
    ``head`` learning-rate multiplier applies, as in the reference).

    Args:
        in_channels, side_channels, num_classes, detach_side_inputs,
        init_cfg: see :class:`IPEHead`.
        image_channels (int): channels of the image concatenated in front of
            ``x4`` (3, RGB).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 1024, 2048),
                 side_channels: Sequence[int] = (128, 128, 256, 256),
                 num_classes: int = 20,
                 detach_side_inputs: bool = True,
                 image_channels: int = 3,
                 init_cfg=None):
        super().__init__(
            in_channels=in_channels,
            side_channels=side_channels,
            num_classes=num_classes,
            detach_side_inputs=detach_side_inputs,
            init_cfg=init_cfg)
        self.image_channels = image_channels
        self.pcm_conv = nn.Conv2d(
            image_channels + in_channels[-1], in_channels[-1], 1, bias=False)

    def correlation_feature(self, image: Tensor, x4: Tensor) -> Tensor:
        """The feature the pixel-correlation affinity is built from
        (docs/method.md §17.1)::

            pcm_conv([up(image, grid of x4, align_corners=True); x4])

        Args:
            image: ``[N, 3, H, W]`` the network input (normalised, padding
                zeroed).
            x4: ``[N, C4, h, w]`` last backbone stage (not detached: the
                affinity trains layer3 / layer4 too).

        Returns:
            ``[N, C4, h, w]``.
        """
        if image.shape[0] != x4.shape[0]:
            raise ValueError(f'image {tuple(image.shape)} and x4 '
                             f'{tuple(x4.shape)} differ in batch size')
        small = F.interpolate(
            image.to(x4.dtype), size=x4.shape[-2:], mode='bilinear',
            align_corners=True)
        return self.pcm_conv(torch.cat([small, x4], dim=1))
