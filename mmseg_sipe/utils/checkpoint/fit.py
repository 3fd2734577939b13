"""Whether a checkpoint's weights fit a model, key for key and shape for shape.

:func:`check_checkpoint_fits` (test time, ``make_cam``, ``make_seg_labels``)
turns key or shape mismatches into one line with counts and the first keys;
:func:`build_and_load` builds a model and loads a checkpoint that way.
"""
import copy
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Dict, List, Sequence, Tuple

import torch

from .errors import CheckpointMismatchError
from .safe_load import load_checkpoint_file


def _unwrap(model):
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def _first_keys(keys: Sequence[str], n: int = 5) -> str:
    keys = list(keys)
    more = f', +{len(keys) - n} more' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


def state_dict_of(checkpoint: Any) -> Dict[str, Any]:
    """The weights of a checkpoint (``state_dict`` of a Runner checkpoint, or
    a bare state dict), ``module.`` prefixes stripped as mmengine does."""
    sd = checkpoint
    if isinstance(sd, dict) and isinstance(sd.get('state_dict'), dict):
        sd = sd['state_dict']
    if not isinstance(sd, dict):
        raise CheckpointMismatchError(
            f'expected a state dict, got {type(sd).__name__}')
    out = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in sd.items())
    metadata = getattr(sd, '_metadata', None)
    if metadata is not None:  # module versions, as mmengine keeps them
        out._metadata = metadata
    return out


def compare_state_dict(model: torch.nn.Module, state_dict: Dict[str, Any]
                       ) -> Tuple[List[str], List[str], List[str]]:
    """``(missing, unexpected, shape mismatches)``; a missing BN
    ``num_batches_tracked`` does not count (mmengine ignores it too)."""
    own = _unwrap(model).state_dict()
    missing = [k for k in own if k not in state_dict
               and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = []
    for k, v in state_dict.items():
        if k in own and hasattr(v, 'shape') and \
                tuple(v.shape) != tuple(own[k].shape):
            mismatched.append(f'{k} {list(v.shape)} vs model '
                              f'{list(own[k].shape)}')
    return missing, unexpected, mismatched


def describe_mismatch(missing: Sequence[str], unexpected: Sequence[str],
                      mismatched: Sequence[str], n: int = 5) -> str:
    parts = []
    if missing:
        parts.append(f'{len(missing)} missing key(s): '
                     f'{_first_keys(missing, n)}')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected key(s): '
                     f'{_first_keys(unexpected, n)}')
    if mismatched:
        parts.append(f'{len(mismatched)} shape mismatch(es): '
                     f'{_first_keys(mismatched, n)}')
    return '; '.join(parts)


def check_checkpoint_fits(model: torch.nn.Module, checkpoint: Any,
                          source: str) -> Dict[str, Any]:
    """Return the checkpoint's state dict if its keys and shapes match
    ``model`` exactly, else raise :class:`CheckpointMismatchError` (one line:
    counts and the first 5 keys of each kind)."""
    try:
        sd = state_dict_of(checkpoint)
    except CheckpointMismatchError as exc:
        raise CheckpointMismatchError(f'{source}: {exc}') from None
    missing, unexpected, mismatched = compare_state_dict(model, sd)
    if missing or unexpected or mismatched:
        total = len(_unwrap(model).state_dict())
        raise CheckpointMismatchError(
            f'checkpoint {source} does not fit the model of this config '
            f'({total} tensors): '
            f'{describe_mismatch(missing, unexpected, mismatched)}. Is it a '
            'checkpoint of this config (same model type, depth and widths)?')
    return sd


def build_and_load(model_cfg: dict, checkpoint: str, device) -> 'torch.nn.Module':
    """Build ``model_cfg`` from ``MODELS`` (backbone ``init_cfg`` dropped: the
    weights come from ``checkpoint``), load ``checkpoint`` (``weights_only``,
    see :func:`load_checkpoint_file`) with strict key and shape matching and
    return the model in eval mode on ``device``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointMismatchError: one line with counts and the first keys.
    """
    from mmengine.runner.checkpoint import load_state_dict

    from mmseg_sipe.registry import MODELS
    cfg = copy.deepcopy(model_cfg)
    if isinstance(cfg.get('backbone'), dict):
        cfg['backbone'].pop('init_cfg', None)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    model = MODELS.build(cfg)
    ckpt = load_checkpoint_file(checkpoint, map_location='cpu')
    state_dict = check_checkpoint_fits(model, ckpt, checkpoint)
    load_state_dict(model, state_dict, strict=True, logger='silent')
    return model.to(device).eval()
