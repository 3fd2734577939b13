"""Opt-in channels-last (NHWC) convolution weights
(``model.channels_last=True`` on :class:`SIPEClassifier` and
:class:`CRFEncoderDecoder`, through :class:`ChannelsLastMixin`).

Weights are converted once, at construction -- before mmengine wraps the
model in DDP, whose gradient buckets follow the parameters' strides at
wrapping time.  ``init_weights`` (which the Runner calls *after* wrapping)
runs on NCHW views of the same parameters and converts them back, so

* random initialisation gives exactly the values an NCHW model gets under
  the same seed (in-place random fills follow storage order, so on
  channels-last storage they would draw other values), and
* the parameters have their construction-time strides again afterwards.
"""
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


class ChannelsLastMixin:
    """For a segmentor (an mmengine ``BaseModule``): call
    :meth:`_init_channels_last` at the end of ``__init__``; ``init_weights``
    then runs on NCHW views of channels-last weights."""

    channels_last = False

    def _init_channels_last(self, enabled: bool) -> None:
        """Store every 4-D parameter of the submodules (the data
        preprocessor aside) channels-last, in place (the ``Parameter``
        objects are kept)."""
        self.channels_last = enabled
        if enabled:
            for name, child in self.named_children():
                if name != 'data_preprocessor':
                    child.to(memory_format=torch.channels_last)

    def init_weights(self):
        """mmengine's initialisation; on NCHW views of the weights when they
        are channels-last (same values as an NCHW model)."""
        if not self.channels_last:
            return super().init_weights()
        with init_weights_nchw(self):
            super().init_weights()


@contextmanager
def init_weights_nchw(module: nn.Module) -> Iterator[None]:
    """Within the block, ``module``'s 4-D parameters are NCHW; on exit all
    of them are channels-last again (the same ``Parameter`` objects)."""
    for p in module.parameters():
        if p.dim() == 4:
            p.data = p.data.contiguous()
    try:
        yield
    finally:
        for p in module.parameters():
            if p.dim() == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)
