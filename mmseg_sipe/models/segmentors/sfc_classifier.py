"""SFC stage-one classifier: SIPE's classifier with SFC's training forward
and localisation maps (docs/method.md §17)."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.structures import SegDataSample
from torch import Tensor

from mmseg_sipe.registry import MODELS
from ...utils.amp import autocast_context
from ..functional import (combine_localization_maps, flip_fuse,
                          fuse_multiscale, sfc_cams)
from .sipe_classifier import SIPEClassifier

VAL_MAPS = ('prototype', 'refined')
SFC_TEST_CFG = dict(
    val_map='prototype', cam_weight=1.0, prototype_weight=0.7, bg_offset=0.4)


def resolve_stats_path(path: str) -> str:
    """``path`` relative to the working directory, else (for a relative
    ``configs/...`` path) inside the package's own configs, as config files
    are found (:func:`~mmseg_sipe.utils.config.resolve_config_path`)."""
    if osp.isfile(path) or osp.isabs(path):
        return path
    from ...utils.config import package_data_root
    shipped = osp.join(package_data_root(), path)
    return shipped if osp.isfile(shipped) else path


@MODELS.register_module()
class SFCClassifier(SIPEClassifier):
    """SFC (Zhao et al., AAAI 2024): SIPE's classifier with a
    pixel-correlation module, arg-max seeds, a second pass at half scale and
    class-weighted consistency losses.

    ``loss`` is the reference training step (``train_resnet50_SFC.py``) on
    one batch -- the image bank that the reference appends to every batch is
    :class:`~mmseg_sipe.engine.hooks.ImageBankHook`, which adds its images to
    the batch before this model sees it.  Per pass (full scale, then the
    input resized by ``scale_factor``)::

        M  = background_cam(cam) * valid_mask * labels
        M' = pixel_correlation(M, pcm_conv([image; x4]))
        IS = instance_cam(prototypes(argmax_seeds(M', bg 0.3), F_h), F_h)

    and the losses ``loss_cls`` (mean of the two passes' multi-label soft
    margin), ``loss_gsc`` (class-weighted ``|M' - IS/max IS|`` of the full
    pass, x1.6) and ``loss_consistency`` (class-weighted ``|up(M'^1) -
    M'^0.5|`` over the labelled foreground, x0.8).

    ``predict`` is the reference in-training validation (single scale, no
    flip): the prototype CAM (``test_cfg.val_map='prototype'``) or the
    refined CAM (``'refined'``), up-sampled, max-normalised, arg-maxed.
    make_cam (:mod:`mmseg_sipe.cam`) calls :meth:`localization_maps` and
    :meth:`fuse_localization_maps` instead of SIPE's IS-CAM.

    Args:
        backbone (dict): as :class:`SIPEClassifier`.
        head (dict): an :class:`~mmseg_sipe.models.heads.SFCHead` config.
        loss_cls (dict): image-level classification loss.
        loss_gsc (dict): ``ClassWeightedGSCLoss`` (reference weight 1.6).
        loss_consistency (dict): ``CrossScaleConsistencyLoss`` (reference
            weight 0.8).
        class_stats_file (str, optional): JSON of per-class statistics
            (:mod:`mmseg_sipe.datasets.class_stats`) the class-balance
            weights are computed from; ``None``: all weights 1.  A relative
            ``configs/...`` path is also looked up in the package's configs.
            A missing file is reported by the first training step (building
            the model for inference does not need it).
        seed_bg_scale (float): background factor before the seed arg-max
            (reference 0.3).
        scale_factor (float): scale of the second training pass (reference
            0.5).
        prototype_denominator (str): ``'area'`` (reference) or ``'count'``.
        bg_from_all_classes (bool): as :class:`SIPEClassifier`.
        train_seed_feature, bg_weight: SIPE's structure-seed settings,
            accepted so that SFC configs can inherit SIPE's; SFC's seeds do
            not use them.
        test_cfg (dict, optional): ``val_map`` (see above); for make_cam
            ``cam_weight``, ``prototype_weight`` and ``bg_offset`` of
            :func:`~mmseg_sipe.models.functional.combine_localization_maps`
            (default ``1.0, 0.7, 0.4``: the map the reference's ``cam2ir.py``
            reads; ``cam_weight=0, prototype_weight=1``: the prototype map
            its ``eval_cam.py`` scores).
        train_cfg, channels_last, data_preprocessor, init_cfg: as
            :class:`SIPEClassifier`.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 loss_cls: dict = dict(type='MultiLabelSoftMarginLoss'),
                 loss_gsc: dict = dict(
                     type='ClassWeightedGSCLoss', loss_weight=1.6),
                 loss_consistency: dict = dict(
                     type='CrossScaleConsistencyLoss', loss_weight=0.8),
                 class_stats_file: Optional[str] = None,
                 seed_bg_scale: float = 0.3,
                 scale_factor: float = 0.5,
                 prototype_denominator: str = 'area',
                 bg_from_all_classes: bool = True,
                 train_seed_feature: str = 'x4',
                 bg_weight: float = 0.5,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 channels_last: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            backbone=backbone,
            head=head,
            loss_cls=loss_cls,
            loss_gsc=loss_gsc,
            train_seed_feature=train_seed_feature,
            bg_weight=bg_weight,
            prototype_denominator=prototype_denominator,
            bg_from_all_classes=bg_from_all_classes,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            channels_last=channels_last,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not hasattr(self.head, 'correlation_feature'):
            raise TypeError('SFCClassifier needs a head with the '
                            "pixel-correlation projection (type='SFCHead'), "
                            f'got {type(self.head).__name__}')
        self.test_cfg = {**SFC_TEST_CFG, **self.test_cfg}
        if self.test_cfg['val_map'] not in VAL_MAPS:
            raise ValueError(f'test_cfg.val_map must be one of {VAL_MAPS}, '
                             f"got {self.test_cfg['val_map']!r}")
        if not 0 < scale_factor < 1:
            raise ValueError('scale_factor must be in (0, 1), got '
                             f'{scale_factor}')
        self.loss_consistency = MODELS.build(loss_consistency)
        self.seed_bg_scale = seed_bg_scale
        self.scale_factor = scale_factor
        self.class_stats_file = class_stats_file
        self._class_stats_error: Optional[str] = None
        weights = torch.ones(self.num_classes)
        if class_stats_file is not None:
            from ...datasets.class_stats import (class_weights_from_stats,
                                                 load_class_stats)
            path = resolve_stats_path(class_stats_file)
            try:
                stats = load_class_stats(path, self.num_classes)
            except FileNotFoundError as e:
                self._class_stats_error = str(e)
                print_log(f'SFCClassifier: {e}; training will stop at the '
                          'first step', logger='current')
            else:
                weights = class_weights_from_stats(stats)
        # not in the state dict: a property of the training set, not weights
        self.register_buffer('class_weights', weights, persistent=False)

    # ------------------------------------------------------------------
    # SFC forward
    # ------------------------------------------------------------------
    def sfc_forward(self, image: Tensor, valid: Optional[Tensor],
                    labels: Tensor) -> Dict[str, Tensor]:
        """One pass of the reference ``Net.forward`` on ``image``.

        Args:
            image: ``[N, 3, H, W]`` normalised, padding zeroed.
            valid: ``[N, 1, H0, W0]`` valid mask (any resolution: reduced to
                the CAM grid with nearest interpolation), or None (no
                padding, as in validation).
            labels: ``[N, K]`` multi-hot.

        Returns:
            dict ``score`` ``[N, K]``, ``cam``, ``norm_cam``,
            ``refined_cam``, ``seeds``, ``prototypes``, ``is_cam``.
        """
        feats = self.extract_feat(image)
        out = self.head(feats)
        cam, hie, x4 = out['cam'], out['hie'], feats[-1]
        score = cam.float().mean(dim=(2, 3))
        label_mask = torch.cat([labels.new_ones(labels.shape[0], 1), labels],
                               1)[:, :, None, None].float()
        if valid is not None:  # the reference masks at full size: same
            label_mask = label_mask * F.interpolate(
                valid.float(), size=cam.shape[-2:], mode='nearest')
        if not self.bg_from_all_classes:
            cam = cam * labels[:, :, None, None].to(cam.dtype)
        res = sfc_cams(
            cam, hie, self.head.correlation_feature(image, x4), label_mask,
            mask_cam=True, bg_scale=self.seed_bg_scale,
            denominator=self.prototype_denominator)
        res.update(score=score, cam=cam)
        return res

    def _check_class_stats(self) -> None:
        if self._class_stats_error is not None:
            raise FileNotFoundError(self._class_stats_error)

    # ------------------------------------------------------------------
    # mmseg segmentor API
    # ------------------------------------------------------------------
    def loss(self, inputs: Tensor,
             data_samples: Sequence[SegDataSample]) -> Dict[str, Tensor]:
        """Reference training step on one batch (image bank included when
        :class:`~mmseg_sipe.engine.hooks.ImageBankHook` appended it).

        Args:
            inputs: normalised images ``[N, 3, H, W]`` (padding is zeroed
                here with the packed ``valid_mask``).
            data_samples: with ``metainfo['img_labels']`` and ``valid_mask``.
        """
        self._check_class_stats()
        labels = self._labels(data_samples, inputs.device)
        valid = self._valid_mask(data_samples, inputs)
        image = inputs * valid
        small = F.interpolate(
            image, scale_factor=self.scale_factor, mode='bilinear',
            align_corners=True)
        bg_fg = torch.cat([labels.new_ones(labels.shape[0], 1), labels],
                          1)[:, :, None, None]
        full = self.sfc_forward(image, valid, labels)
        half = self.sfc_forward(small, valid, labels)
        w = self.class_weights
        loss_cls = 0.5 * (self.loss_cls(full['score'], labels) +
                          self.loss_cls(half['score'], labels))
        return {
            self.loss_cls.loss_name: loss_cls,
            self.loss_gsc.loss_name: self.loss_gsc(
                full['refined_cam'], full['is_cam'], w),
            self.loss_consistency.loss_name: self.loss_consistency(
                full['refined_cam'], half['refined_cam'], bg_fg, w),
        }

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[SegDataSample]] = None
                ) -> List[SegDataSample]:
        """Single-scale prototype (or refined) CAM, the reference
        in-training validation; sets ``seg_logits`` (max-normalised map)
        and ``pred_sem_seg`` (its arg-max over all K+1 channels)."""
        if data_samples is None:
            raise ValueError('SFCClassifier.predict needs data samples with '
                             "'img_labels' (the maps are label-conditioned)")
        labels = self._labels(data_samples, inputs.device)
        res = self.sfc_forward(inputs, None, labels)
        key = 'is_cam' if self.test_cfg['val_map'] == 'prototype' \
            else 'refined_cam'
        return self._postprocess(res[key].float(), inputs.shape[-2:],
                                 data_samples)

    # ------------------------------------------------------------------
    # make_cam (docs/method.md §17.4)
    # ------------------------------------------------------------------
    @torch.no_grad()
    def localization_maps(self, batch: Tensor, label_mask: Tensor,
                          amp: Optional[str] = None) -> Tuple[Tensor, Tensor]:
        """Maps of one scale from an (image, flipped image) pair (reference
        ``CAM.forward``): CAM logits, hierarchical feature, ``x4`` and the
        image itself are flip-fused by summation; ``M`` is not masked; the
        seeds are masked with the labels.

        Args:
            batch: ``[2, 3, h, w]`` normalised image and its flip.
            label_mask: ``[1, K+1, 1, 1]`` (background 1, then the labels).
            amp: autocast around the network layers only.

        Returns:
            ``(maps [2, K+1, h', w'], cam [K, h', w'])``: ``maps[0]`` the
            refined CAM, ``maps[1]`` the prototype CAM, ``cam`` the plain
            flip-summed ReLU CAM (as SIPE's make_cam returns it).
        """
        with autocast_context(batch.device, amp):
            out = self.forward_features(batch)
        cam = flip_fuse(out['cam'].float())[None]
        hie = flip_fuse(out['hie'].float())[None]
        x4 = flip_fuse(out['feats'][-1].float())[None]
        image = flip_fuse(batch.float())[None]
        del out
        with autocast_context(batch.device, amp):
            pcm_feature = self.head.correlation_feature(image, x4)
        res = sfc_cams(
            cam, hie, pcm_feature.float(), label_mask, mask_cam=False,
            bg_scale=self.seed_bg_scale,
            denominator=self.prototype_denominator)
        maps = torch.cat([res['refined_cam'], res['is_cam']])
        return maps, cam[0].clamp(min=0)

    def fuse_localization_maps(self, per_scale: Sequence[Tensor],
                               size: Tuple[int, int]) -> Tensor:
        """Fuse the scales of :meth:`localization_maps` (reference
        ``make_cam.py``) and combine the two maps (reference ``cam2ir.py``)::

            M'_f = fuse_multiscale([maps_s[0]]);  IS_f = fuse_multiscale([maps_s[1]])
            L = cam_weight * shift(M'_f) + prototype_weight * shift(IS_f)

        Args:
            per_scale: ``[2, C, h_s, w_s]`` per scale (``C`` the image's
                classes, background first).
            size: image ``(H, W)``.

        Returns:
            ``[C, H, W]`` float32 (not max-normalised: background up to
            ``1.4 (cam_weight + prototype_weight)``, foreground up to
            ``2 (cam_weight + prototype_weight)``).
        """
        refined = fuse_multiscale([m[0] for m in per_scale], size)
        proto = fuse_multiscale([m[1] for m in per_scale], size)
        cfg = self.test_cfg
        return combine_localization_maps(
            refined, proto, cam_weight=cfg['cam_weight'],
            prototype_weight=cfg['prototype_weight'],
            bg_offset=cfg['bg_offset'])
