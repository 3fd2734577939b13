"""Convert checkpoints written by the reference SIPE training script."""
import re
from collections import OrderedDict
from typing import Dict

import torch

_BACKBONE = re.compile(r'^resnet50\.(conv1|bn1|layer[1-4])\.(.+)$')
_STAGE_DUP = re.compile(r'^stage[0-4]\.')
_SIDE = re.compile(r'^side([1-4])\.weight$')


def convert_sipe_state_dict(ref: Dict[str, torch.Tensor]
                            ) -> 'OrderedDict[str, torch.Tensor]':
    """Map the reference ``Net`` state dict onto :class:`SIPEClassifier`.

    Reference layout (``{'net': state_dict}`` of ``train_resnet50_SIPE.py``):

    * ``resnet50.{conv1,bn1,layer1..4}.*`` -- torchvision ResNet naming, the
      same as mmseg's ``ResNet`` -> ``backbone.*``;
    * ``stage0.0.*`` ... ``stage4.0.*`` -- the same tensors again (the
      reference wraps the ResNet modules in ``nn.Sequential`` stages); they are
      checked to be identical and dropped;
    * ``side1..4.weight`` -> ``head.sides.0..3.weight``;
    * ``classifier.weight`` -> ``head.classifier.weight``.

    BN layers get a ``num_batches_tracked`` buffer if missing.

    Raises:
        KeyError: on a key that fits none of the above, or on missing parts.
    """
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unknown = []
    for k, v in ref.items():
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
        if _STAGE_DUP.match(k):
            continue
        unknown.append(k)
    if unknown:
        raise KeyError(f'unexpected keys in the reference checkpoint: '
                       f'{unknown[:5]} (+{max(0, len(unknown) - 5)} more)')
    missing = [
        p for p in ('backbone.conv1.weight', 'head.classifier.weight',
                    'head.sides.0.weight', 'backbone.layer4.0.conv1.weight')
        if p not in out
    ]
    if missing:
        raise KeyError(f'reference checkpoint lacks {missing}: is it a SIPE '
                       "'net' state dict (resnet50.*, side1..4, classifier)?")
    for k in list(out):
        if k.endswith('.running_var'):
            nbt = k[:-len('running_var')] + 'num_batches_tracked'
            out.setdefault(nbt, torch.tensor(0, dtype=torch.long))
    return out


def load_reference_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """Read a reference checkpoint (``{'net': sd}`` or a bare state dict)
    with ``weights_only`` loading (plain tensors need nothing else)."""
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(ckpt, dict) and 'net' in ckpt:
        ckpt = ckpt['net']
    elif isinstance(ckpt, dict) and 'state_dict' in ckpt:
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: expected a state dict, got {type(ckpt)}')
    # DataParallel prefix
    return {k[7:] if k.startswith('module.') else k: v
            for k, v in ckpt.items()}
