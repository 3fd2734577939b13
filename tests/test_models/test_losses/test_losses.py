"""Registered loss modules against hand-computed values."""
import math

import pytest
import torch

import mmseg_sipe  # noqa: F401  (registers the losses)
from mmseg_sipe.models.functional import (cross_scale_consistency,
                                          weighted_gsc_loss)
from mmseg_sipe.registry import MODELS


def test_multilabel_soft_margin_by_hand():
    loss = MODELS.build(dict(type='MultiLabelSoftMarginLoss', loss_weight=2.0))
    score = torch.tensor([[0.0, 2.0]]).view(1, 2, 1, 1)  # reference layout
    labels = torch.tensor([[1.0, 0.0]])
    # -[log s(0)] and -[log s(-2)], averaged over the two classes
    expected = (math.log(2) + math.log(1 + math.exp(2))) / 2
    assert loss(score, labels).item() == pytest.approx(2 * expected)
    assert loss.loss_name == 'loss_cls'


def test_gsc_loss_by_hand():
    loss = MODELS.build(dict(type='GSCLoss', loss_weight=0.5))
    norm_cam = torch.zeros(1, 2, 1, 2)
    is_cam = torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]]])
    # IS / max per channel: [1/3, 1] and [1, 1] (eps 1e-5 aside)
    expected = (1 / 3 + 1 + 1 + 1) / 4
    assert loss(norm_cam, is_cam).item() == pytest.approx(
        0.5 * expected, rel=1e-4)
    assert loss.loss_name == 'loss_gsc'


def test_sfc_losses_scale_their_functions():
    g = torch.Generator().manual_seed(0)
    refined = torch.rand(2, 3, 4, 4, generator=g)
    is_cam = torch.rand(2, 3, 4, 4, generator=g)
    small = torch.rand(2, 3, 2, 2, generator=g)
    mask = torch.tensor([1., 1., 0.]).view(1, 3, 1, 1).expand(2, 3, 1, 1)
    w = torch.tensor([0.5, 2.0])
    gsc = MODELS.build(dict(type='ClassWeightedGSCLoss'))
    assert gsc.loss_weight == 1.6  # the reference weight
    assert torch.allclose(gsc(refined, is_cam, w),
                          1.6 * weighted_gsc_loss(refined, is_cam, w))
    cons = MODELS.build(dict(type='CrossScaleConsistencyLoss'))
    assert cons.loss_weight == 0.8 and cons.loss_name == 'loss_consistency'
    assert torch.allclose(
        cons(refined, small, mask, w),
        0.8 * cross_scale_consistency(refined, small, mask, w))
    # class weights matter
    assert not torch.allclose(gsc(refined, is_cam, w),
                              gsc(refined, is_cam, None))
