"""IRN (inter-pixel relation network) for SIPE's refinement step."""
from .branches import IRNDisplacementBranch, IRNEdgeBranch, MeanShift
from .inference import irn_edge
from .irnet import IRNet
from .losses import affinity_displacement_loss
from .optim_constructor import TrainableOnlyOptimWrapperConstructor

__all__ = [
    'IRNet', 'IRNEdgeBranch', 'IRNDisplacementBranch', 'MeanShift',
    'affinity_displacement_loss', 'irn_edge',
    'TrainableOnlyOptimWrapperConstructor'
]
