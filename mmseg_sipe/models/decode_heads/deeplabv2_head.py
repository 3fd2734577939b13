"""DeepLab-v2 ASPP classifier head (stage two of the SIPE pipeline).

DeepLab-v2 (Chen et al., TPAMI 2017) classifies with an *atrous spatial
pyramid pooling* layer that is nothing but a sum of dilated 3x3
convolutions, each mapping the backbone feature straight to class logits
(deeplab-pytorch's ``_ASPP``; SIPE's stage two uses that repository). Unlike
DeepLab-v3's ``ASPPHead`` there is no BN, no ReLU, no image pooling branch
and no 1x1 bottleneck.
"""
from typing import List, Sequence, Union

import torch.nn as nn
from torch import Tensor

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg_sipe.registry import MODELS


class ASPPSum(nn.Module):
    """Sum of parallel dilated 3x3 convolutions (DeepLab-v2 ASPP).

    Args:
        in_channels (int): Channels ``C_in`` of the input feature.
        out_channels (int): Channels ``K`` of every branch (class logits).
        dilations (Sequence[int]): One branch per dilation rate; padding
            equals the rate so every branch keeps the spatial size.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 dilations: Sequence[int]) -> None:
        super().__init__()
        self.dilations = tuple(dilations)
        self.convs = nn.ModuleList(
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size=3,
                stride=1,
                padding=d,
                dilation=d,
                bias=True) for d in self.dilations)

    def forward(self, x: Tensor) -> Tensor:
        """``[N, C_in, H, W]`` -> ``[N, K, H, W]`` (sum over branches)."""
        out = self.convs[0](x)
        for conv in self.convs[1:]:
            out = out + conv(x)
        return out


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """DeepLab-v2 head: ASPP as the sum of four dilated 3x3 classifiers.

    ``logits = sum_r Conv3x3_{dilation=r}(dropout(x))`` with
    ``r in dilations`` (6, 12, 18, 24 by default), each convolution
    ``in_channels -> out_channels`` (the number of classes) with a bias.

    How it fits mmseg's :class:`BaseDecodeHead`:

    * The ASPP *is* the classifier, so it is installed as ``conv_seg`` (the
      1x1 classifier the base class creates is replaced). Hence
      ``cls_seg`` (dropout -> ``conv_seg``), the base class's default
      ``init_cfg`` (``Normal``, ``std=0.01``, overriding ``conv_seg``:
      normal(0, 0.01) weights and zero biases, deeplab-pytorch's ASPP
      initialisation), ``loss``/``predict`` and ``loss_by_feat`` all work
      unchanged, and ``forward`` is ``cls_seg(selected input)``.
    * Dropout follows the base-class convention: ``dropout_ratio > 0``
      applies ``nn.Dropout2d`` to the feature just before the classifier,
      i.e. to the backbone feature entering the ASPP. The default is ``0``
      because DeepLab-v2 with a ResNet backbone has no dropout.
    * ``channels`` is accepted for interface compatibility but has no
      meaning here (there is no intermediate feature); when omitted it
      defaults to ``in_channels``. ``norm_cfg``/``act_cfg`` are unused (no
      BN or activation in the ASPP branches).

    Args:
        dilations (Sequence[int]): Dilation rates, one branch each.
            Default: (6, 12, 18, 24).
        in_channels (int | Sequence[int]): Input channels (the sum when
            ``input_transform='resize_concat'``).
        channels (int, optional): Unused; see above.
        dropout_ratio (float): Dropout2d ratio before the ASPP. Default: 0.
        **kwargs: Other :class:`BaseDecodeHead` arguments (``num_classes``,
            ``in_index``, ``loss_decode``, ``align_corners``, ...).

    Shapes:
        inputs: list of backbone features; ``inputs[in_index]`` is
        ``[N, in_channels, H, W]``. Output: ``[N, num_classes, H, W]``.
    """

    def __init__(self,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 in_channels: Union[int, Sequence[int]] = 2048,
                 channels: Union[int, None] = None,
                 dropout_ratio: float = 0.0,
                 **kwargs) -> None:
        assert isinstance(dilations, (list, tuple)) and len(dilations) > 0, \
            f'dilations must be a non-empty list/tuple, got {dilations!r}'
        assert all(isinstance(d, int) and d > 0 for d in dilations), \
            f'dilations must be positive ints, got {dilations!r}'
        assert 0.0 <= dropout_ratio < 1.0, \
            f'dropout_ratio must be in [0, 1), got {dropout_ratio}'
        if channels is None:
            channels = sum(in_channels) if isinstance(
                in_channels, (list, tuple)) else in_channels
        super().__init__(
            in_channels, channels, dropout_ratio=dropout_ratio, **kwargs)
        self.dilations = tuple(dilations)
        # The ASPP replaces the 1x1 classifier built by the base class.
        self.conv_seg = ASPPSum(self.in_channels, self.out_channels,
                                self.dilations)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Backbone features -> ``[N, num_classes, H, W]`` summed logits."""
        x = self._transform_inputs(inputs)
        return self.cls_seg(x)


__all__ = ['ASPPSum', 'DeepLabV2Head']

