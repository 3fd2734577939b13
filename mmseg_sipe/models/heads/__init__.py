from .ipe_head import IPEHead

__all__ = ['IPEHead']
