"""Stage-two decode heads (registered into mmseg's ``MODELS``)."""
from .deeplabv2_head import ASPPSum, DeepLabV2Head

__all__ = ['ASPPSum', 'DeepLabV2Head']
