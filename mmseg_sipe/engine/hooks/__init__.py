# Safe checkpoint loading (weights_only for every CheckpointLoader scheme,
# strict init_cfg=Pretrained) and the atomic file backend are installed when
# mmseg_sipe is imported, i.e. for every config with
# custom_imports=dict(imports=['mmseg_sipe']).
from mmseg_sipe.utils.checkpoint import (install_safe_loading,
                                         register_atomic_backend)

install_safe_loading()
register_atomic_backend()

from .checkpoint_hooks import SIPECheckpointHook, StrictLoadHook  # noqa: E402
from .image_bank_hook import ImageBankHook  # noqa: E402

__all__ = ['SIPECheckpointHook', 'StrictLoadHook', 'ImageBankHook']
