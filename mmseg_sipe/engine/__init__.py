from . import hooks  # noqa: F401
from .optim_wrappers import AutocastOptimWrapper
from .schedulers import SIPEPolyLR

__all__ = ['SIPEPolyLR', 'AutocastOptimWrapper']
