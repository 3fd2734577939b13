"""Test-time dense CRF: CRFEncoderDecoder and CRFSegTTAModel."""
import copy
import cv2
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.dataset import Compose, pseudo_collate

from mmseg.structures import SegDataSample
import mmseg_sipe.models.postprocess  # noqa: F401
from mmseg_sipe.models.postprocess import (CRFEncoderDecoder, CRFSegTTAModel,
                                           load_rgb_image, parse_crf_cfg)
from mmseg_sipe.registry import MODELS
from sipe_testing import build_seeded, seg_preprocessor

H, W = 24, 32
TINY = dict(
    type='CRFEncoderDecoder',
    data_preprocessor=seg_preprocessor(pad_val=0, seg_pad_val=255),
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        stem_channels=8,
        base_channels=8,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=dict(type='BN', requires_grad=True),
        contract_dilation=True),
    decode_head=dict(
        type='DeepLabV2Head', in_channels=64, in_index=3, num_classes=3,
        dilations=(1, 2)),
    test_cfg=dict(mode='whole'))


def _image(path):
    """Left half red, right half blue (RGB); written as BGR by cv2."""
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, :W // 2] = (230, 20, 20)
    rgb[:, W // 2:] = (20, 20, 230)
    cv2.imwrite(path, rgb[..., ::-1].copy())
    return rgb


def _model(**crf):
    cfg = ConfigDict(copy.deepcopy(TINY))
    if crf:
        cfg['crf'] = crf
    return build_seeded(cfg, init_weights=False).eval()


def _sample(path):
    ds = SegDataSample()
    ds.set_metainfo(
        dict(img_path=path, ori_shape=(H, W), img_shape=(H, W),
             pad_shape=(H, W), padding_size=[0, 0, 0, 0]))
    return ds


class FakeCRF:
    """Stands in for crf_inference_prob: records its inputs."""

    def __init__(self, winner=2):
        self.calls = []
        self.winner = winner

    def __call__(self, img, probs, **kw):
        self.calls.append((img, probs, kw))
        out = np.zeros_like(probs)
        out[self.winner] = 1
        return out


def test_parse_crf_cfg():
    assert parse_crf_cfg(None)['enabled'] is False
    cfg = parse_crf_cfg(dict(iterations=5))
    assert cfg['enabled'] is True and cfg['iterations'] == 5
    assert cfg['bi_xy_std'] == 67 and cfg['bi_rgb_std'] == 3
    assert cfg['pos_w'] == 3 and cfg['pos_xy_std'] == 1 and cfg['bi_w'] == 4
    with pytest.raises(KeyError, match='bi_rgb'):
        parse_crf_cfg(dict(bi_rgb=3))
    with pytest.raises(ValueError, match='iterations'):
        parse_crf_cfg(dict(iterations=0))


def test_load_rgb_image(tmp_path):
    path = str(tmp_path / 'x.png')
    rgb = _image(path)
    np.testing.assert_array_equal(load_rgb_image(path, (H, W)), rgb)
    with pytest.raises(ValueError, match='x.png'):
        load_rgb_image(path, (H + 1, W))
    with pytest.raises(ValueError, match='img_path'):
        load_rgb_image(None, (H, W))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load_rgb_image(str(tmp_path / 'missing.png'), (H, W))


def test_disabled_is_plain_encoder_decoder(tmp_path, monkeypatch):
    fake = FakeCRF()
    monkeypatch.setattr(
        'mmseg_sipe.models.postprocess.crf_encoder_decoder.crf_inference_prob',
        fake)
    path = str(tmp_path / 'a.png')
    _image(path)
    model = _model(enabled=False)
    assert isinstance(model, CRFEncoderDecoder) and not model.crf_enabled
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, H, W), [_sample(path)])[0]
    logits = out.seg_logits.data
    assert logits.shape == (3, H, W)
    torch.testing.assert_close(out.pred_sem_seg.data,
                               logits.argmax(0, keepdim=True))
    assert fake.calls == []


