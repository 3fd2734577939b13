"""Mixed-precision training on any device (CPU included)."""
from contextlib import contextmanager
from typing import Optional, Union

import torch
from mmengine.optim import OptimWrapper

from mmseg_sipe.registry import OPTIM_WRAPPERS
from ..utils.amp import AMP_DTYPES, autocast_context

_NAMES = {'bfloat16': 'bf16', 'float16': 'fp16', 'bf16': 'bf16',
          'fp16': 'fp16'}


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward passes run under ``torch.autocast``.

    mmengine's ``AmpOptimWrapper`` refuses to be built without CUDA (or an
    NPU/MLU/MUSA) and always adds a ``GradScaler``.  bfloat16 has float32's
    exponent range, so it needs no loss scaling, and on CPUs with
    AVX512-BF16/AMX it is several times faster than float32 (stage-one step:
    3.1x, ``benchmarks/``).  This wrapper is autocast and nothing else: it
    works on CPU and GPU, with ``bfloat16`` (any device) or ``float16``
    (devices with fast float16 kernels; on CUDA prefer ``AmpOptimWrapper``,
    which adds the loss scaling float16 needs -- ``tools/train.py --amp``
    picks for you).  The checkpoint state is the plain ``OptimWrapper``'s.

    Args:
        dtype (str | torch.dtype): ``'bfloat16'`` (default) or ``'float16'``.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs):
        super().__init__(**kwargs)
        name = str(dtype).replace('torch.', '')
        if name not in _NAMES:
            raise ValueError("AutocastOptimWrapper dtype must be 'bfloat16' "
                             f"or 'float16', got {dtype!r}")
        self.amp = _NAMES[name]
        self.cast_dtype = AMP_DTYPES[self.amp]

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        """Gradient-accumulation context of ``OptimWrapper`` plus autocast
        on the model's device type (float16 on a CPU without native kernels
        raises ``ValueError``)."""
        device = _model_device(model)
        with super().optim_context(model), autocast_context(device, self.amp):
            yield


def _model_device(model: torch.nn.Module) -> Optional[torch.device]:
    for p in model.parameters():
        return p.device
    return torch.device('cpu')
