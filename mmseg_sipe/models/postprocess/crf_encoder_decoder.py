"""Optional dense-CRF refinement of stage-two predictions at test time.

deeplab-pytorch (the stage-two code SIPE points to) refines test
predictions with a dense CRF (10 iterations, Gaussian ``pos_w=3,
pos_xy_std=1``, bilateral ``bi_w=4, bi_xy_std=67, bi_rgb_std=3``) on the
softmax of the logits at the original image size, with the un-normalised
RGB image. Here that is a config switch:

* :class:`CRFEncoderDecoder` - mmseg's ``EncoderDecoder`` whose
  ``predict`` (hence validation and testing) applies the CRF when
  ``crf.enabled``;
* :class:`CRFSegTTAModel` - mmseg's ``SegTTAModel`` (multi-scale + flip)
  that averages the views' probabilities first and then applies the CRF
  once, as deeplab-pytorch does (``tools/test.py --tta``).

Turn it on for a test run with
``--cfg-options model.crf.enabled=True`` (needs ``pydensecrf2``).
"""
import contextlib
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch
from mmengine.structures import PixelData
from torch import Tensor

from mmseg.models.segmentors import EncoderDecoder, SegTTAModel
from mmseg.utils import OptSampleList, SampleList
from mmseg_sipe.registry import MODELS
from ...datasets.transforms.loading import read_rgb
from ..functional.crf import crf_inference_prob
from ..utils import ChannelsLastMixin

#: deeplab-pytorch's test-time CRF settings (``configs/voc12.yaml``).
DEFAULT_CRF_CFG: Dict = dict(
    enabled=False,
    iterations=10,
    pos_w=3,
    pos_xy_std=1,
    bi_w=4,
    bi_xy_std=67,
    bi_rgb_std=3)


def parse_crf_cfg(crf: Optional[dict]) -> Dict:
    """Complete a ``crf`` config with :data:`DEFAULT_CRF_CFG`.

    ``None`` means disabled. A dict without ``enabled`` means enabled.

    Raises:
        KeyError: On an unknown key (named in the message).
    """
    cfg = dict(DEFAULT_CRF_CFG)
    if crf is None:
        return cfg
    crf = dict(crf)
    unknown = sorted(set(crf) - set(DEFAULT_CRF_CFG))
    if unknown:
        raise KeyError(f'unknown crf key(s) {unknown}; allowed: '
                       f'{sorted(DEFAULT_CRF_CFG)}')
    cfg['enabled'] = True
    cfg.update(crf)
    cfg['enabled'] = bool(cfg['enabled'])
    if int(cfg['iterations']) < 1:
        raise ValueError(
            f'crf.iterations must be >= 1, got {cfg["iterations"]}')
    return cfg


def load_rgb_image(img_path: Optional[str], shape) -> np.ndarray:
    """Read the un-normalised image for the CRF's bilateral kernel.

    Args:
        img_path (str): Image file (``data_sample.img_path``).
        shape (tuple[int, int]): Expected ``(H, W)`` (the original shape).

    Returns:
        ndarray: ``H x W x 3`` uint8 RGB, C-contiguous.
    """
    if not img_path:
        raise ValueError(
            'dense-CRF post-processing needs the original image, but the '
            'data sample has no img_path (e.g. an in-memory array); disable '
            'it with model.crf.enabled=False')
    img = read_rgb(img_path)  # the stored pixel grid, as every step reads
    if tuple(img.shape[:2]) != tuple(shape):
        raise ValueError(
            f'image {img_path} is {img.shape[:2]} but the prediction is '
            f'{tuple(shape)} (ori_shape); the CRF needs them equal')
    return np.ascontiguousarray(img, dtype=np.uint8)


def crf_refine_probs(probs: Tensor, img: np.ndarray, crf_cfg: Dict) -> Tensor:
    """Dense CRF of class probabilities.

    Args:
        probs (Tensor): ``[C, H, W]`` probabilities (sum to 1 over C).
        img (ndarray): ``H x W x 3`` uint8 RGB image.
        crf_cfg (dict): See :data:`DEFAULT_CRF_CFG`.

    Returns:
        Tensor: ``[C, H, W]`` float32 CRF marginals, on ``probs.device``.
    """
    q = crf_inference_prob(
        img,
        probs.detach().float().cpu().numpy(),
        t=int(crf_cfg['iterations']),
        pos_w=crf_cfg['pos_w'],
        pos_xy_std=crf_cfg['pos_xy_std'],
        bi_w=crf_cfg['bi_w'],
        bi_xy_std=crf_cfg['bi_xy_std'],
        bi_rgb_std=crf_cfg['bi_rgb_std'])
    return torch.from_numpy(np.asarray(q, dtype=np.float32)).to(probs.device)


def crf_refine_logits(logits: Tensor, img: np.ndarray,
                      crf_cfg: Dict) -> Tensor:
    """``[C, H, W]`` logits -> ``[C, H, W]`` CRF marginals of their softmax."""
    return crf_refine_probs(logits.float().softmax(dim=0), img, crf_cfg)


