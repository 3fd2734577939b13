"""Multi-label soft-margin loss on image-level class scores."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg_sipe.registry import MODELS


@MODELS.register_module()
class MultiLabelSoftMarginLoss(nn.Module):
    """``loss_weight * mean_{n,k} -[y log s(x) + (1-y) log s(-x)]``.

    Same value as :func:`torch.nn.functional.multilabel_soft_margin_loss` on
    the reference's ``[N, K, 1, 1]`` scores.

    Args:
        loss_weight (float): weight. Defaults to 1.0.
        loss_name (str): key in the loss dict. Defaults to 'loss_cls'.
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_cls'):
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, score: Tensor, labels: Tensor) -> Tensor:
        """score: logits ``[N, K]`` (or ``[N, K, 1, 1]``); labels multi-hot
        ``[N, K]``."""
        score = score.flatten(1)
        labels = labels.flatten(1).to(score.dtype)
        return self.loss_weight * F.multilabel_soft_margin_loss(score, labels)

    @property
    def loss_name(self) -> str:
        return self._loss_name
