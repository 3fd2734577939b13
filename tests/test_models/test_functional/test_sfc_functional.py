"""SFC's pure functions (mmseg_sipe.models.functional.sfc, docs/method.md
§17): formulas on hand-checkable inputs, shapes, errors.  The comparison with
the reference code is in test_sfc_reference.py."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_sipe.models.functional import (argmax_seeds,
                                          class_balance_weights,
                                          combine_localization_maps,
                                          cross_scale_consistency, gsc_loss,
                                          instance_cam, pixel_correlation,
                                          prototype_cam, seed_prototypes,
                                          sfc_cams, shift_background,
                                          weighted_gsc_loss)
from mmseg_sipe.models.functional.sipe import CHUNK_MB_ENV


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_pixel_correlation_formula_on_a_hand_case():
    # two pixels with orthogonal features: A = I, columns sum to 1 -> M' = M
    f = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])  # [1, 2, 1, 2]
    m = torch.tensor([[[[0.3, 0.7]], [[0.9, 0.1]]]])
    out = pixel_correlation(m, f)
    assert torch.allclose(out, m / (1 + 1e-5) ** 2, atol=1e-6)
    # identical features: A = 1, each column sums to 2 -> M' = mean over i
    f = torch.ones(1, 3, 1, 2)
    out = pixel_correlation(m, f)
    mean = m.mean(dim=-1, keepdim=True).expand_as(m)
    assert torch.allclose(out, mean, atol=1e-5)


def test_pixel_correlation_resizes_and_averages():
    g = gen(0)
    m = torch.rand(2, 4, 3, 5, generator=g)
    f = torch.randn(2, 6, 6, 10, generator=g)
    out = pixel_correlation(m, f)
    assert out.shape == (2, 4, 6, 10) and out.dtype == torch.float32
    up = F.interpolate(m, (6, 10), mode='bilinear', align_corners=True)
    # each column of A~ sums to ~1: every output pixel is a weighted
    # average of the (resized) input pixels of its channel
    lo = up.amin((2, 3), keepdim=True)
    hi = up.amax((2, 3), keepdim=True)
    assert (out >= lo - 1e-5).all() and (out <= hi + 1e-5).all()
    assert out.std() < up.std()  # smoothed


def test_pixel_correlation_chunks_give_the_same_result(monkeypatch):
    g = gen(1)
    m = torch.rand(2, 5, 7, 9, generator=g)
    f = torch.randn(2, 8, 7, 9, generator=g)
    whole = pixel_correlation(m, f)
    assert torch.allclose(pixel_correlation(m, f, chunk_size=10), whole,
                          atol=1e-6, rtol=0)
    monkeypatch.setenv(CHUNK_MB_ENV, '0.002')  # budget -> a few columns
    assert torch.allclose(pixel_correlation(m, f), whole, atol=1e-6, rtol=0)


def test_pixel_correlation_gradients_and_errors():
    g = gen(2)
    m = torch.rand(1, 3, 4, 4, generator=g, requires_grad=True)
    f = torch.randn(1, 5, 4, 4, generator=g, requires_grad=True)
    pixel_correlation(m, f).sum().backward()
    assert m.grad.abs().sum() > 0 and f.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='batch'):
        pixel_correlation(torch.rand(2, 3, 4, 4), torch.rand(1, 5, 4, 4))
    with pytest.raises(ValueError, match='chunk_size'):
        pixel_correlation(torch.rand(1, 3, 4, 4), torch.rand(1, 5, 4, 4),
                          chunk_size=0)
    with pytest.raises(ValueError, match=r'\[N, C, h, w\]'):
        pixel_correlation(torch.rand(3, 4, 4), torch.rand(1, 5, 4, 4))


def test_argmax_seeds_background_scale_mask_and_ties():
    m = torch.tensor([0.9, 0.5, 0.1]).view(1, 3, 1, 1).repeat(1, 1, 2, 2)
    mask = torch.ones(1, 3, 1, 1)
    # 0.9 * 0.3 = 0.27 < 0.5: class 1 wins over the background
    seeds = argmax_seeds(m, mask)
    assert torch.equal(seeds[0, :, 0, 0], torch.tensor([0., 1., 0.]))
    assert torch.equal(argmax_seeds(m, mask, bg_scale=1.0)[0, :, 0, 0],
                       torch.tensor([1., 0., 0.]))
    mask[0, 1] = 0  # an absent class keeps no seed; nothing moves elsewhere
    assert argmax_seeds(m, mask).sum() == 0
    tie = torch.tensor([0.0, 0.4, 0.4]).view(1, 3, 1, 1)
    assert torch.equal(argmax_seeds(tie, torch.ones(1, 3, 1, 1))[0, :, 0, 0],
                       torch.tensor([0., 1., 0.]))
    r = torch.rand(2, 4, 3, 3, requires_grad=True)
    assert not argmax_seeds(r, torch.ones(2, 4, 1, 1)).requires_grad
    with pytest.raises(ValueError, match='label_mask'):
        argmax_seeds(r, torch.ones(2, 3, 1, 1))


def test_prototype_cam_reuses_sipe_prototypes_and_is_cam():
    g = gen(3)
    refined = torch.rand(2, 4, 5, 6, generator=g)
    hie = torch.randn(2, 7, 5, 6, generator=g)
    mask = torch.tensor([[1., 1., 0., 1.], [1., 0., 1., 0.]])[:, :, None,
                                                              None]
    out = prototype_cam(refined, hie, mask)
    seeds = argmax_seeds(refined, mask)
    assert torch.equal(out['seeds'], seeds)
    assert torch.equal(out['prototypes'], seed_prototypes(seeds, hie))
    assert torch.equal(out['is_cam'],
                       instance_cam(out['prototypes'], hie))
    assert (out['is_cam'][mask.expand(2, 4, 5, 6) == 0] == 0).all()
    with pytest.raises(ValueError, match='grid'):
        prototype_cam(refined, hie[..., :4], mask)


def test_sfc_cams_masks_before_refinement_only_in_training():
    g = gen(4)
    cam = torch.randn(1, 3, 4, 4, generator=g)
    hie = torch.randn(1, 6, 4, 4, generator=g)
    pcm = torch.randn(1, 5, 4, 4, generator=g)
    mask = torch.tensor([1., 1., 0., 1.]).view(1, 4, 1, 1)
    train = sfc_cams(cam, hie, pcm, mask)
    assert (train['norm_cam'][:, 2] == 0).all()
    assert (train['refined_cam'][:, 2] == 0).all()  # masked class stays 0
    infer = sfc_cams(cam, hie, pcm, mask, mask_cam=False)
    assert (infer['refined_cam'][:, 2] > 0).any()  # unmasked at inference
    assert (infer['seeds'][:, 2] == 0).all()  # the seeds are masked anyway


def test_class_balance_weights_formula_and_absent_classes():
    w = class_balance_weights([10, 20, 30], [1, 4, 9], 1.0)
    a = torch.tensor([10 / 2, 20 / 5, 30 / 10], dtype=torch.float64)
    assert torch.allclose(w.double(), a / a.mean(), atol=1e-7)
    assert w.dtype == torch.float32 and w.mean().item() == pytest.approx(1)
    # a class without images: weight 1, not in the mean
    w = class_balance_weights([10, 0, 30], [1, 0, 9], 1.0)
    a = torch.tensor([5.0, 3.0], dtype=torch.float64)
    assert w[1] == 1.0
    assert torch.allclose(w[[0, 2]].double(), a / a.mean(), atol=1e-7)
    with pytest.raises(ValueError, match='one number per class'):
        class_balance_weights([1, 2], [1], 0)
    with pytest.raises(ValueError, match='non-negative'):
        class_balance_weights([1, -2], [1, 1], 0)
    with pytest.raises(ValueError, match='positive'):
        class_balance_weights([1, 2], [1, 0], 0)
    with pytest.raises(ValueError, match='no class'):
        class_balance_weights([0, 0], [1, 1], 0)


def test_weighted_gsc_loss():
    g = gen(5)
    refined = torch.rand(2, 4, 3, 3, generator=g)
    is_cam = torch.rand(2, 4, 3, 3, generator=g)
    # no weights: SIPE's GSC loss of the refined CAM
    assert torch.equal(weighted_gsc_loss(refined, is_cam),
                       gsc_loss(refined, is_cam))
    w = torch.tensor([2.0, 0.5, 1.0])
    d = (refined - is_cam / (is_cam.amax((2, 3), keepdim=True) + 1e-5)).abs()
    d[:, 1:] *= w.view(1, 3, 1, 1)  # the background keeps weight 1
    assert torch.allclose(weighted_gsc_loss(refined, is_cam, w), d.mean(),
                          atol=1e-7)
    with pytest.raises(ValueError, match='class_weights'):
        weighted_gsc_loss(refined, is_cam, torch.ones(4))
    with pytest.raises(ValueError, match='shape'):
        weighted_gsc_loss(refined, is_cam[:, :3])


def test_cross_scale_consistency():
    g = gen(6)
    big = torch.rand(2, 3, 6, 6, generator=g)
    small = torch.rand(2, 3, 3, 3, generator=g)
    lab = torch.tensor([[1., 1., 0.], [1., 0., 1.]])[:, :, None, None]
    w = torch.tensor([3.0, 0.5])
    down = F.interpolate(big, scale_factor=0.5, mode='bilinear',
                         align_corners=True)
    d = ((down - small) * lab)[:, 1:].abs() * w.view(1, 2, 1, 1)
    got = cross_scale_consistency(big, small, lab, w)
    assert torch.allclose(got, d.mean(), atol=1e-7)
    # unlabelled classes and the background do not count
    small2 = small.clone()
    small2[0, 2] += 5
    small2[:, 0] -= 5
    assert torch.equal(cross_scale_consistency(big, small2, lab, w), got)
    with pytest.raises(ValueError, match='batch or channels'):
        cross_scale_consistency(big, small[:, :2], lab)


def test_shift_background_and_combination():
    m = torch.tensor([0.5, 0.2, 0.9]).view(3, 1, 1)
    s = shift_background(m)
    assert torch.allclose(s.flatten(), torch.tensor([0.9, 0.4, 1.8]))
    p = torch.tensor([0.1, 0.6, 0.3]).view(3, 1, 1)
    c = combine_localization_maps(m, p)
    assert torch.allclose(c, s + 0.7 * shift_background(p))
    assert torch.equal(
        combine_localization_maps(m, p, cam_weight=0.0, prototype_weight=1.0),
        shift_background(p))
    batch = torch.rand(2, 4, 3, 3)  # leading dims are kept
    assert torch.equal(shift_background(batch)[1], shift_background(batch[1]))
    with pytest.raises(ValueError, match='shape'):
        combine_localization_maps(m, p[:2])
    with pytest.raises(ValueError):
        shift_background(torch.rand(3))
