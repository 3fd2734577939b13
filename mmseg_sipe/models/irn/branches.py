"""IRN's two heads on a frozen five-level backbone (Ahn et al., CVPR 2019).

Both branches take the five backbone levels ``[x0, x1, x2, x3, x4]`` (stem,
layer1..layer4 of a ResNet with strides ``(4, 4, 8, 16, 16)``) and predict at
stride 4 (the size of ``x0``).  Upsampling uses fixed scale factors (bilinear,
``align_corners=False``) and then crops to the finer level, as IRN does, so
any input size works.
"""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule


class _ConvGN(nn.Module):
    """``1x1 conv (no bias) -> GroupNorm -> [x up bilinear] -> ReLU``."""

    def __init__(self, in_channels: int, out_channels: int, num_groups: int,
                 up: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.gn = nn.GroupNorm(num_groups, out_channels)
        self.up = int(up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gn(self.conv(x))
        if self.up != 1:
            x = F.interpolate(x, scale_factor=self.up, mode='bilinear',
                              align_corners=False)
        return F.relu(x)


def _crop_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return x[..., :ref.shape[-2], :ref.shape[-1]]


def _up_factors(strides: Sequence[int], target: int) -> List[int]:
    factors = []
    for s in strides:
        if s % target:
            raise ValueError(f'level stride {s} is not a multiple of {target}')
        factors.append(s // target)
    return factors


class IRNEdgeBranch(BaseModule):
    """Class-boundary branch: five ``1x1 conv + GN`` to ``channels`` each,
    upsampled to stride 4, concatenated (``5 * channels`` = 160) and a ``1x1``
    conv to one logit.

    Args:
        in_channels (Sequence[int]): Channels of the five levels
            (ResNet-50: ``(64, 256, 512, 1024, 2048)``).
        strides (Sequence[int]): Strides of the five levels.
        channels (int): Channels per level (32).
        num_groups (int): GroupNorm groups (4).

    Shapes:
        levels ``[N, C_i, ceil(H / s_i), ceil(W / s_i)]`` ->
        ``[N, 1, ceil(H / 4), ceil(W / 4)]`` logits.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (64, 256, 512, 1024, 2048),
                 strides: Sequence[int] = (4, 4, 8, 16, 16),
                 channels: int = 32,
                 num_groups: int = 4,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if len(in_channels) != 5 or len(strides) != 5:
            raise ValueError('IRNEdgeBranch needs five levels, got '
                             f'in_channels={in_channels}, strides={strides}')
        ups = _up_factors(strides, strides[0])
        self.levels = nn.ModuleList([
            _ConvGN(c, channels, num_groups, up)
            for c, up in zip(in_channels, ups)
        ])
        self.fuse = nn.Conv2d(channels * 5, 1, 1, bias=True)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        outs = [self.levels[0](feats[0])]
        for layer, x in zip(self.levels[1:], feats[1:]):
            outs.append(_crop_to(layer(x), outs[0]))
        return self.fuse(torch.cat(outs, dim=1))


class MeanShift(nn.Module):
    """Subtracts the mean displacement at inference (identity in training).

    As IRN's (a ``BatchNorm2d`` without affine used only for its running
    mean): in training the input passes unchanged while ``running_mean``
    follows the batch mean over ``(N, H, W)`` with ``momentum``; in eval
    ``running_mean`` is subtracted.  IRN overwrites it after training with
    the mean displacement over the training images (only used for instance
    masks, which SIPE does not make).
    """

    def __init__(self, num_features: int = 2, momentum: float = 0.1) -> None:
        super().__init__()
        self.momentum = float(momentum)
        self.register_buffer('running_mean', torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                batch_mean = x.detach().float().mean(dim=(0, 2, 3))
                self.running_mean.mul_(1 - self.momentum).add_(
                    batch_mean.to(self.running_mean) * self.momentum)
            return x
        return x - self.running_mean.view(1, -1, 1, 1).to(x)


class IRNDisplacementBranch(BaseModule):
    """Displacement-field branch of IRN (2 channels at stride 4).

    ``d0 = f(x0) [64]``, ``d1 = f(x1) [128]`` at stride 4; ``d2 = f(x2)``,
    ``d3 = up2 f(x3)``, ``d4 = up2 f(x4)`` (256 each) at stride 8;
    ``u = up2 f(cat(d2, d3, d4)) [256]`` at stride 4; output
    ``conv(relu(gn(conv(cat(d0, d1, u)))))`` -> 2 channels, then
    :class:`MeanShift`.

    Args:
        in_channels (Sequence[int]): Channels of the five levels.
        strides (Sequence[int]): Strides of the five levels
            (``(4, 4, 8, 16, 16)``).

    Shapes:
        -> ``[N, 2, ceil(H / 4), ceil(W / 4)]``.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (64, 256, 512, 1024, 2048),
                 strides: Sequence[int] = (4, 4, 8, 16, 16),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if len(in_channels) != 5 or len(strides) != 5:
            raise ValueError('IRNDisplacementBranch needs five levels, got '
                             f'in_channels={in_channels}, strides={strides}')
        if strides[0] != strides[1]:
            raise ValueError(f'levels 0 and 1 must share a stride: {strides}')
        mid = _up_factors(strides[2:], strides[2])  # x2 scale for x3, x4
        c = in_channels
        self.level0 = _ConvGN(c[0], 64, 8)
        self.level1 = _ConvGN(c[1], 128, 16)
        self.level2 = _ConvGN(c[2], 256, 16)
        self.level3 = _ConvGN(c[3], 256, 16, up=mid[1])
        self.level4 = _ConvGN(c[4], 256, 16, up=mid[2])
        self.up = _ConvGN(768, 256, 16, up=strides[2] // strides[0])
        self.out_conv = _ConvGN(448, 256, 16)
        self.out = nn.Conv2d(256, 2, 1, bias=False)
        self.mean_shift = MeanShift(2)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        d0 = self.level0(feats[0])
        d1 = self.level1(feats[1])
        d2 = self.level2(feats[2])
        d3 = _crop_to(self.level3(feats[3]), d2)
        d4 = _crop_to(self.level4(feats[4]), d2)
        u = _crop_to(self.up(torch.cat([d2, d3, d4], dim=1)), d1)
        x = self.out(self.out_conv(torch.cat([d0, d1, u], dim=1)))
        return self.mean_shift(x)
