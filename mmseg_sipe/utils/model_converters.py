"""Convert checkpoints written by the reference SIPE training script."""
import re
from collections import OrderedDict
from typing import Dict, Optional

import torch

from .checkpoint import (CheckpointMismatchError, check_checkpoint_fits,
                         load_checkpoint_file, write_checkpoint_bytes)
from .errors import UserError


class ReferenceCheckpointError(UserError, KeyError):
    """A reference checkpoint with unknown, missing or inconsistent keys."""

    def __str__(self):
        return str(self.args[0]) if self.args else ''


_BACKBONE = re.compile(r'^resnet50\.(conv1|bn1|layer[1-4])\.(.+)$')
_STAGE_DUP = re.compile(r'^stage([0-4])\.(\d+)\.(.+)$')
_SIDE = re.compile(r'^side([1-4])\.weight$')
# nn.ModuleList aliases of the reference Net: ``backbone`` lists stage0..4,
# ``newly_added`` lists classifier, side1..side4 (in that order)
_BACKBONE_ALIAS = re.compile(r'^backbone\.([0-4])\.(.+)$')
_NEW_ALIAS = re.compile(r'^newly_added\.([0-4])\.(.+)$')
_NEWLY_ADDED = ('classifier', 'side1', 'side2', 'side3', 'side4')
# stage<i>.<j> of the reference -> the torchvision ResNet module it wraps
_STAGE_MODULES = {0: ('conv1', 'bn1'), 1: ('layer1', ), 2: ('layer2', ),
                  3: ('layer3', ), 4: ('layer4', )}


def _canonical(key: str) -> Optional[str]:
    """The reference key an alias duplicates (``backbone.2.0.x`` ->
    ``stage2.0.x`` -> ``resnet50.layer2.x``), or None for a canonical key."""
    m = _BACKBONE_ALIAS.match(key)
    if m:
        return f'stage{m.group(1)}.{m.group(2)}'
    m = _NEW_ALIAS.match(key)
    if m:
        return f'{_NEWLY_ADDED[int(m.group(1))]}.{m.group(2)}'
    m = _STAGE_DUP.match(key)
    if m:
        mods = _STAGE_MODULES[int(m.group(1))]
        j = int(m.group(2))
        if j < len(mods):
            return f'resnet50.{mods[j]}.{m.group(3)}'
    return None


def _same(a, b) -> bool:
    return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
            and a.shape == b.shape and a.dtype == b.dtype
            and torch.equal(a, b))


