"""SFC's class-weighted consistency losses (docs/method.md §17.3)."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from mmseg_sipe.registry import MODELS
from ..functional import cross_scale_consistency, weighted_gsc_loss


class _WeightedLoss(nn.Module):

    def __init__(self, loss_weight: float, loss_name: str):
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name


@MODELS.register_module()
class ClassWeightedGSCLoss(_WeightedLoss):
    """``loss_weight * mean w_k |M' - IS / (max_hw IS + eps)|`` over
    ``N (K+1) h w`` (:func:`~mmseg_sipe.models.functional.weighted_gsc_loss`;
    background weight 1).

    Args:
        loss_weight (float): reference 1.6.
        eps (float): max-normalisation eps. Defaults to 1e-5.
        loss_name (str): key in the loss dict. Defaults to 'loss_gsc'.
    """

    def __init__(self,
                 loss_weight: float = 1.6,
                 eps: float = 1e-5,
                 loss_name: str = 'loss_gsc'):
        super().__init__(loss_weight, loss_name)
        self.eps = eps

    def forward(self, refined_cam: Tensor, is_cam: Tensor,
                class_weights: Optional[Tensor] = None) -> Tensor:
        """refined_cam, is_cam: ``[N, K+1, h, w]``; class_weights ``[K]``."""
        return self.loss_weight * weighted_gsc_loss(
            refined_cam, is_cam, class_weights, eps=self.eps)


@MODELS.register_module()
class CrossScaleConsistencyLoss(_WeightedLoss):
    """``loss_weight * mean w_k |up(M'^1)_k y_k - M'^s_k y_k|`` over the
    ``K`` foreground channels
    (:func:`~mmseg_sipe.models.functional.cross_scale_consistency`).

    Args:
        loss_weight (float): reference 0.8.
        loss_name (str): key in the loss dict. Defaults to
            'loss_consistency'.
    """

    def __init__(self,
                 loss_weight: float = 0.8,
                 loss_name: str = 'loss_consistency'):
        super().__init__(loss_weight, loss_name)

    def forward(self, refined_cam: Tensor, refined_cam_small: Tensor,
                label_mask: Tensor,
                class_weights: Optional[Tensor] = None) -> Tensor:
        """refined_cam ``[N, K+1, h, w]``, refined_cam_small ``[N, K+1,
        h_s, w_s]``, label_mask ``[N, K+1, 1, 1]``, class_weights ``[K]``."""
        return self.loss_weight * cross_scale_consistency(
            refined_cam, refined_cam_small, label_mask, class_weights)
