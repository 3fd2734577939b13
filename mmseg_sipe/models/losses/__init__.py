from .gsc_loss import GSCLoss
from .multilabel_soft_margin_loss import MultiLabelSoftMarginLoss

__all__ = ['GSCLoss', 'MultiLabelSoftMarginLoss']
