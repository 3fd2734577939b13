"""Stage-one data transforms (registered in mmseg's TRANSFORMS)."""
from .crop import RandomCropWithValidMask, apply_crop_box, random_crop_box
from .formatting import SIPE_META_KEYS, PackSIPEInputs
from .loading import (DataFileError, SIPELoadAnnotations,
                      SIPELoadImageFromFile, decode_image)
from .resize import RandomResizeLong, resize_long_size

__all__ = [
    'RandomResizeLong', 'RandomCropWithValidMask', 'PackSIPEInputs',
    'resize_long_size', 'random_crop_box', 'apply_crop_box', 'SIPE_META_KEYS',
    'SIPELoadImageFromFile', 'SIPELoadAnnotations', 'DataFileError',
    'decode_image'
]
