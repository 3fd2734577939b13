"""IRNet: inter-pixel relation network (Ahn et al., CVPR 2019) for SIPE.

A frozen ResNet (IRN detaches every backbone level; ``freeze_backbone=False``
trains it too) feeds two trainable heads: a class-boundary (edge) branch and
a displacement-field branch, both at stride 4.  Training uses IR labels
(confident class / 255 uncertain, from ``cam2ir``) reduced x0.25: pairs of
pixels within ``radius`` with equal labels should have high path affinity
and the displacement difference equal to their offset (foreground) or zero
(background); pairs with different labels should be separated by an edge.

SIPE only uses the edge map (random walk, :mod:`mmseg_sipe.refine`).  The
displacement branch is trained exactly as IRN (its loss takes part in the
total) but displacement *inference* (instance masks, and filling
``mean_shift.running_mean`` with the mean displacement after training) is not
implemented: SIPE does no instance segmentation; ``mean_shift.running_mean``
keeps the running average of the training batches (IRN replaces it by a
dataset mean after training).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_sipe.registry import MODELS
from .branches import IRNDisplacementBranch, IRNEdgeBranch
from .losses import affinity_displacement_loss

#: IRN's input normalisation (ImageNet mean/std, RGB, 0..255 scale).
DEFAULT_PREPROCESSOR = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    # crops all have the same size: batch them as they are (mmseg needs
    # one of size / size_divisor; the x0.25 labels must not be padded)
    size_divisor=1)


def _ceil_div(a: int, b: int) -> int:
    return -(-int(a) // int(b))


@MODELS.register_module()
class IRNet(BaseModel):
    """IRN edge + displacement network on a frozen mmseg backbone.

    Args:
        backbone (dict): mmseg backbone config; a ResNet with a ``maxpool``
            stem and ``out_indices=(0, 1, 2, 3)`` (IRN: ResNet-50 with
            ``strides=(1, 2, 2, 1)``, i.e. levels at strides 4/4/8/16/16).
            It always runs in eval mode (BatchNorm statistics stay fixed)
            and its parameters are frozen unless ``freeze_backbone=False``.
        num_classes (int): Classes including background (VOC 21, COCO 81);
            pair labels are valid only for labels below it.
        radius (int): Pair radius of the training loss (IRN: 10).
        ignore_index (int): Uncertain IR label (255).
        edge_channels (int): Channels per level in the edge branch (32).
        in_channels (Sequence[int], optional): Channels of the five levels
            (stem, layer1..4). Inferred with a 64x64 dummy pass if None.
        strides (Sequence[int], optional): Their strides, inferred likewise.
        data_preprocessor (dict | nn.Module, optional): Defaults to
            ``SegDataPreProcessor`` with IRN's normalisation.
        test_cfg (dict, optional): ``flip`` (True: average the logits of the
            image and its mirror, as IRN's ``EdgeDisplacement``) and
            ``pad_to`` (512: pad bottom/right with 0 after normalisation to at
            least this size, as the reference; larger images are not cropped).
        init_cfg (dict, optional): Initialisation config.
        freeze_backbone (bool): Keep the backbone's weights fixed, as IRN
            does on ImageNet features (True). False trains them with the
            branches (through every level), for backbones whose features
            were not learned on a large dataset.

    Forward modes: ``'loss'`` -> dict of losses; ``'predict'`` -> list of
    :class:`SegDataSample` with ``pred_edge`` (``PixelData``, ``[1, h4, w4]``
    probabilities, ``h4 = ceil(H / 4)``); ``'tensor'`` -> ``(edge_logits
    [N, 1, h4, w4], displacement [N, 2, h4, w4])``.
    """

    def __init__(self,
                 backbone: dict,
                 num_classes: int = 21,
                 radius: int = 10,
                 ignore_index: int = 255,
                 edge_channels: int = 32,
                 in_channels: Optional[Sequence[int]] = None,
                 strides: Optional[Sequence[int]] = None,
                 data_preprocessor: Optional[Union[dict,
                                                  torch.nn.Module]] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 freeze_backbone: bool = True) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(DEFAULT_PREPROCESSOR)
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.num_classes = int(num_classes)
        self.radius = int(radius)
        self.ignore_index = int(ignore_index)
        self.test_cfg = dict(flip=True, pad_to=512)
        self.test_cfg.update(test_cfg or {})
        self.freeze_backbone = bool(freeze_backbone)

        self.backbone = MODELS.build(backbone)
        if not hasattr(self.backbone, 'maxpool'):
            raise TypeError(
                f'IRNet needs a ResNet-style backbone with a `maxpool` stem, '
                f'got {type(self.backbone).__name__}')
        self.backbone.requires_grad_(not self.freeze_backbone)
        self.backbone.eval()  # a ResNet re-freezes its `frozen_stages` here
        if not self.freeze_backbone and not any(
                p.requires_grad for p in self.backbone.parameters()):
            raise ValueError(
                'IRNet(freeze_backbone=False) but no backbone parameter '
                'can train: set model.backbone.frozen_stages=-1 (or fewer '
                f'than {getattr(self.backbone, "frozen_stages", "all")} '
                'stages)')
        if in_channels is None or strides is None:
            chans, strs = self._probe_levels()
            in_channels = chans if in_channels is None else in_channels
            strides = strs if strides is None else strides
        self.in_channels = tuple(int(c) for c in in_channels)
        self.strides = tuple(int(s) for s in strides)
        self.edge_branch = IRNEdgeBranch(
            self.in_channels, self.strides, channels=edge_channels)
        self.disp_branch = IRNDisplacementBranch(self.in_channels,
                                                 self.strides)

    # ------------------------------------------------------------------
    def train(self, mode: bool = True) -> 'IRNet':
        """Branches follow ``mode``; the backbone stays in eval (fixed BN)."""
        super().train(mode)
        self.backbone.eval()
        return self

    def init_weights(self) -> None:
        super().init_weights()
        if self.freeze_backbone:  # in case init re-enabled grads
            self.backbone.requires_grad_(False)

    @torch.no_grad()
    def _probe_levels(self) -> Tuple[List[int], List[int]]:
        size = 64
        p = next(self.backbone.parameters())
        feats = self._backbone_levels(
            torch.zeros(1, 3, size, size, device=p.device, dtype=p.dtype))
        chans = [f.shape[1] for f in feats]
        strides = [max(1, round(size / f.shape[-1])) for f in feats]
        return chans, strides

    def _backbone_levels(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """``[stem, layer1, ..., layer4]`` outputs, computed without grad
        (with grad when the backbone trains)."""
        stem = []
        handle = self.backbone.maxpool.register_forward_hook(
            lambda module, args, out: stem.append(out))
        try:
            with torch.set_grad_enabled(torch.is_grad_enabled()
                                        and not self.freeze_backbone):
                outs = self.backbone(inputs)
        finally:
            handle.remove()
        if len(stem) != 1 or len(outs) != 4:
            raise ValueError(
                'IRNet expects the backbone to run its maxpool stem once and '
                'return four levels (out_indices=(0, 1, 2, 3)); got '
                f'{len(stem)} stem outputs and {len(outs)} levels')
        levels = [stem[0], *outs]
        if self.freeze_backbone:
            levels = [f.detach() for f in levels]
        return levels

    def extract_feat(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """Five backbone levels of ``inputs`` ``[N, 3, H, W]``."""
        return self._backbone_levels(inputs)

    def _forward(self,
                 inputs: torch.Tensor,
                 data_samples=None) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(edge_logits [N,1,h4,w4], displacement [N,2,h4,w4])``."""
        feats = self.extract_feat(inputs)
        return self.edge_branch(feats), self.disp_branch(feats)

    def forward(self, inputs: torch.Tensor, data_samples=None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, '
                           'predict and tensor mode')

    # ------------------------------------------------------------------
    def _labels(self, data_samples, size: Tuple[int, int],
                device) -> torch.Tensor:
        """Stack ``gt_sem_seg`` (reduced IR labels) to ``[N, h, w]``.

        Labels smaller than the feature map are padded with ``ignore_index``
        (bottom/right), larger ones cropped.
        """
        if not data_samples:
            raise ValueError('IRNet.loss needs data_samples with gt_sem_seg '
                             '(IR labels reduced x0.25)')
        labels = []
        for i, ds in enumerate(data_samples):
            if 'gt_sem_seg' not in ds:
                raise KeyError(
                    f'data sample {i} ({ds.metainfo.get("img_path", "?")}) '
                    'has no gt_sem_seg: the IRN pipeline must load the IR '
                    'label and reduce it (IRNReduceLabel)')
            lab = ds.gt_sem_seg.data.to(device)
            lab = lab.reshape(lab.shape[-2:]).long()
            lab = lab[:size[0], :size[1]]
            ph, pw = size[0] - lab.shape[0], size[1] - lab.shape[1]
            if ph or pw:
                lab = F.pad(lab, (0, pw, 0, ph), value=self.ignore_index)
            labels.append(lab)
        return torch.stack(labels, 0)

    def loss(self, inputs: torch.Tensor,
             data_samples) -> Dict[str, torch.Tensor]:
        """IRN loss, see :func:`affinity_displacement_loss`."""
        edge_logits, disp = self._forward(inputs)
        label = self._labels(data_samples, edge_logits.shape[-2:],
                             edge_logits.device)
        return affinity_displacement_loss(
            edge_logits, disp, label, radius=self.radius,
            num_classes=self.num_classes, ignore_index=self.ignore_index)

    # ------------------------------------------------------------------
    def edge_map(self,
                 inputs: torch.Tensor,
                 flip: Optional[bool] = None,
                 pad_to: Optional[Union[int, Tuple[int, int]]] = None
                 ) -> torch.Tensor:
        """Edge probabilities at stride 4 for normalised ``inputs``.

        ``sigmoid(e(x) / 2 + flip(e(flip(x))) / 2)`` (with ``flip``), where
        ``e`` pads the batch bottom/right with 0 to at least ``pad_to`` and
        crops the logits back to ``ceil(H / 4) x ceil(W / 4)`` - IRN's
        ``EdgeDisplacement`` without its 512 limit.

        Args:
            inputs (Tensor): ``[N, 3, H, W]`` normalised images.
            flip (bool, optional): Defaults to ``test_cfg['flip']``.
            pad_to (int | tuple, optional): Defaults to ``test_cfg['pad_to']``
                (``None`` or 0: no padding).

        Returns:
            Tensor: ``[N, 1, ceil(H / 4), ceil(W / 4)]`` in ``[0, 1]``.
        """
        flip = self.test_cfg.get('flip', True) if flip is None else flip
        pad_to = self.test_cfg.get('pad_to') if pad_to is None else pad_to
        n, _, h, w = inputs.shape
        h4, w4 = _ceil_div(h, 4), _ceil_div(w, 4)
        x = torch.cat([inputs, inputs.flip(-1)], 0) if flip else inputs
        if pad_to:
            ph, pw = (pad_to, pad_to) if isinstance(pad_to, int) else pad_to
            x = F.pad(x, (0, max(0, int(pw) - w), 0, max(0, int(ph) - h)),
                      value=0.0)
        with torch.no_grad():
            logits = self.edge_branch(self.extract_feat(x))
        logits = logits[..., :h4, :w4].float()
        if flip:
            logits = logits[:n] / 2 + logits[n:].flip(-1) / 2
        return torch.sigmoid(logits)

    def predict(self, inputs: torch.Tensor,
                data_samples=None) -> List[SegDataSample]:
        """Edge maps of a batch; each cropped to ``ceil(img_shape / 4)``."""
        edges = self.edge_map(inputs)
        out = []
        for i in range(inputs.shape[0]):
            ds = data_samples[i] if data_samples else SegDataSample()
            shape = ds.metainfo.get('img_shape', inputs.shape[-2:])
            e = edges[i, :, :_ceil_div(shape[0], 4), :_ceil_div(shape[1], 4)]
            ds.set_data(dict(pred_edge=PixelData(data=e)))
            out.append(ds)
        return out
