"""DeepLabV2Head: ASPP = sum of dilated 3x3 classifiers (mmseg head-test
style: tiny channels, output shape, dilations, bad args, loss)."""
import pytest
import torch
import torch.nn as nn
from mmengine.structures import PixelData

from mmseg.structures import SegDataSample
from mmseg_sipe.models.decode_heads import ASPPSum, DeepLabV2Head
from mmseg_sipe.registry import MODELS


def _samples(n, h, w, num_classes):
    out = []
    for _ in range(n):
        ds = SegDataSample()
        ds.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, h, w)))
        ds.set_metainfo(dict(img_shape=(h, w), pad_shape=(h, w)))
        out.append(ds)
    return out


def test_output_shape_and_dilations():
    head = DeepLabV2Head(in_channels=8, num_classes=5)
    assert head.dilations == (6, 12, 18, 24)
    convs = head.conv_seg.convs
    assert isinstance(head.conv_seg, ASPPSum) and len(convs) == 4
    for conv, d in zip(convs, (6, 12, 18, 24)):
        assert conv.dilation == (d, d) and conv.padding == (d, d)
        assert conv.kernel_size == (3, 3)
        assert conv.in_channels == 8 and conv.out_channels == 5
        assert conv.bias is not None
    # no BN / activation anywhere in the head
    assert not any(
        isinstance(m, (nn.BatchNorm2d, nn.ReLU)) for m in head.modules())
    x = [torch.randn(2, 8, 11, 13)]
    assert head(x).shape == (2, 5, 11, 13)


def test_forward_is_sum_of_branches():
    head = DeepLabV2Head(in_channels=4, num_classes=3, dilations=(1, 2))
    head.eval()
    x = torch.randn(1, 4, 7, 7)
    expected = sum(conv(x) for conv in head.conv_seg.convs)
    torch.testing.assert_close(head([x]), expected)


def test_single_branch_matches_hand_computed():
    head = DeepLabV2Head(in_channels=1, num_classes=1, out_channels=1,
                         dilations=(2, ), threshold=0.5)
    conv = head.conv_seg.convs[0]
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 2.0  # centre tap
        conv.weight[0, 0, 0, 0] = 1.0  # offset (-2, -2) with dilation 2
        conv.bias.fill_(0.5)
    x = torch.arange(25, dtype=torch.float32).view(1, 1, 5, 5)
    out = head([x])[0, 0]
    # pixel (2, 2): 2 * x[2,2] + x[0,0] + 0.5 = 24 + 0 + 0.5
    assert out[2, 2].item() == pytest.approx(24.5)
    # pixel (0, 0): the (-2,-2) tap is padding -> 2 * 0 + 0 + 0.5
    assert out[0, 0].item() == pytest.approx(0.5)


def test_in_index_and_resize_concat():
    head = DeepLabV2Head(in_channels=6, num_classes=3, in_index=1)
    feats = [torch.randn(1, 2, 8, 8), torch.randn(1, 6, 4, 4)]
    assert head(feats).shape == (1, 3, 4, 4)
    head = DeepLabV2Head(
        in_channels=[2, 6],
        in_index=[0, 1],
        input_transform='resize_concat',
        num_classes=3)
    assert head.conv_seg.convs[0].in_channels == 8
    assert head(feats).shape == (1, 3, 8, 8)


def test_init_weights_normal_std_001_zero_bias():
    torch.manual_seed(0)
    head = DeepLabV2Head(in_channels=64, num_classes=21)
    head.init_weights()
    for conv in head.conv_seg.convs:
        assert conv.weight.std().item() == pytest.approx(0.01, rel=0.1)
        assert torch.all(conv.bias == 0)


def test_dropout_convention():
    head = DeepLabV2Head(in_channels=4, num_classes=2)
    assert head.dropout is None  # DeepLab-v2 has no dropout by default
    head = DeepLabV2Head(in_channels=4, num_classes=2, dropout_ratio=0.5)
    assert isinstance(head.dropout, nn.Dropout2d)
    head.eval()  # dropout inactive in eval: deterministic
    x = [torch.randn(1, 4, 5, 5)]
    torch.testing.assert_close(head(x), head(x))


@pytest.mark.parametrize('kwargs', [
    dict(dilations=()),
    dict(dilations=6),
    dict(dilations=(6, 0)),
    dict(dilations=(6, 1.5)),
    dict(dropout_ratio=1.0),
])
def test_bad_args_raise(kwargs):
    with pytest.raises(AssertionError):
        DeepLabV2Head(in_channels=4, num_classes=3, **kwargs)


def test_registered_and_loss_runs():
    head = MODELS.build(
        dict(type='DeepLabV2Head', in_channels=8, num_classes=4,
             dilations=(1, 2, 3, 4)))
    assert isinstance(head, DeepLabV2Head)
    feats = [torch.randn(2, 8, 6, 6, requires_grad=True)]
    losses = head.loss(feats, _samples(2, 24, 24, 4), train_cfg=None)
    assert set(losses) == {'loss_ce', 'acc_seg'}
    assert losses['loss_ce'].item() > 0
    losses['loss_ce'].backward()
    assert head.conv_seg.convs[0].weight.grad is not None
    assert feats[0].grad is not None


def test_predict_resizes_to_image():
    head = DeepLabV2Head(in_channels=8, num_classes=4)
    metas = [dict(img_shape=(32, 40), pad_shape=(32, 40))]
    out = head.predict([torch.randn(1, 8, 4, 5)], metas, test_cfg=None)
    assert out.shape == (1, 4, 32, 40)