def drop_aliases(ref: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Drop the keys under which the reference ``Net.state_dict()`` lists a
    tensor a second (third) time -- ``stage<i>.*`` (``nn.Sequential``
    wrappers of the ResNet modules), ``backbone.<i>.*`` (= ``stage<i>.*``) and
    ``newly_added.<i>.*`` (= classifier, side1..4) -- after checking that
    each equals the tensor it duplicates.

    Raises:
        KeyError: an alias whose canonical key is absent, or whose tensor
            differs from it (named).
    """
    out = {}
    for k, v in ref.items():
        target = _canonical(k)
        if target is None:
            out[k] = v
            continue
        while target is not None:  # backbone.i -> stage i -> resnet50.*
            if target not in ref:
                raise ReferenceCheckpointError(
                    f'reference checkpoint: {k} duplicates {target}, '
                    'which is missing')
            if not _same(ref[target], v):
                raise ReferenceCheckpointError(
                    f'reference checkpoint: {k} differs from {target} '
                    '(they must be the same tensor)')
            target = _canonical(target)
    return out


def convert_sipe_state_dict(ref: Dict[str, torch.Tensor]
                            ) -> 'OrderedDict[str, torch.Tensor]':
    """Map the reference ``Net`` state dict onto :class:`SIPEClassifier`.

    Reference layout (``{'net': model.module.state_dict()}`` of
    ``train_resnet50_SIPE.py``, 964 keys for ResNet-50):

    * ``resnet50.{conv1,bn1,layer1..4}.*`` -- torchvision ResNet naming, the
      same as mmseg's ``ResNet`` -> ``backbone.*``;
    * ``stage0.{0,1}.*``, ``stage1..4.0.*`` -- the same tensors again (the
      reference wraps the ResNet modules in ``nn.Sequential`` stages), and
      again as ``backbone.0..4.*`` (its ``nn.ModuleList`` of the stages);
    * ``side1..4.weight`` -> ``head.sides.0..3.weight``;
    * ``classifier.weight`` -> ``head.classifier.weight``; both again as
      ``newly_added.0..4.weight`` (classifier, side1..4).

    Aliases are checked to equal the tensor they duplicate and dropped
    (:func:`drop_aliases`).

    BN layers get a ``num_batches_tracked`` buffer if missing.

    Raises:
        KeyError: on a key that fits none of the above, or on missing parts.
    """
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unknown = []
    for k, v in drop_aliases(ref).items():
        m = _BACKBONE.match(k)
        if m:
            out[f'backbone.{m.group(1)}.{m.group(2)}'] = v
            continue
        m = _SIDE.match(k)
        if m:
            out[f'head.sides.{int(m.group(1)) - 1}.weight'] = v
            continue
        if k == 'classifier.weight':
            out['head.classifier.weight'] = v
            continue
        unknown.append(k)
    if unknown:
        raise ReferenceCheckpointError(
            f'unexpected keys in the reference checkpoint: '
            f'{unknown[:5]} (+{max(0, len(unknown) - 5)} more)')
    missing = [
        p for p in ('backbone.conv1.weight', 'head.classifier.weight',
                    'head.sides.0.weight', 'backbone.layer4.0.conv1.weight')
        if p not in out
    ]
    if missing:
        raise ReferenceCheckpointError(
            f'reference checkpoint lacks {missing}: is it a SIPE '
            "'net' state dict (resnet50.*, side1..4, classifier)?")
    for k in list(out):
        if k.endswith('.running_var'):
            nbt = k[:-len('running_var')] + 'num_batches_tracked'
            out.setdefault(nbt, torch.tensor(0, dtype=torch.long))
    return out


def load_reference_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """Read a reference checkpoint (``{'net': sd}`` or a bare state dict)
    with ``weights_only`` loading (plain tensors need nothing else)."""
    ckpt = load_checkpoint_file(path, map_location='cpu')
    if isinstance(ckpt, dict) and 'net' in ckpt:
        ckpt = ckpt['net']
    elif isinstance(ckpt, dict) and 'state_dict' in ckpt:
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict):
        raise ReferenceCheckpointError(
            f'{path}: expected a state dict, got {type(ckpt).__name__}')
    # DataParallel prefix
    return {k[7:] if k.startswith('module.') else k: v
            for k, v in ckpt.items()}


# the shipped config each reference model corresponds to, by class count
_CONFIGS = {20: 'configs/sipe/voc_r50.py', 80: 'configs/sipe/coco_r50.py'}


def verify_converted(state_dict: Dict[str, torch.Tensor], config: str,
                     source: str) -> None:
    """Build the model of ``config`` and check that ``state_dict`` fits it
    exactly (keys and shapes); one-line error otherwise."""
    import copy

    import mmseg_sipe  # noqa: F401  (registers SIPEClassifier)
    from mmseg_sipe.registry import MODELS
    from .config import load_config
    model_cfg = copy.deepcopy(load_config(config).model)
    model_cfg.backbone.pop('init_cfg', None)
    check_checkpoint_fits(MODELS.build(model_cfg), state_dict, source)


def convert_reference_file(src: str, dst: str,
                           config: Optional[str] = None) -> int:
    """Convert the reference checkpoint ``src`` into an mmseg_sipe checkpoint
    ``dst`` (written atomically), after checking that it loads strictly into
    the model of ``config`` (default: ``voc_r50.py`` for 20 classes,
    ``coco_r50.py`` for 80).  Returns the number of tensors.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        KeyError / CheckpointMismatchError: one line naming ``src``.
    """
    import io
    import os.path as osp

    if not osp.isfile(src):
        raise FileNotFoundError(f'source checkpoint not found: {src}')
    try:
        state_dict = convert_sipe_state_dict(load_reference_checkpoint(src))
    except KeyError as exc:
        raise ReferenceCheckpointError(
            f'{src}: {exc.args[0] if exc.args else exc}') from None
    if config is None:
        classes = int(state_dict['head.classifier.weight'].shape[0])
        config = _CONFIGS.get(classes)
    if config is not None:
        try:
            verify_converted(state_dict, config, src)
        except CheckpointMismatchError as exc:
            raise CheckpointMismatchError(
                f'{exc} (converted with {config}; pass --config for '
                'another model)') from None
    buf = io.BytesIO()
    torch.save(dict(state_dict=state_dict,
                    meta=dict(converted_from=osp.basename(src))), buf)
    write_checkpoint_bytes(dst, buf.getvalue())
    return len(state_dict)
