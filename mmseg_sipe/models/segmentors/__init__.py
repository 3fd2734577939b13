from .sfc_classifier import SFCClassifier
from .sipe_classifier import SIPEClassifier

__all__ = ['SIPEClassifier', 'SFCClassifier']