@MODELS.register_module()
class CRFEncoderDecoder(ChannelsLastMixin, EncoderDecoder):
    """``EncoderDecoder`` with optional dense-CRF post-processing.

    When ``crf.enabled``, ``predict`` (validation, testing, inference)
    replaces ``pred_sem_seg`` by the argmax of
    ``crf_inference_prob(image, softmax(seg_logits))``, computed on the
    logits already resized to the original image (``ori_shape``) and the
    image read from ``data_sample.img_path``. ``seg_logits`` keeps the
    network's raw logits. Training is unchanged.

    Args:
        crf (dict, optional): ``enabled``, ``iterations``, ``pos_w``,
            ``pos_xy_std``, ``bi_w``, ``bi_xy_std``, ``bi_rgb_std``; missing
            keys take deeplab-pytorch's values (:data:`DEFAULT_CRF_CFG`).
            ``None``: disabled.
        channels_last (bool): opt-in: store the convolution weights
            channels-last (NHWC) from construction on, before any DDP
            wrapping (faster convolutions on oneDNN and cuDNN; each step
            matches NCHW to float rounding, training trajectories do not:
            see :class:`SIPEClassifier`). Default: PyTorch's NCHW.
        **kwargs: :class:`mmseg.models.EncoderDecoder` arguments.
    """

    def __init__(self,
                 *args,
                 crf: Optional[dict] = None,
                 channels_last: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.crf_cfg = parse_crf_cfg(crf)
        # opt-in NHWC weights from construction on (before DDP wrapping)
        self._init_channels_last(channels_last)

    @property
    def crf_enabled(self) -> bool:
        return bool(self.crf_cfg['enabled'])

    @contextlib.contextmanager
    def crf_disabled(self) -> Iterator[None]:
        """Context in which ``predict`` skips the CRF (used by TTA)."""
        old = self.crf_cfg['enabled']
        self.crf_cfg['enabled'] = False
        try:
            yield
        finally:
            self.crf_cfg['enabled'] = old

    def postprocess_result(self,
                           seg_logits: Tensor,
                           data_samples: OptSampleList = None) -> SampleList:
        """mmseg's post-processing, then the CRF on each sample if enabled.

        Args:
            seg_logits (Tensor): ``[N, C, H', W']`` network logits.
            data_samples (list[SegDataSample], optional): Their samples.
        """
        has_meta = data_samples is not None
        data_samples = super().postprocess_result(seg_logits, data_samples)
        if not self.crf_enabled or seg_logits.shape[1] < 2:
            return data_samples
        if not has_meta:
            raise ValueError('dense-CRF post-processing needs data samples '
                             'with img_path and ori_shape')
        for ds in data_samples:
            logits = ds.seg_logits.data  # [C, H, W] at ori_shape
            img = load_rgb_image(ds.metainfo.get('img_path'),
                                 logits.shape[-2:])
            probs = crf_refine_logits(logits, img, self.crf_cfg)
            ds.set_data({
                'pred_sem_seg':
                PixelData(data=probs.argmax(dim=0, keepdim=True))
            })
        return data_samples


@MODELS.register_module()
class CRFSegTTAModel(SegTTAModel):
    """Multi-scale + flip TTA with the dense CRF applied after merging.

    Behaves like mmseg's ``SegTTAModel`` (average of the views' softmax,
    argmax). If the wrapped model has ``crf_enabled`` true (a
    :class:`CRFEncoderDecoder`), the views are predicted without CRF and the
    CRF runs once on the averaged probabilities, with the image from the
    sample's ``img_path``.
    """

    def test_step(self, data):
        module = self.module
        use_crf = bool(getattr(module, 'crf_enabled', False))
        self._crf_cfg = module.crf_cfg if use_crf else None
        ctx = module.crf_disabled() if use_crf else contextlib.nullcontext()
        with ctx:
            return super().test_step(data)

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        """Average the views' probabilities, optional CRF, argmax."""
        crf_cfg = getattr(self, '_crf_cfg', None)
        if crf_cfg is None or self.module.out_channels < 2:
            return super().merge_preds(data_samples_list)
        predictions = []
        for data_samples in data_samples_list:
            probs = torch.stack([
                ds.seg_logits.data.float().softmax(dim=0)
                for ds in data_samples
            ]).mean(dim=0)
            first = data_samples[0]
            img = load_rgb_image(first.metainfo.get('img_path'),
                                 probs.shape[-2:])
            probs = crf_refine_probs(probs, img, crf_cfg)
            out = data_samples[-1]
            out.set_data({
                'pred_sem_seg':
                PixelData(data=probs.argmax(dim=0, keepdim=True))
            })
            if hasattr(first, 'gt_sem_seg'):
                out.set_data({'gt_sem_seg': first.gt_sem_seg})
            out.set_metainfo({'img_path': first.img_path})
            predictions.append(out)
        return predictions


__all__ = [
    'DEFAULT_CRF_CFG', 'parse_crf_cfg', 'load_rgb_image', 'crf_refine_probs',
    'crf_refine_logits', 'CRFEncoderDecoder', 'CRFSegTTAModel'
]
