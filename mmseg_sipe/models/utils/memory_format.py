"""Channels-last (NHWC) convolution weights for the models that default to
them (:class:`SIPEClassifier`, :class:`CRFEncoderDecoder`).

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


def to_channels_last(module: nn.Module) -> nn.Module:
    """Store every 4-D parameter and buffer of ``module`` channels-last, in
    place (the ``Parameter`` objects are kept)."""
    return module.to(memory_format=torch.channels_last)


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
