"""IPE head: side convolutions (hierarchical feature) and the CAM classifier."""
from typing import Dict, Sequence

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmseg_sipe.registry import MODELS
from ..functional import hierarchical_feature


@MODELS.register_module()
class IPEHead(BaseModule):
    """Image-specific Prototype Exploration head (SIPE ``Net`` minus backbone).

    Holds the four 1x1 side convolutions (no bias, no BN, no activation) that
    build the hierarchical feature, and the 1x1 bias-free classifier on the
    last stage.  The math (seeds, prototypes, IS-CAM) is in
    :mod:`mmseg_sipe.models.functional.sipe`.

    Args:
        in_channels (Sequence[int]): channels of backbone stages 1..4
            (ResNet-50: 256, 512, 1024, 2048).
        side_channels (Sequence[int]): output channels of the side convs
            (reference: 128, 128, 256, 256 -> 768-channel hierarchical
            feature).
        num_classes (int): number of foreground classes K (VOC 20, COCO 80).
        detach_side_inputs (bool): feed detached backbone features to the side
            convs, so side gradients never reach the backbone (reference).
        init_cfg (dict, optional): ``None`` keeps PyTorch's default conv
            initialisation, as the reference ``nn.Conv2d`` layers.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 1024, 2048),
                 side_channels: Sequence[int] = (128, 128, 256, 256),
                 num_classes: int = 20,
                 detach_side_inputs: bool = True,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != len(side_channels):
            raise ValueError('in_channels and side_channels must have the '
                             f'same length, got {in_channels} and '
                             f'{side_channels}')
        self.in_channels = tuple(in_channels)
        self.side_channels = tuple(side_channels)
        self.num_classes = num_classes
        self.detach_side_inputs = detach_side_inputs
        self.sides = nn.ModuleList([
            nn.Conv2d(c_in, c_out, 1, bias=False)
            for c_in, c_out in zip(in_channels, side_channels)
        ])
        self.classifier = nn.Conv2d(
            in_channels[-1], num_classes, 1, bias=False)

    @property
    def hie_channels(self) -> int:
        return sum(self.side_channels)

    def forward(self, feats: Sequence[Tensor]) -> Dict[str, Tensor]:
        """Args:
            feats: backbone stages ``[x1, x2, x3, x4]``; x3 sets the output
                grid (stride 16), e.g. ``[N,256,H/4,W/4] ... [N,2048,H/16,W/16]``.

        Returns:
            dict: ``cam`` raw CAM logits ``[N, K, h, w]``; ``hie`` the
            hierarchical feature ``[N, sum(side_channels), h, w]``.
        """
        if len(feats) != len(self.sides):
            raise ValueError(f'IPEHead expects {len(self.sides)} backbone '
                             f'stages, got {len(feats)}')
        sides = [
            conv(x.detach() if self.detach_side_inputs else x)
            for conv, x in zip(self.sides, feats)
        ]
        hie = hierarchical_feature(sides, size=feats[2].shape[2:])
        cam = self.classifier(feats[-1])
        return dict(cam=cam, hie=hie)
