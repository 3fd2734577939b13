"""SFCClassifier / SFCHead (docs/method.md §17): building, switches and
errors, class weights from the statistics file, gradient flow, predict, and
the make_cam dispatch.  Numbers against the reference code are in
tests/test_models/test_functional/test_sfc_reference.py."""
import json
import math

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmseg_sipe  # noqa: F401
from mmseg_sipe.cam import make_cams
from mmseg_sipe.cam.inference import multiscale_is_cam
from mmseg_sipe.utils.cam_io import load_cam
from mmseg_sipe.registry import MODELS

from sipe_testing import ROOT

VOC_STATS = f'{ROOT}/configs/sfc/class_stats/voc_train_aug.json'


def build(**kw):
    cfg = dict(
        type='SFCClassifier',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        backbone=dict(
            type='ResNet', depth=18, base_channels=16, num_stages=4,
            out_indices=(0, 1, 2, 3), strides=(1, 2, 2, 1),
            dilations=(1, 1, 1, 1), style='pytorch', norm_eval=True,
            frozen_stages=2, contract_dilation=False),
        head=dict(type='SFCHead', in_channels=(16, 32, 64, 128),
                  side_channels=(8, 8, 16, 16), num_classes=20))
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def samples(labels, size, valid=None):
    out = []
    for i, idx in enumerate(labels):
        lab = np.zeros(20, np.float32)
        lab[list(idx)] = 1
        ds = SegDataSample(metainfo=dict(img_labels=lab, img_shape=size,
                                         ori_shape=size, img_path=f'{i}.jpg'))
        if valid is not None:
            ds.valid_mask = PixelData(data=valid[i][None])
        out.append(ds)
    return out


def test_head_adds_the_projection_and_keeps_ipe_outputs():
    model = build()
    head = model.head
    assert tuple(head.pcm_conv.weight.shape) == (128, 3 + 128, 1, 1)
    assert head.pcm_conv.bias is None
    x = torch.randn(2, 3, 80, 96)
    out = model.forward_features(x)
    grid = (math.ceil(80 / 16), math.ceil(96 / 16))
    assert out['cam'].shape == (2, 20) + grid
    assert out['hie'].shape == (2, 48) + grid
    f = head.correlation_feature(x, out['feats'][-1])
    assert f.shape == (2, 128) + grid
    with pytest.raises(ValueError, match='batch'):
        head.correlation_feature(x[:1], out['feats'][-1])


def test_switches_and_errors():
    with pytest.raises(TypeError, match='SFCHead'):
        build(head=dict(type='IPEHead', in_channels=(16, 32, 64, 128),
                        side_channels=(8, 8, 16, 16), num_classes=20))
    with pytest.raises(ValueError, match='val_map'):
        build(test_cfg=dict(val_map='both'))
    with pytest.raises(ValueError, match='scale_factor'):
        build(scale_factor=1.0)
    model = build(test_cfg=dict(prototype_weight=0.3))
    assert model.test_cfg['prototype_weight'] == 0.3
    assert model.test_cfg['cam_weight'] == 1.0  # defaults kept


def test_class_weights_from_file(tmp_path):
    assert torch.equal(build().class_weights, torch.ones(20))
    model = build(class_stats_file=VOC_STATS)
    w = model.class_weights
    assert w.shape == (20, ) and w.mean().item() == pytest.approx(1, abs=1e-6)
    assert 'class_weights' not in model.state_dict()  # not a trained weight
    # a missing file: the model builds (make_cam needs no statistics), the
    # first training step names the tool
    missing = build(class_stats_file=str(tmp_path / 'none.json'))
    x = torch.randn(1, 3, 64, 64)
    with pytest.raises(FileNotFoundError, match='class_stats.py'):
        missing.loss(x, samples([[1]], (64, 64)))
    # a file without pixel counts cannot give weights
    stats = json.load(open(VOC_STATS))
    stats['pixel_counts'] = None
    path = tmp_path / 'nopix.json'
    path.write_text(json.dumps(stats))
    with pytest.raises(ValueError, match='pixel counts'):
        build(class_stats_file=str(path))
    with pytest.raises(ValueError, match='80'):
        build(class_stats_file=VOC_STATS,
              head=dict(type='SFCHead', in_channels=(16, 32, 64, 128),
                        side_channels=(8, 8, 16, 16), num_classes=80))


