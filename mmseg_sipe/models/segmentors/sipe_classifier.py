"""SIPE stage-one classifier as an mmseg segmentor."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.structures import SegDataSample
from torch import Tensor

from mmseg_sipe.registry import MODELS
from mmseg_sipe.utils.device import to_device
from ..utils import ChannelsLastMixin
from ..functional import (background_cam, instance_cam, max_normalize,
                          seed_prototypes, structure_seeds)

SEED_FEATURES = ('x4', 'hie')


@MODELS.register_module()
class SIPEClassifier(ChannelsLastMixin, BaseSegmentor):
    """SIPE: CAM classifier with Image-specific Prototype Exploration.

    ``loss`` is the reference training forward (CAM with background channel,
    structure-aware seeds, background-aware prototypes, IS-CAM; multi-label
    soft-margin + GSC loss).  ``predict`` gives single-scale IS-CAM and its
    argmax (the reference in-training validation); multi-scale + flip
    localisation maps are made by :mod:`mmseg_sipe.cam`.

    Every place where the reference code differs from the paper is a switch;
    the defaults reproduce the reference (see ``docs/differences.md``).

    Args:
        backbone (dict): backbone config; returns 4 stages (x1..x4).
        head (dict): :class:`IPEHead` config.
        loss_cls (dict): image-level classification loss.
        loss_gsc (dict): GSC loss.
        train_seed_feature (str): feature the structure map uses in training:
            ``'x4'`` (reference) or ``'hie'`` (paper: hierarchical feature).
        bg_weight (float): weight of the background structure similarity
            (reference 0.5).
        prototype_denominator (str): ``'area'`` (reference: sum / (h*w)) or
            ``'count'`` (paper: mean over seed pixels).
        bg_from_all_classes (bool): background = 1 - max over *all* classes,
            absent ones included (reference) or over present classes only.
        train_cfg (dict, optional): unused; kept for mmseg compatibility.
        test_cfg (dict, optional): ``seed_feature`` (``'x4'``: reference
            in-training validation; ``'hie'``: reference make_cam).
        channels_last (bool): opt-in: store the convolution weights
            channels-last (NHWC) from construction on, before any DDP
            wrapping, so oneDNN / cuDNN run the convolutions in NHWC (faster
            training step, ``docs/benchmarks.md``).  Each step matches NCHW
            to float rounding, but oneDNN's NHWC backward rounds differently
            and training diverges chaotically from an NCHW run; on the demo
            two NHWC runs validated lower than three NCHW runs (see
            ``docs/benchmarks.md``), so the default stays NCHW until that is
            understood.
        data_preprocessor (dict, optional): ``SegDataPreProcessor`` config.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 loss_cls: dict = dict(type='MultiLabelSoftMarginLoss'),
                 loss_gsc: dict = dict(type='GSCLoss'),
                 train_seed_feature: str = 'x4',
                 bg_weight: float = 0.5,
                 prototype_denominator: str = 'area',
                 bg_from_all_classes: bool = True,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 channels_last: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if train_seed_feature not in SEED_FEATURES:
            raise ValueError(f'train_seed_feature must be one of '
                             f'{SEED_FEATURES}, got {train_seed_feature!r}')
        if prototype_denominator not in ('area', 'count'):
            raise ValueError("prototype_denominator must be 'area' or "
                             f"'count', got {prototype_denominator!r}")
        self.test_cfg = dict(seed_feature='x4')
        self.test_cfg.update(test_cfg or {})
        if self.test_cfg['seed_feature'] not in SEED_FEATURES:
            raise ValueError(f'test_cfg.seed_feature must be one of '
                             f'{SEED_FEATURES}, got '
                             f"{self.test_cfg['seed_feature']!r}")
        self.train_cfg = train_cfg
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_gsc = MODELS.build(loss_gsc)
        self.train_seed_feature = train_seed_feature
        self.bg_weight = bg_weight
        self.prototype_denominator = prototype_denominator
        self.bg_from_all_classes = bg_from_all_classes
        self._init_channels_last(channels_last)

    @property
    def num_classes(self) -> int:
        """Foreground classes K (the output has K + 1 channels)."""
        return self.head.num_classes

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _labels(self, data_samples: Sequence[SegDataSample],
                device) -> Tensor:
        """Multi-hot image labels ``[N, K]`` from ``metainfo['img_labels']``."""
        labels = []
        for i, ds in enumerate(data_samples):
            if 'img_labels' not in ds.metainfo:
                raise KeyError(
                    f"data sample {i} ({ds.metainfo.get('img_path', '?')}) "
                    "has no 'img_labels' in its metainfo; the pipeline must "
                    "end with PackSIPEInputs")
            lab = torch.as_tensor(
                ds.metainfo['img_labels'], dtype=torch.float32).flatten()
            if lab.numel() != self.num_classes:
                raise ValueError(
                    f'img_labels of {ds.metainfo.get("img_path", "?")} has '
                    f'{lab.numel()} entries, the head has '
                    f'{self.num_classes} classes')
            labels.append(lab)
        # built on the host; on CUDA copied without a host synchronisation
        return to_device(torch.stack(labels), device)

    @staticmethod
    def _valid_mask(data_samples: Sequence[SegDataSample],
                    inputs: Tensor) -> Tensor:
        """``[N, 1, H, W]`` float: 1 on image pixels, 0 on crop padding."""
        masks = []
        for ds in data_samples:
            if 'valid_mask' in ds:
                m = ds.valid_mask.data.to(inputs.device, torch.float32)
                if m.dim() == 2:
                    m = m[None]
                if m.shape[-2:] != inputs.shape[-2:]:
                    padded = m.new_zeros((1, ) + tuple(inputs.shape[-2:]))
                    h, w = m.shape[-2:]
                    padded[:, :h, :w] = m
                    m = padded
            else:
                m = inputs.new_ones((1, ) + tuple(inputs.shape[-2:]))
            masks.append(m)
        return torch.stack(masks).to(inputs.dtype)

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Backbone stages ``[x1, x2, x3, x4]``.

        SIPE works on x3's grid (stride 16): the CAM comes from x4 and the
        seeds compare x4 features with each other at the same pixels.  The
        reference ResNet-50 keeps x4 at stride 16 (last stage stride 1).  A
        backbone whose last stage is coarser (output stride 32, e.g.
        mmpretrain ConvNeXt/Swin, which cannot dilate) gets x4 upsampled
        bilinearly to x3's grid here; with the reference backbone this is a
        no-op.
        """
        feats = list(self.backbone(inputs))
        if len(feats) >= 3 and feats[-1].shape[-2:] != feats[2].shape[-2:]:
            feats[-1] = F.interpolate(
                feats[-1],
                size=feats[2].shape[-2:],
                mode='bilinear',
                align_corners=False)
        return feats

    def forward_features(self, inputs: Tensor) -> Dict[str, Tensor]:
        """``dict(feats=[x1..x4], cam=[N,K,h,w], hie=[N,C_hie,h,w])``."""
        feats = self.extract_feat(inputs)
        out = self.head(feats)
        out['feats'] = feats
        return out

    def compute_is_cam(self,
                       cam: Tensor,
                       hie: Tensor,
                       x4: Optional[Tensor],
                       label_mask: Tensor,
                       labels: Tensor,
                       seed_feature: str,
                       mask_cam: bool = True) -> Dict[str, Tensor]:
        """SIPE math on one batch (reference ``Net.forward``/``CAM.forward``).

        Args:
            cam: CAM logits ``[N, K, h, w]``.
            hie: hierarchical feature ``[N, C, h, w]``.
            x4: last-stage feature ``[N, 2048, h, w]`` (only for
                ``seed_feature='x4'``).
            label_mask: ``[N, K+1, h, w]`` or ``[N, K+1, 1, 1]`` (bg = 1).
            labels: multi-hot ``[N, K]`` (for ``bg_from_all_classes``).
            seed_feature: ``'x4'`` or ``'hie'``.
            mask_cam: multiply the normalised CAM by ``label_mask`` before
                locating seeds (training and in-training validation do;
                the reference ``CAM.forward`` used by make_cam does not --
                only the seeds are masked there).

        Returns:
            dict with ``norm_cam``, ``seeds``, ``prototypes``, ``is_cam``.
        """
        if not self.bg_from_all_classes:
            cam = cam * labels[:, :, None, None].to(cam.dtype)
        seed_feat = x4 if seed_feature == 'x4' else hie
        if seed_feat is None:
            raise ValueError("seed_feature='x4' needs the x4 feature")
        norm_cam = background_cam(cam)
        if mask_cam:
            norm_cam = norm_cam * label_mask
        seeds = structure_seeds(
            norm_cam, seed_feat, label_mask, bg_weight=self.bg_weight)
        prototypes = seed_prototypes(
            seeds, hie, denominator=self.prototype_denominator)
        is_cam = instance_cam(prototypes, hie)
        return dict(
            norm_cam=norm_cam,
            seeds=seeds,
            prototypes=prototypes,
            is_cam=is_cam)

    # ------------------------------------------------------------------
    # mmseg segmentor API
    # ------------------------------------------------------------------
    def loss(self, inputs: Tensor,
             data_samples: Sequence[SegDataSample]) -> Dict[str, Tensor]:
        """Reference training forward + losses.

        Args:
            inputs: normalised images ``[N, 3, H, W]`` (crop padding is zeroed
                here with the packed ``valid_mask``).
            data_samples: with ``metainfo['img_labels']`` and ``valid_mask``.
        """
        labels = self._labels(data_samples, inputs.device)
        valid = self._valid_mask(data_samples, inputs)
        out = self.forward_features(inputs * valid)
        cam, hie, x4 = out['cam'], out['hie'], out['feats'][-1]
        score = cam.float().mean(dim=(2, 3))  # GAP of the CAM == GAP + fc
        valid_low = F.interpolate(
            valid.float(), size=cam.shape[-2:], mode='nearest')
        bg_fg = torch.cat([labels.new_ones(labels.shape[0], 1), labels], 1)
        label_mask = valid_low * bg_fg[:, :, None, None]
        res = self.compute_is_cam(cam, hie, x4, label_mask, labels,
                                  self.train_seed_feature)
        losses = {
            self.loss_cls.loss_name: self.loss_cls(score, labels),
            self.loss_gsc.loss_name: self.loss_gsc(res['norm_cam'],
                                                   res['is_cam']),
        }
        return losses

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[SegDataSample]] = None
                ) -> List[SegDataSample]:
        """Single-scale IS-CAM (reference in-training validation).

        The IS-CAM ``[K+1, h, w]`` is upsampled bilinearly to the image size,
        max-normalised per channel and arg-maxed over all K+1 channels.  Sets
        ``seg_logits`` (the normalised IS-CAM) and ``pred_sem_seg``.
        """
        if data_samples is None:
            raise ValueError('SIPEClassifier.predict needs data samples with '
                             "'img_labels' (IS-CAM is label-conditioned)")
        labels = self._labels(data_samples, inputs.device)
        out = self.forward_features(inputs)
        cam, hie, x4 = out['cam'], out['hie'], out['feats'][-1]
        bg_fg = torch.cat([labels.new_ones(labels.shape[0], 1), labels], 1)
        res = self.compute_is_cam(cam, hie, x4, bg_fg[:, :, None, None],
                                  labels, self.test_cfg['seed_feature'])
        is_cam = res['is_cam'].float()
        return self._postprocess(is_cam, inputs.shape[-2:], data_samples)

    def _postprocess(self, maps: Tensor, input_size: Tuple[int, int],
                     data_samples: Sequence[SegDataSample]
                     ) -> List[SegDataSample]:
        maps = F.interpolate(
            maps, size=tuple(input_size), mode='bilinear', align_corners=False)
        for i, ds in enumerate(data_samples):
            m = maps[i]
            img_shape = ds.metainfo.get('img_shape', tuple(input_size))
            m = m[:, :img_shape[0], :img_shape[1]]
            ori_shape = ds.metainfo.get('ori_shape', img_shape)
            if tuple(m.shape[-2:]) != tuple(ori_shape[:2]):
                m = F.interpolate(
                    m[None],
                    size=tuple(ori_shape[:2]),
                    mode='bilinear',
                    align_corners=False)[0]
            m = max_normalize(m)
            ds.set_data(
                dict(
                    seg_logits=PixelData(data=m),
                    pred_sem_seg=PixelData(data=m.argmax(0, keepdim=True))))
        return list(data_samples)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[Sequence[SegDataSample]] = None
                 ) -> Tuple[Tensor, Tensor]:
        """Network outputs ``(cam logits [N,K,h,w], hie [N,C,h,w])``."""
        out = self.forward_features(inputs)
        return out['cam'], out['hie']

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """CAM logits upsampled to the input size ``[N, K, H, W]``."""
        cam = self.forward_features(inputs)['cam']
        return F.interpolate(
            cam, size=inputs.shape[-2:], mode='bilinear', align_corners=False)
