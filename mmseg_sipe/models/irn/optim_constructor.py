"""Optimizer construction that leaves frozen sub-modules out."""
from typing import List, Optional

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor

from mmseg_sipe.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableOnlyOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """:class:`DefaultOptimWrapperConstructor` that skips, silently, every
    sub-module none of whose parameters requires grad (e.g. IRN's frozen
    backbone), instead of adding each frozen parameter with a warning.

    Parameters that require grad are grouped exactly as by the default
    constructor (``paramwise_cfg`` applies unchanged). Use with
    ``optim_wrapper=dict(constructor='TrainableOnlyOptimWrapperConstructor',
    ...)``.
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[bool] = None) -> None:
        if not any(p.requires_grad for p in module.parameters()):
            return
        super().add_params(params, module, prefix, is_dcn_module)
