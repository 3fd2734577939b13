from .gsc_loss import GSCLoss
from .multilabel_soft_margin_loss import MultiLabelSoftMarginLoss
from .sfc_losses import ClassWeightedGSCLoss, CrossScaleConsistencyLoss

__all__ = [
    'GSCLoss', 'MultiLabelSoftMarginLoss', 'ClassWeightedGSCLoss',
    'CrossScaleConsistencyLoss'
]
