"""make_cam normalises its inputs through the model's data_preprocessor
(the normalisation training used), bit-identically to the reference's
ImageNet constants for the configs' ImageNet numbers."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmseg_sipe  # noqa: F401  (registers the modules)
from mmseg_sipe.cam.inference import (IMAGENET_MEAN, IMAGENET_STD,
                                      flip_pair, input_normalization,
                                      multiscale_is_cam, normalize_rgb)
from mmseg_sipe.registry import MODELS

CPU = torch.device('cpu')


def _model(**preprocessor):
    cfg = Config.fromfile('configs/sipe/demo_r18.py')
    cfg.model.data_preprocessor.update(preprocessor)
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval()


def _image(h=40, w=52, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def test_config_numbers_are_the_reference_normalisation():
    norm = input_normalization(_model())
    assert norm.rgb
    assert torch.allclose(norm.mean / 255, torch.from_numpy(IMAGENET_MEAN))
    assert torch.allclose(norm.std / 255, torch.from_numpy(IMAGENET_STD))
    img = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    batch = flip_pair(img, CPU, channels_last=False, norm=norm)
    ref = torch.from_numpy(normalize_rgb(img))  # the reference's (x/255-m)/s
    assert (batch[0] - ref).abs().max() <= 1e-6
    assert torch.equal(batch[1], batch[0].flip(-1))


def test_other_numbers_and_channel_order_reach_the_network():
    img = _image()
    norm = input_normalization(
        _model(mean=[0., 0., 0.], std=[255., 255., 255.], bgr_to_rgb=False))
    assert not norm.rgb
    batch = flip_pair(img, CPU, channels_last=False, norm=norm)
    # a BGR network gets the channels reversed, scaled to [0, 1]
    expected = torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1) / 255.
    assert torch.allclose(batch[0], expected, atol=1e-7)
    assert not torch.allclose(batch[0], expected.flip(0), atol=1e-3)


def _network_input(model, img):
    """The batch ``multiscale_is_cam`` feeds the backbone (one scale)."""
    seen = []
    hook = model.backbone.register_forward_pre_hook(
        lambda mod, args: seen.append(args[0].detach().clone()))
    labels = np.zeros(20, np.float32)
    labels[[0, 2]] = 1
    try:
        multiscale_is_cam(model, img, labels, (1.0, ))
    finally:
        hook.remove()
    return seen[0]


def test_make_cam_feeds_what_the_preprocessor_makes():
    img = _image(48, 48)
    ref = torch.from_numpy(normalize_rgb(img))
    x = _network_input(_model(), img)
    assert x.shape == (2, 3, 48, 48)
    assert (x[0] - ref).abs().max() <= 1e-6
    assert torch.equal(x[1], x[0].flip(-1))
    x = _network_input(
        _model(mean=[100., 110., 120.], std=[50., 60., 70.]), img)
    expected = (torch.from_numpy(img).float().permute(2, 0, 1) -
                torch.tensor([100., 110., 120.]).view(3, 1, 1)) / \
        torch.tensor([50., 60., 70.]).view(3, 1, 1)
    assert torch.allclose(x[0], expected, atol=1e-6)


def test_preprocessor_without_normalisation_feeds_raw_values():
    norm = input_normalization(
        _model(mean=None, std=None, bgr_to_rgb=False))
    assert norm.mean is None and not norm.rgb
    img = _image()
    batch = flip_pair(img, CPU, channels_last=False, norm=norm)
    expected = torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1)
    assert torch.equal(batch[0], expected.float())


def test_a_model_without_preprocessor_is_an_error():
    with pytest.raises(ValueError, match='no data_preprocessor'):
        input_normalization(torch.nn.Linear(2, 2))
