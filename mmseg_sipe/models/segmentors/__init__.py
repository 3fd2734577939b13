from .sipe_classifier import SIPEClassifier

__all__ = ['SIPEClassifier']
