from . import hooks  # noqa: F401
from .schedulers import SIPEPolyLR

__all__ = ['SIPEPolyLR']
