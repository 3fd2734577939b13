from .ipe_head import IPEHead
from .sfc_head import SFCHead

__all__ = ['IPEHead', 'SFCHead']
