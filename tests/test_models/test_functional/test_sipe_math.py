"""SIPE's pure functions against direct transcriptions of the formulas
(method spec sections 2.2, 3, 4, 6.1 and 11)."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmseg_sipe.models.functional import (background_cam, flip_fuse,
                                          fuse_multiscale, gsc_loss,
                                          hierarchical_feature, instance_cam,
                                          is_cam_from_features, l2_normalize,
                                          max_normalize, seed_prototypes,
                                          structure_seeds,
                                          structure_similarity)


def broadcast_similarity(norm_cam, feature, bg_weight=0.5):
    """Literal reference transcription: builds [N, K+1, hw, hw]."""
    n, k1, h, w = norm_cam.shape
    f = feature / (feature.norm(dim=1, keepdim=True) + 1e-5)
    f = f.flatten(2)  # [N, C, hw]
    corr = F.relu(torch.einsum('nci,ncj->nij', f, f))[:, None]  # [N,1,hw,hw]
    cam_flat = norm_cam.flatten(2)[:, :, None, :]  # [N,K+1,1,hw]
    inter = (corr * cam_flat).sum(-1)  # [N,K+1,hw]
    union = corr.sum(-1) + cam_flat.sum(-1) - inter
    c = (inter / union).view(n, k1, h, w)
    c[:, 0] = c[:, 0] * bg_weight
    return c


def rand_case(seed, n=2, k=5, c=16, h=6, w=7):
    g = torch.Generator().manual_seed(seed)
    cam = torch.randn(n, k, h, w, generator=g)
    feat = torch.randn(n, c, h, w, generator=g).relu()
    labels = (torch.rand(n, k, generator=g) > 0.5).float()
    labels[:, 0] = 1
    mask = torch.cat([torch.ones(n, 1), labels], 1)[:, :, None, None]
    return cam, feat, mask


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('chunk', [None, 5])
def test_similarity_equals_broadcast_formula(seed, chunk):
    cam, feat, mask = rand_case(seed)
    m = background_cam(cam) * mask
    ours = structure_similarity(m, feat, chunk_size=chunk)
    ref = broadcast_similarity(m, feat)
    assert torch.allclose(ours, ref, atol=1e-5)
    seeds = structure_seeds(m, feat, mask, chunk_size=chunk)
    idx = ref.argmax(1, keepdim=True)
    ref_seeds = torch.zeros_like(ref).scatter_(1, idx, 1) * mask
    assert torch.equal(seeds, ref_seeds)


def test_ties_go_to_lowest_index():
    # identical class maps -> identical scores for classes 1 and 2
    feat = torch.rand(1, 4, 3, 3)
    m = torch.zeros(1, 3, 3, 3)
    m[0, 1] = m[0, 2] = torch.rand(3, 3)
    seeds = structure_seeds(m, feat, torch.ones(1, 3, 1, 1), bg_weight=0.0)
    assert seeds[0, 1].sum() == 9 and seeds[0, 2].sum() == 0
    assert torch.allclose(structure_similarity(m, feat)[0, 1],
                          broadcast_similarity(m, feat)[0, 1], atol=1e-6)


def test_all_zero_features_give_no_nan():
    cam, feat, mask = rand_case(3)
    feat[:, :, 2, 3] = 0  # one all-zero feature vector
    feat[1] = 0  # a whole all-zero image
    m = background_cam(cam) * mask
    c = structure_similarity(m, feat)
    assert torch.isfinite(c).all()
    ref = broadcast_similarity(m, feat)
    finite = torch.isfinite(ref)
    assert torch.allclose(c[finite], ref[finite], atol=1e-5)
    out = is_cam_from_features(cam, feat, feat, mask)
    for v in out.values():
        assert torch.isfinite(v).all()


def test_seed_properties():
    cam, feat, mask = rand_case(4)
    valid = torch.ones(2, 1, 6, 7)
    valid[:, :, 4:, :] = 0  # padding rows
    full_mask = mask * valid
    m = background_cam(cam) * full_mask
    seeds = structure_seeds(m, feat, full_mask)
    assert set(seeds.unique().tolist()) <= {0.0, 1.0}
    assert (seeds.sum(1) <= 1).all()
    assert seeds[:, :, 4:, :].sum() == 0
    absent = mask[:, :, 0, 0] == 0
    assert seeds.sum((2, 3))[absent].sum() == 0
    assert not seeds.requires_grad


def test_background_identity_and_max():
    cam = torch.randn(2, 4, 5, 5) * 3
    m = background_cam(cam)
    a = cam.relu()
    mf = a / (a.amax((2, 3), keepdim=True) + 1e-5)
    assert torch.allclose(m[:, 1:], mf)
    assert torch.allclose(m[:, 0], 1 - mf.max(1)[0])
    peak = a.amax((2, 3))
    assert torch.allclose(m[:, 1:].amax((2, 3)), peak / (peak + 1e-5))


def test_is_cam_range_zeros_and_scale_invariance():
    cam, feat, mask = rand_case(5)
    hie = torch.randn(2, 12, 6, 7)
    a = is_cam_from_features(cam, hie, feat, mask, denominator='area')
    b = is_cam_from_features(cam, hie, feat, mask, denominator='count')
    assert torch.allclose(a['is_cam'], b['is_cam'], atol=1e-6)
    is_cam = a['is_cam']
    assert is_cam.min() >= 0 and is_cam.max() <= 1 + 1e-6
    no_seed = a['seeds'].sum((2, 3)) == 0
    assert no_seed.any()
    assert (is_cam[no_seed] == 0).all()
    # prototype = masked sum / (h*w)
    r, f = a['seeds'], hie
    ref = (r[:, :, None] * f[:, None]).sum((3, 4)) / (6 * 7)
    assert torch.allclose(a['prototypes'], ref, atol=1e-6)


def test_instance_cam_equals_cosine_similarity():
    g = torch.Generator().manual_seed(7)
    proto = torch.randn(2, 4, 10, generator=g)
    proto[0, 2] = 0
    feat = torch.randn(2, 10, 5, 6, generator=g)
    ref = F.relu(F.cosine_similarity(
        feat[:, None], proto[:, :, :, None, None], dim=2))
    out = instance_cam(proto, feat)
    assert torch.allclose(out, ref, atol=1e-6)
    assert (out[0, 2] == 0).all()


@pytest.mark.parametrize('hw', [(512, 512), (375, 500)])
def test_hierarchical_feature_channels_and_grid(hw):
    h, w = hw
    s4 = (math.ceil(h / 4), math.ceil(w / 4))
    s8 = (math.ceil(h / 8), math.ceil(w / 8))
    s16 = (math.ceil(h / 16), math.ceil(w / 16))
    sides = [torch.randn(1, 128, *s4), torch.randn(1, 128, *s8),
             torch.randn(1, 256, *s16), torch.randn(1, 256, *s16)]
    hie = hierarchical_feature(sides)
    assert hie.shape == (1, 768, *s16)
    norms = hie[:, 512:].norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-4)
    # the 128-channel parts are resized after normalising: norm <= 1
    assert (hie[:, :128].norm(dim=1) <= 1 + 1e-5).all()
    assert (hie[:, 128:256].norm(dim=1) <= 1 + 1e-5).all()


def test_stride4_to_16_samples_between_4j_plus_1_and_2():
    # one channel whose value is its column index: after 4x bilinear
    # downsampling (align_corners=False) output column j = mean of input
    # columns 4j+1 and 4j+2 (normalisation of a 1-channel map is sign only,
    # so use two channels with a constant second one)
    w = 16
    col = torch.arange(w, dtype=torch.float32).expand(4, w)
    side = torch.stack([col, torch.full_like(col, 1e3)])[None]  # [1,2,4,16]
    n = l2_normalize(side)
    out = hierarchical_feature([side, torch.zeros(1, 1, 1, 4),
                                torch.zeros(1, 1, 1, 4)], size=(1, 4))
    expected = torch.stack(
        [(n[0, 0, 1, 4 * j + 1] + n[0, 0, 1, 4 * j + 2]) / 2
         for j in range(4)])
    # rows 4i+1.5 too: all rows are equal here
    assert torch.allclose(out[0, 0, 0], expected, atol=1e-6)


def test_gsc_hand_computed_and_gradients():
    m = torch.tensor([[[[0.2, 0.8]], [[1.0, 0.0]]]], requires_grad=True)
    is_cam = torch.tensor([[[[0.5, 0.25]], [[0.0, 0.0]]]],
                          requires_grad=True)
    # IS' = [0.5, 0.25]/(0.5+1e-5), [0, 0]/(0+1e-5)
    s = 0.5 + 1e-5
    expected = (abs(0.2 - 0.5 / s) + abs(0.8 - 0.25 / s) + 1.0 + 0.0) / 4
    loss = gsc_loss(m, is_cam)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert m.grad.abs().sum() > 0 and is_cam.grad.abs().sum() > 0


def test_flip_fuse_and_multiscale():
    x = torch.arange(12.).view(2, 1, 2, 3)
    assert torch.equal(flip_fuse(x), x[0] + x[1].flip(-1))
    with pytest.raises(ValueError):
        flip_fuse(x[:1])
    a = torch.ones(2, 3, 4)
    b = torch.ones(2, 6, 8) * 2
    b[1] = 0
    out = fuse_multiscale([a, b], size=(5, 7))
    assert out.shape == (2, 5, 7)
    assert torch.allclose(out[0], torch.full((5, 7), 3 / (3 + 1e-5)))
    assert torch.allclose(out[1], torch.full((5, 7), 1 / (1 + 1e-5)))
    m = max_normalize(torch.tensor([[[0., 2.], [1., 4.]]]))
    assert torch.allclose(m, torch.tensor([[[0., 0.5], [0.25, 1.]]]) *
                          4 / (4 + 1e-5))


def test_bf16_inputs_use_fp32_math():
    cam, feat, mask = rand_case(8)
    out16 = is_cam_from_features(cam.bfloat16(), feat.bfloat16(),
                                 feat.bfloat16(), mask)
    for v in out16.values():
        assert v.dtype == torch.float32
