"""General-Specific Consistency (GSC) loss."""
import torch.nn as nn
from torch import Tensor

from mmseg_sipe.registry import MODELS
from ..functional import gsc_loss


@MODELS.register_module()
class GSCLoss(nn.Module):
    """``loss_weight * mean |M - IS / (max_hw IS + eps)|`` over N*(K+1)*h*w.

    Symmetric (no detach): pulls the CAM towards IS-CAM and back.

    Args:
        loss_weight (float): weight of the loss. Defaults to 1.0.
        eps (float): max-normalisation epsilon. Defaults to 1e-5.
        loss_name (str): key in the loss dict. Defaults to 'loss_gsc'.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 eps: float = 1e-5,
                 loss_name: str = 'loss_gsc'):
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps
        self._loss_name = loss_name

    def forward(self, norm_cam: Tensor, is_cam: Tensor) -> Tensor:
        """norm_cam, is_cam: ``[N, K+1, h, w]``."""
        return self.loss_weight * gsc_loss(norm_cam, is_cam, eps=self.eps)

    @property
    def loss_name(self) -> str:
        return self._loss_name