def test_loss_keys_padding_and_gradient_flow():
    model = build(class_stats_file=VOC_STATS).train()
    valid = torch.zeros(2, 64, 64, dtype=torch.uint8)
    valid[:, :48, :40] = 1
    x = torch.randn(2, 3, 64, 64)
    x2 = x.clone()
    x2[:, :, 48:] = 50.0  # padding content never matters
    lab = [[14], [2, 8]]
    losses = model.loss(x, samples(lab, (64, 64), valid))
    assert set(losses) == {'loss_cls', 'loss_gsc', 'loss_consistency'}
    again = model.loss(x2, samples(lab, (64, 64), valid))
    for k in losses:
        assert torch.allclose(losses[k], again[k], atol=1e-6)
    model.zero_grad()
    (losses['loss_gsc'] + losses['loss_consistency']).backward()
    got = {n for n, p in model.named_parameters()
           if p.grad is not None and p.grad.abs().sum() > 0}
    # the refinement trains the projection, the classifier and (through x4)
    # layer3 / layer4; the prototype CAM trains the side convolutions
    for prefix in ('head.pcm_conv', 'head.classifier', 'head.sides.',
                   'backbone.layer4.', 'backbone.layer3.'):
        assert any(n.startswith(prefix) for n in got), prefix
    assert not any(n.startswith(('backbone.conv1', 'backbone.layer1',
                                 'backbone.layer2')) for n in got)


def test_zero_logits_give_ln2_and_bank_blank_samples_are_harmless():
    model = build()
    with torch.no_grad():
        model.head.classifier.weight.zero_()
    valid = torch.ones(2, 64, 64, dtype=torch.uint8)
    valid[1] = 0  # a blank image-bank sample: no labels, nothing valid
    losses = model.loss(torch.randn(2, 3, 64, 64),
                        samples([[3], []], (64, 64), valid))
    assert losses['loss_cls'].item() == pytest.approx(math.log(2), abs=1e-6)
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize('val_map', ['prototype', 'refined'])
def test_predict(val_map):
    model = build(test_cfg=dict(val_map=val_map)).eval()
    out = model.predict(torch.randn(1, 3, 80, 112),
                        samples([[4]], (80, 112)))
    ds = out[0]
    assert ds.seg_logits.data.shape == (21, 80, 112)
    pred = ds.pred_sem_seg.data
    assert set(pred.unique().tolist()) <= {0, 5}  # masked by the labels
    assert torch.equal(pred[0], ds.seg_logits.data.argmax(0))
    with pytest.raises(ValueError, match='data samples'):
        model.predict(torch.randn(1, 3, 32, 32))


def test_make_cam_dispatches_to_the_model(tmp_path):
    model = build().eval()
    img = (np.random.default_rng(0).random((40, 56, 3)) * 255).astype(
        np.uint8)
    labels = np.zeros(20, np.float32)
    labels[[1, 7]] = 1
    keys, maps, cam = multiscale_is_cam(model, img, labels, (1.0, 0.5),
                                        return_cam=True)
    assert keys.tolist() == [0, 2, 8]
    assert maps.shape == cam.shape == (3, 40, 56)
    # background: 1.4 x (1 + 0.7) at most; foreground 2 x (1 + 0.7)
    assert maps[0].max() <= 1.7 * 1.4 + 1e-4
    assert maps[1:].max() <= 1.7 * 2 + 1e-4 and maps[1:].max() > 1.7
    # the same call on SIPE's classifier keeps SIPE's max-normalised IS-CAM
    sipe = MODELS.build(dict(
        type='SIPEClassifier',
        backbone=dict(type='ResNet', depth=18, base_channels=16,
                      strides=(1, 2, 2, 1), dilations=(1, 1, 1, 1),
                      contract_dilation=False),
        head=dict(type='IPEHead', in_channels=(16, 32, 64, 128),
                  side_channels=(8, 8, 16, 16), num_classes=20))).eval()
    _, sipe_maps = multiscale_is_cam(sipe, img, labels, (1.0, ))
    assert sipe_maps.max() <= 1.0
    # and make_cams writes the SFC maps to disk
    items = [dict(name='a', img_path=str(tmp_path / 'a.png'),
                  img_labels=labels)]
    from PIL import Image
    Image.fromarray(img).save(items[0]['img_path'])
    make_cams(model, items, str(tmp_path / 'cam'), scales=(1.0, 0.5),
              dtype='float32', num_workers=0, fold_bn=False)
    k, stored = load_cam(str(tmp_path / 'cam' / 'a.npz'))
    assert k.tolist() == [0, 2, 8]
    np.testing.assert_allclose(stored, maps, atol=1e-5)
