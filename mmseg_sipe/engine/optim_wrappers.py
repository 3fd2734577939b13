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
    exponent range, so it needs no loss scaling; on a CPU with AVX512-BF16
    the stage-one step runs about 1.8x faster than the same float32 step
    (``docs/benchmarks.md``).  This wrapper is autocast and nothing else:
    preprocessing, forward and losses run in the autocast region (SIPE's
    seed/prototype math casts itself to float32), backward and the optimiser
    step update float32 weights.  ``float16`` is accepted for devices with
    fast float16 kernels but gets no loss scaling, so small gradients can
    underflow: ``tools/train.py --amp`` uses mmengine's ``AmpOptimWrapper``
    for fp16 on CUDA and refuses fp16 on CPU.  The checkpoint state is the
    plain ``OptimWrapper``'s (an ``AmpOptimWrapper`` state also loads).

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
