"""``init_cfg=Pretrained``, strict where we load on purpose.

:class:`SIPEPretrainedInit` replaces mmengine's ``Pretrained`` initialiser in
the ``mmseg`` scope (:func:`register_pretrained_init`, done by
:func:`~.schemes.install_safe_loading`): a checkpoint that does not fit the
module is one line with counts and the first keys, not a model left at
random init.  The class subclasses mmengine's ``PretrainedInit`` and is
built on first registration (``None`` until then).
"""
from typing import Any, Dict, List, Sequence

import torch
from torch.nn.modules.batchnorm import _NormBase

from .errors import CheckpointMismatchError, rank0_reports
from .fit import compare_state_dict, describe_mismatch, state_dict_of


def _whole_norm_layers(module: torch.nn.Module, missing: Sequence[str],
                       state_dict: Dict[str, Any]) -> List[str]:
    """Missing keys of normalisation layers the checkpoint has no key of at
    all: output norms a backbone adds for extra ``out_indices`` (an ImageNet
    classifier has only the last one)."""
    norms = {name for name, m in module.named_modules()
             if name and isinstance(m, (_NormBase, torch.nn.LayerNorm,
                                        torch.nn.GroupNorm))}
    out = []
    for k in missing:
        layer = k.rsplit('.', 1)[0]
        if layer in norms and not any(
                s.startswith(layer + '.') for s in state_dict):
            out.append(k)
    return out


def _build_pretrained_init():
    from mmengine.logging import print_log
    from mmengine.model.weight_init import PretrainedInit, update_init_info
    from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict

    class SIPEPretrainedInit(PretrainedInit):
        """``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``
        that fails loudly instead of leaving layers at random init.

        * no tensor of the checkpoint fits the module -> error;
        * a shape mismatch (e.g. another width) -> error;
        * with ``prefix`` (a part of one of our own checkpoints loaded on
          purpose, e.g. IRN's backbone from stage one): a missing key ->
          error, except whole output norm layers the checkpoint lacks;
        * otherwise (ImageNet weights without ``prefix``) missing or extra
          keys are logged as warnings, as mmengine does (``fc.*``).

        Errors are one line naming the checkpoint, the counts and the first
        keys (:class:`CheckpointMismatchError`).
        """

        def __call__(self, module):
            where = (f'{self.checkpoint} (prefix {self.prefix!r})'
                     if self.prefix else str(self.checkpoint))
            print_log(f'load {self.prefix or "model"} from: '
                      f'{self.checkpoint}', logger='current')
            ckpt = CheckpointLoader.load_checkpoint(
                self.checkpoint, map_location=self.map_location,
                logger='current')
            try:
                sd = state_dict_of(ckpt)
            except CheckpointMismatchError as exc:
                raise CheckpointMismatchError(f'{where}: {exc}') from None
            if self.prefix:
                p = self.prefix if self.prefix.endswith('.') else \
                    self.prefix + '.'
                sd = {k[len(p):]: v for k, v in sd.items()
                      if k.startswith(p)}
                if not sd:
                    raise CheckpointMismatchError(
                        f'init_cfg=Pretrained: no key of {self.checkpoint} '
                        f'starts with the prefix {p!r}; check '
                        'init_cfg.prefix / init_cfg.checkpoint')
            missing, unexpected, mismatched = compare_state_dict(module, sd)
            fatal_missing = []
            if self.prefix:
                tolerated = set(_whole_norm_layers(module, missing, sd))
                fatal_missing = [k for k in missing if k not in tolerated]
            matched = len([k for k in sd
                           if k not in unexpected]) - len(mismatched)
            if matched <= 0 or mismatched or fatal_missing:
                total = len(module.state_dict())
                if matched <= 0:
                    detail = describe_mismatch(missing, unexpected,
                                               mismatched)
                else:
                    detail = describe_mismatch(
                        fatal_missing, unexpected if self.prefix else [],
                        mismatched)
                raise rank0_reports(CheckpointMismatchError(
                    f'init_cfg=Pretrained: {where} does not fit '
                    f'{type(module).__name__} ({total} tensors, '
                    f'{max(matched, 0)} would load): {detail}. Does the '
                    'module in the config match the one that wrote the '
                    'checkpoint (type, depth, widths)?'))
            load_state_dict(module, sd, strict=False, logger='current')
            if hasattr(module, '_params_init_info'):
                update_init_info(module, init_info=self._get_init_info())

    SIPEPretrainedInit.__qualname__ = 'SIPEPretrainedInit'
    return SIPEPretrainedInit


SIPEPretrainedInit = None


def register_pretrained_init() -> None:
    """Register :class:`SIPEPretrainedInit` as ``Pretrained`` in mmseg's
    ``WEIGHT_INITIALIZERS`` (building it on the first call)."""
    global SIPEPretrainedInit
    from mmseg.registry import WEIGHT_INITIALIZERS
    if SIPEPretrainedInit is None:
        SIPEPretrainedInit = _build_pretrained_init()
    WEIGHT_INITIALIZERS.register_module(
        name='Pretrained', module=SIPEPretrainedInit, force=True)
