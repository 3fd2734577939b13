"""IRNet: build, loss, gradients (branches only), edge maps at any size."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_sipe.models.irn import (IRNet, affinity_displacement_loss,
                                   irn_edge)
from mmseg_sipe.registry import MODELS


def tiny_irnet(backbone_kw=None, **kw):
    cfg = dict(
        type='IRNet',
        num_classes=21,
        radius=5,
        backbone=dict(
            type='ResNet',
            depth=18,
            stem_channels=16,  # a narrow ResNet-18: fast on CPU
            base_channels=16,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            strides=(1, 2, 2, 1),
            dilations=(1, 1, 1, 1),
            norm_eval=True,
            frozen_stages=4,
            init_cfg=None))
    cfg['backbone'].update(backbone_kw or {})
    cfg.update(kw)
    return MODELS.build(cfg)


def samples(n, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        lab = torch.randint(0, 3, (1, h, w), generator=g)
        lab[lab == 2] = 15
        lab[:, :2] = 255
        ds = SegDataSample()
        ds.gt_sem_seg = PixelData(data=lab)
        out.append(ds)
    return out


def test_build_infers_levels_and_freezes_backbone():
    model = tiny_irnet()
    assert isinstance(model, IRNet)
    assert model.in_channels == (16, 16, 32, 64, 128)
    assert model.strides == (4, 4, 8, 16, 16)
    assert not any(p.requires_grad for p in model.backbone.parameters())
    model.train()
    assert not model.backbone.training and model.edge_branch.training
    # the edge branch: 5 levels x 32 channels fused to one logit
    assert model.edge_branch.fuse.in_channels == 160
    assert model.edge_branch.fuse.out_channels == 1


def test_loss_finite_and_gradients_only_in_branches():
    torch.manual_seed(0)
    model = tiny_irnet()
    model.train()
    x = torch.randn(2, 3, 64, 72)
    losses = model(x, samples(2, 16, 18), mode='loss')
    assert set(losses) >= {'loss_aff', 'loss_dp', 'bg_pos_aff', 'fg_pos_aff',
                           'neg_aff', 'dp_fg', 'dp_bg'}
    assert all(torch.isfinite(v) for v in losses.values())
    total, _ = model.parse_losses(losses)
    want = (losses['bg_pos_aff'] / 2 + losses['fg_pos_aff'] / 2 +
            losses['neg_aff']) / 2 + (losses['dp_fg'] + losses['dp_bg']) / 2
    torch.testing.assert_close(total, want)
    total.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    for name, p in model.named_parameters():
        if name.startswith(('edge_branch', 'disp_branch')):
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.edge_branch.fuse.weight.grad.abs().sum() > 0
    assert model.disp_branch.out.weight.grad.abs().sum() > 0


def test_trainable_backbone_gets_gradients_and_keeps_bn_statistics():
    torch.manual_seed(0)
    model = tiny_irnet(
        freeze_backbone=False, backbone_kw=dict(frozen_stages=-1))
    model.train()
    assert not model.backbone.training  # BatchNorm statistics stay fixed
    bn = model.backbone.bn1
    before = bn.running_mean.clone()
    losses = model(torch.randn(2, 3, 64, 72), samples(2, 16, 18),
                   mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    torch.testing.assert_close(bn.running_mean, before)
    convs = [(n, p) for n, p in model.backbone.named_parameters()
             if p.requires_grad]
    # every conv of the stem and the four stages trains (BN affine is
    # frozen by the backbone's norm_cfg)
    assert {n.split('.')[0] for n, _ in convs} >= {
        'conv1', 'layer1', 'layer2', 'layer3', 'layer4'}
    for name, p in convs:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.backbone.layer4[-1].conv2.weight.grad.abs().sum() > 0


def test_trainable_backbone_with_every_stage_frozen_is_an_error():
    with pytest.raises(ValueError, match='frozen_stages=-1'):
        tiny_irnet(freeze_backbone=False)  # the tiny backbone freezes 4


def test_loss_pads_small_labels_and_needs_labels():
    model = tiny_irnet()
    x = torch.randn(1, 3, 64, 64)
    losses = model.loss(x, samples(1, 14, 15))  # 16x16 map: padded w/ 255
    assert torch.isfinite(losses['loss_aff'])
    with pytest.raises(KeyError, match='gt_sem_seg'):
        model.loss(x, [SegDataSample()])


def test_affinity_displacement_loss_hand_values():
    h, w, r = 12, 14, 4
    label = torch.full((1, h, w), 7)
    label[:, :, 7:] = 0  # fg left, bg right
    # a sharp edge exactly between the halves
    edge_logits = torch.full((1, 1, h, w), -40.0)
    edge_logits[..., 6:8] = 40.0
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(),
                            indexing='ij')
    disp = torch.stack([5 - ys, 3 - xs])[None]
    disp[..., 7:] = 0  # background: no displacement
    out = affinity_displacement_loss(edge_logits, disp, label, radius=r)
    # negative pairs cross the edge: affinity 0 -> -log(1 + eps) ~ 0
    assert out['neg_aff'] < 1e-4
    # positive pairs far from the edge have affinity 1; some positive pairs
    # touch the edge columns 6/7 -> large loss, so only check fg/bg bounds
    assert out['dp_fg'] < 1e-5 and out['dp_bg'] < 1e-5
    # with no edges at all the positive loss vanishes and negatives explode
    out0 = affinity_displacement_loss(torch.full((1, 1, h, w), -40.0), disp,
                                      label, radius=r)
    assert out0['bg_pos_aff'] < 1e-4 and out0['fg_pos_aff'] < 1e-4
    assert out0['neg_aff'] > 10
    with pytest.raises(ValueError, match='spatial'):
        affinity_displacement_loss(edge_logits, disp, label[:, :5], radius=r)


@pytest.mark.parametrize('size', [(37, 53), (65, 81), (130, 150)])
def test_edge_map_any_size(size):
    model = tiny_irnet().eval()
    h, w = size
    x = torch.randn(1, 3, h, w)
    for pad_to in (0, 64):  # 64: smaller than some inputs, never crops
        e = model.edge_map(x, pad_to=pad_to)
        assert e.shape == (1, 1, -(-h // 4), -(-w // 4))
        assert torch.all((e >= 0) & (e <= 1))
    assert model.edge_map(x, flip=False).shape[-2:] == e.shape[-2:]


def test_irn_edge_and_predict():
    model = tiny_irnet(test_cfg=dict(flip=True, pad_to=None))
    img = np.random.RandomState(0).randint(0, 255, (37, 53, 3)).astype(
        np.uint8)
    e_bgr = irn_edge(model, img)
    assert e_bgr.shape == (1, 10, 14)
    e_rgb = irn_edge(model, img[..., ::-1].copy(), channel_order='rgb')
    torch.testing.assert_close(e_bgr, e_rgb)
    assert model.training  # restored
    ds = SegDataSample(metainfo=dict(img_shape=(37, 50)))
    out = model.predict(torch.randn(1, 3, 37, 53), [ds])
    assert out[0].pred_edge.data.shape == (1, 10, 13)
    tensors = model(torch.randn(2, 3, 37, 53), mode='tensor')
    assert tensors[0].shape == (2, 1, 10, 14)
    assert tensors[1].shape == (2, 2, 10, 14)


def test_mean_shift_only_at_inference():
    model = tiny_irnet()
    ms = model.disp_branch.mean_shift
    ms.running_mean.fill_(1.5)
    x = torch.randn(1, 3, 32, 32)
    model.train()
    d_train = model(x, mode='tensor')[1]  # identity, running mean updated
    want = 0.9 * 1.5 + 0.1 * d_train.detach().mean(dim=(0, 2, 3))
    torch.testing.assert_close(ms.running_mean, want)
    model.eval()
    d_eval = model(x, mode='tensor')[1]
    torch.testing.assert_close(d_eval, d_train - want.view(1, 2, 1, 1))
    torch.testing.assert_close(ms.running_mean, want)  # frozen in eval