def test_enabled_applies_crf_to_softmax_at_original_size(
        tmp_path, monkeypatch):
    fake = FakeCRF(winner=2)
    monkeypatch.setattr(
        'mmseg_sipe.models.postprocess.crf_encoder_decoder.crf_inference_prob',
        fake)
    path = str(tmp_path / 'a.png')
    rgb = _image(path)
    model = _model(iterations=7, bi_rgb_std=5)
    x = torch.randn(1, 3, 16, 16)  # resized input; ori_shape is H x W
    ds = _sample(path)
    ds.set_metainfo(dict(img_shape=(16, 16), pad_shape=(16, 16)))
    with torch.no_grad():
        out = model.predict(x, [ds])[0]
    assert len(fake.calls) == 1
    img, probs, kw = fake.calls[0]
    np.testing.assert_array_equal(img, rgb)  # un-normalised RGB image
    assert probs.shape == (3, H, W)
    np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5)
    np.testing.assert_allclose(
        probs, out.seg_logits.data.softmax(0).numpy(), atol=1e-6)
    assert kw == dict(t=7, pos_w=3, pos_xy_std=1, bi_w=4, bi_xy_std=67,
                      bi_rgb_std=5)
    assert out.pred_sem_seg.data.shape == (1, H, W)
    assert torch.all(out.pred_sem_seg.data == 2)


def test_enabled_with_real_dense_crf(tmp_path):
    pytest.importorskip('pydensecrf')
    from mmseg_sipe.models.functional.crf import crf_inference_prob
    path = str(tmp_path / 'a.png')
    rgb = _image(path)
    model = _model(enabled=True)
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, H, W), [_sample(path)])[0]
    probs = crf_inference_prob(
        rgb, out.seg_logits.data.softmax(0).numpy(), t=10)
    np.testing.assert_array_equal(out.pred_sem_seg.data[0].numpy(),
                                  probs.argmax(0))


def _tta_batch(path, gt_path):
    """One image through an mmseg-style TTA pipeline: 2 scales x 2 flips
    (the configs inherit mmseg's 6 x 2 one)."""
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(
            type='TestTimeAug',
            transforms=[[
                dict(type='Resize', scale_factor=r, keep_ratio=True)
                for r in (0.75, 1.25)
            ],
                        [
                            dict(type='RandomFlip', prob=0.,
                                 direction='horizontal'),
                            dict(type='RandomFlip', prob=1.,
                                 direction='horizontal')
                        ], [dict(type='LoadAnnotations')],
                        [dict(type='PackSegInputs')]])
    ])
    item = pipeline(
        dict(img_path=path, seg_map_path=gt_path, reduce_zero_label=False,
             seg_fields=[]))
    return pseudo_collate([item]), len(item['inputs'])


def _tta(model):
    return MODELS.build(dict(type='CRFSegTTAModel', module=model))


def test_tta_without_crf_matches_seg_tta_model(tmp_path):
    path, gt = str(tmp_path / 'a.png'), str(tmp_path / 'gt.png')
    _image(path)
    cv2.imwrite(gt, np.zeros((H, W), np.uint8))
    batch, n_views = _tta_batch(path, gt)
    assert n_views == 4
    model = _model(enabled=False)
    ours = _tta(model).test_step(copy.deepcopy(batch))[0]
    ref = MODELS.build(dict(type='SegTTAModel', module=model)).test_step(
        copy.deepcopy(batch))[0]
    torch.testing.assert_close(ours.pred_sem_seg.data.squeeze(),
                               ref.pred_sem_seg.data.squeeze())


def test_tta_applies_crf_once_on_merged_probs(tmp_path, monkeypatch):
    fake = FakeCRF(winner=1)
    monkeypatch.setattr(
        'mmseg_sipe.models.postprocess.crf_encoder_decoder.crf_inference_prob',
        fake)
    path, gt = str(tmp_path / 'a.png'), str(tmp_path / 'gt.png')
    rgb = _image(path)
    cv2.imwrite(gt, np.zeros((H, W), np.uint8))
    batch, _ = _tta_batch(path, gt)
    model = _model(enabled=True)
    tta = _tta(model)
    assert isinstance(tta, CRFSegTTAModel)
    out = tta.test_step(batch)[0]
    assert len(fake.calls) == 1  # not once per view
    img, probs, _ = fake.calls[0]
    np.testing.assert_array_equal(img, rgb)
    assert probs.shape == (3, H, W)
    np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5)
    assert torch.all(out.pred_sem_seg.data == 1)
    assert out.gt_sem_seg.data.shape[-2:] == (H, W)
    assert model.crf_enabled  # restored after the views
