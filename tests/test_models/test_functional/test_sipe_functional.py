"""Tests for SIPE's pure functions (mmseg_sipe.models.functional.sipe).

The reference numbers are written out here from the method description
(docs/method.md §1.2, §2-§6, §8, §15; section numbers below refer to it),
not taken from the code.
"""
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


# ---------------------------------------------------------------------------
# direct transcriptions of the reference formulas (broadcast, [N,K+1,hw,hw])
# ---------------------------------------------------------------------------
def ref_get_seed(norm_cam, label, feature, bg_weight=0.5):
    """Reference ``Net.get_seed``: explicit [N, K+1, hw, hw] broadcast."""
    n, c, h, w = norm_cam.shape
    fs = feature.reshape(n, -1, h * w)
    fs = fs / (torch.norm(fs, dim=1, keepdim=True) + 1e-5)
    corr = F.relu(torch.matmul(fs.transpose(2, 1), fs)).unsqueeze(1)
    cam_flat = norm_cam.reshape(n, -1, h * w).unsqueeze(2)  # [n,c,1,hw]
    inter = (corr * cam_flat).sum(-1)
    union = corr.sum(-1) + cam_flat.sum(-1) - inter
    miou = (inter / union).view(n, c, h, w)
    miou[:, 0] = miou[:, 0] * bg_weight
    belonging = miou.argmax(1)
    seeds = torch.zeros(n, h, w, c).scatter_(-1, belonging.view(n, h, w, 1),
                                             1).permute(0, 3, 1, 2)
    return miou, seeds * label


def ref_background_cam(cam):
    norm_cam = F.relu(cam)
    norm_cam = norm_cam / (F.adaptive_max_pool2d(norm_cam, (1, 1)) + 1e-5)
    bg = 1 - torch.max(norm_cam, dim=1)[0].unsqueeze(1)
    return torch.cat([bg, norm_cam], dim=1)


def ref_prototypes(seeds, feature):
    """Reference ``get_prototype``: adaptive_avg_pool2d(seeds * feature)."""
    return F.adaptive_avg_pool2d(
        seeds.unsqueeze(2) * feature.unsqueeze(1), 1)  # [N,K+1,C,1,1]


def ref_reactivate(prototypes, feature):
    return F.relu(
        torch.cosine_similarity(
            feature.unsqueeze(1), prototypes, dim=2))  # [N,K+1,h,w]


def gen(seed):
    return torch.Generator().manual_seed(seed)


def random_case(seed=0, n=2, k=4, c=6, h=5, w=6, absent=(2, )):
    g = gen(seed)
    cam = torch.randn(n, k, h, w, generator=g) * 2
    feat = torch.randn(n, c, h, w, generator=g)
    labels = torch.ones(n, k)
    for a in absent:
        labels[:, a] = 0
    label_mask = torch.cat([torch.ones(n, 1), labels], 1)[:, :, None, None]
    norm_cam = ref_background_cam(cam) * label_mask
    return cam, feat, label_mask, norm_cam


def assert_seed_match(seeds, ref_scores, ref_seeds, tol=1e-5):
    """Seeds equal the reference's, except at pixels whose top-2 reference
    scores are within ``tol`` but not exactly tied (there summation order
    may legitimately flip the argmax)."""
    s = torch.nan_to_num(ref_scores, nan=float('inf'))
    top2 = s.topk(2, dim=1).values
    gap = top2[:, 0] - top2[:, 1]
    ambiguous = (gap > 0) & (gap < tol)
    keep = ~ambiguous[:, None].expand_as(seeds)
    assert torch.equal(seeds[keep], ref_seeds[keep])
    assert ambiguous.float().mean() < 0.1


# ---------------------------------------------------------------------------
# l2_normalize / hierarchical_feature (§1.2)
# ---------------------------------------------------------------------------
def test_l2_normalize_formula_and_zero_vector():
    x = torch.tensor([[3.0, 0.0], [4.0, 0.0]])[None, :, :, None]  # [1,2,2,1]
    y = l2_normalize(x)
    assert torch.allclose(y[0, :, 0, 0], torch.tensor([0.6, 0.8]) * 5 /
                          (5 + 1e-5))
    assert torch.equal(y[0, :, 1, 0], torch.zeros(2))
    y = l2_normalize(torch.tensor([[3.0, 4.0]]), dim=1, eps=1.0)
    assert torch.allclose(y, torch.tensor([[0.5, 4 / 6]]))


@pytest.mark.parametrize('hw', [(512, 512), (375, 500)])
def test_hierarchical_feature_shapes_and_norms(hw):
    H, W = hw
    g = gen(1)
    grids = [(math.ceil(H / s), math.ceil(W / s)) for s in (4, 8, 16, 16)]
    chans = (128, 128, 256, 256)
    sides = [
        torch.randn(1, c, *grid, generator=g) for c, grid in zip(chans, grids)
    ]
    hie = hierarchical_feature(sides)
    h16, w16 = math.ceil(H / 16), math.ceil(W / 16)
    assert hie.shape == (1, 768, h16, w16)
    assert hie.dtype == torch.float32
    if hw == (512, 512):
        assert (h16, w16) == (32, 32)
    else:
        assert (h16, w16) == (24, 32)
    norms = [
        hie[:, :128].norm(dim=1), hie[:, 128:256].norm(dim=1),
        hie[:, 256:512].norm(dim=1), hie[:, 512:].norm(dim=1)
    ]
    # 256-channel stride-16 parts: no resize -> norm |x|/(|x|+1e-5) ~ 1
    for n in norms[2:]:
        assert torch.allclose(n, torch.ones_like(n), atol=1e-5)
    # resized 128-channel parts: convex combinations -> norm <= 1
    for n in norms[:2]:
        assert (n <= 1 + 1e-6).all()
        assert (n < 0.999).any()


def test_hierarchical_feature_stride4_resize_samples_4j_plus_1_and_2():
    h4 = 32  # stride 4 of a 128 px input -> stride-16 grid 8
    yy, xx = torch.meshgrid(
        torch.arange(h4, dtype=torch.float32),
        torch.arange(h4, dtype=torch.float32),
        indexing='ij')
    theta = 0.05 * yy + 0.11 * xx
    r = 1.0 + 0.1 * xx  # non-unit norm: normalisation happens first
    side1 = torch.stack([r * torch.cos(theta), r * torch.sin(theta)])[None]
    side3 = torch.randn(1, 3, 8, 8, generator=gen(2))
    hie = hierarchical_feature([side1, side3], size=(8, 8))
    assert hie.shape == (1, 5, 8, 8)
    unit = torch.stack([torch.cos(theta), torch.sin(theta)])
    n1 = unit * (r / (r + 1e-5))  # l2-normalised before the resize
    expected = torch.zeros(2, 8, 8)
    for i in range(8):
        for j in range(8):
            rows, cols = (4 * i + 1, 4 * i + 2), (4 * j + 1, 4 * j + 2)
            expected[:, i, j] = 0.25 * sum(n1[:, a, b] for a in rows
                                           for b in cols)
    assert torch.allclose(hie[0, :2], expected, atol=1e-6)
    # the stride-16 map is only normalised, not resized
    assert torch.allclose(hie[:, 2:], l2_normalize(side3), atol=0)


def test_hierarchical_feature_errors():
    with pytest.raises(ValueError, match='at least one'):
        hierarchical_feature([])
    with pytest.raises(ValueError, match='side_feats\\[2\\]'):
        hierarchical_feature([torch.zeros(1, 2, 4, 4)])
    with pytest.raises(ValueError, match='batch'):
        hierarchical_feature(
            [torch.zeros(1, 2, 4, 4), torch.zeros(2, 2, 4, 4)], size=(4, 4))


# ---------------------------------------------------------------------------
# background_cam (§2)
# ---------------------------------------------------------------------------
def test_background_cam_identities():
    cam = torch.randn(2, 5, 4, 6, generator=gen(3)) * 3
    cam[1, 2] = -1.0  # an all-negative class: M_f = 0
    m = background_cam(cam)
    assert m.shape == (2, 6, 4, 6)
    assert torch.equal(m[:, 0], 1 - m[:, 1:].max(dim=1)[0])
    a = F.relu(cam).amax(dim=(2, 3))
    assert torch.allclose(m[:, 1:].amax(dim=(2, 3)), a / (a + 1e-5))
    assert torch.equal(m[1, 3], torch.zeros(4, 6))
    assert (m >= 0).all() and (m <= 1).all()
    assert torch.allclose(m, ref_background_cam(cam), atol=1e-7)


def test_background_cam_uses_absent_classes():
    cam = torch.zeros(1, 2, 1, 2)
    cam[0, 1, 0, 0] = 4.0  # strong activation of a (later masked) class
    m = background_cam(cam)
    assert m[0, 0, 0, 0].item() == pytest.approx(1 - 4 / (4 + 1e-5), abs=1e-7)
    assert m[0, 0, 0, 0] < 1e-5
    assert m[0, 0, 0, 1] == 1.0


# ---------------------------------------------------------------------------
# structure_similarity / structure_seeds (§3)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('chunk_size', [None, 7])
def test_structure_similarity_matches_broadcast_formula(seed, chunk_size):
    _, feat, label_mask, norm_cam = random_case(seed)
    ref_c, ref_seeds = ref_get_seed(norm_cam, label_mask, feat)
    c = structure_similarity(norm_cam, feat, chunk_size=chunk_size)
    assert c.shape == ref_c.shape
    assert torch.allclose(c, ref_c, atol=1e-5, rtol=0)
    seeds = structure_seeds(norm_cam, feat, label_mask, chunk_size=chunk_size)
    assert_seed_match(seeds, ref_c, ref_seeds)


def test_structure_similarity_non_negative_feature_and_bg_weight():
    _, feat, label_mask, norm_cam = random_case(4, c=32)
    feat = feat.relu()  # like x4 after ReLU: S has no negative entries
    ref_c, _ = ref_get_seed(norm_cam, label_mask, feat, bg_weight=1.0)
    assert torch.isfinite(ref_c).all()
    c1 = structure_similarity(norm_cam, feat, bg_weight=1.0)
    c05 = structure_similarity(norm_cam, feat)
    assert torch.allclose(c1, ref_c, atol=1e-5, rtol=0)
    assert torch.allclose(c05[:, 0], 0.5 * c1[:, 0], atol=1e-7)
    assert torch.equal(c05[:, 1:], c1[:, 1:])


def test_structure_seeds_ties_go_to_lowest_index():
    _, feat, label_mask, norm_cam = random_case(5, k=4, absent=())
    norm_cam[:, 3] = norm_cam[:, 1]  # duplicate class maps -> exact ties
    ref_c, ref_seeds = ref_get_seed(norm_cam, label_mask, feat)
    c = structure_similarity(norm_cam, feat)
    assert torch.equal(c[:, 3], c[:, 1])
    seeds = structure_seeds(norm_cam, feat, label_mask)
    assert seeds[:, 3].sum() == 0  # never wins over its twin, channel 1
    assert_seed_match(seeds, ref_c, ref_seeds)


def test_structure_zero_feature_has_no_nan_and_reference_seeds():
    _, feat, label_mask, norm_cam = random_case(6, k=4, absent=(2, ))
    feat[0, :, 1, 2] = 0  # all-zero feature vector
    feat[1, :, 0, 0] = 0
    ref_c, ref_seeds = ref_get_seed(norm_cam, label_mask, feat)
    assert torch.isnan(ref_c).any()  # the reference's 0/0
    c = structure_similarity(norm_cam, feat)
    assert torch.isfinite(c).all()
    nan = torch.isnan(ref_c)
    assert torch.equal(c[nan], torch.zeros(int(nan.sum())))
    assert torch.allclose(c[~nan], ref_c[~nan], atol=1e-5, rtol=0)
    seeds = structure_seeds(norm_cam, feat, label_mask)
    assert_seed_match(seeds, ref_c, ref_seeds)
    # the zero pixel: reference argmax lands on the NaN (absent) class,
    # which the mask removes -> no seed
    assert seeds[0, :, 1, 2].sum() == 0
    out = is_cam_from_features(
        torch.randn(2, 4, 5, 6, generator=gen(7)), feat, feat, label_mask)
    for v in out.values():
        assert torch.isfinite(v).all()


def test_structure_all_zero_scores_give_background():
    # zero feature everywhere, every class map non-empty: all C = 0 (no NaN),
    # argmax ties -> channel 0 (background)
    norm_cam = torch.rand(1, 3, 2, 2, generator=gen(8)) + 0.1
    feat = torch.zeros(1, 4, 2, 2)
    c = structure_similarity(norm_cam, feat)
    assert torch.equal(c, torch.zeros_like(c))
    seeds = structure_seeds(norm_cam, feat, torch.ones(1, 3, 1, 1))
    assert torch.equal(seeds[:, 0], torch.ones(1, 2, 2))


def test_structure_seeds_binary_and_masked():
    _, feat, label_mask, norm_cam = random_case(9, absent=(1, 3))
    valid = torch.ones(2, 1, 5, 6)
    valid[:, :, :, 4:] = 0  # padded columns
    full_mask = label_mask * valid
    seeds = structure_seeds(norm_cam * full_mask, feat, full_mask)
    assert seeds.dtype == torch.float32
    assert set(seeds.unique().tolist()) <= {0.0, 1.0}
    assert (seeds.sum(dim=1) <= 1).all()
    assert seeds[:, 2].sum() == 0 and seeds[:, 4].sum() == 0  # absent
    assert seeds[..., 4:].sum() == 0  # padding
    assert (seeds[..., :4].sum(dim=1) == 1).all()  # every valid pixel


def test_structure_seeds_no_grad_and_errors():
    _, feat, label_mask, norm_cam = random_case(10)
    norm_cam.requires_grad_(True)
    seeds = structure_seeds(norm_cam, feat, label_mask)
    assert not seeds.requires_grad
    with pytest.raises(ValueError, match='label_mask'):
        structure_seeds(norm_cam, feat, torch.ones(2, 3, 1, 1))
    with pytest.raises(ValueError, match='grid'):
        structure_similarity(norm_cam, feat[..., :3])
    with pytest.raises(ValueError, match='chunk_size'):
        structure_similarity(norm_cam, feat, chunk_size=0)


# ---------------------------------------------------------------------------
# seed_prototypes / instance_cam (§4, §5)
# ---------------------------------------------------------------------------
def test_seed_prototypes_area_and_count():
    _, feat, label_mask, norm_cam = random_case(11)
    seeds = structure_seeds(norm_cam, feat, label_mask)
    hie = torch.randn(2, 7, 5, 6, generator=gen(12))
    p = seed_prototypes(seeds, hie)
    assert p.shape == (2, 5, 7)
    assert torch.allclose(p, ref_prototypes(seeds, hie)[..., 0, 0], atol=1e-6)
    pc = seed_prototypes(seeds, hie, denominator='count')
    count = seeds.sum(dim=(2, 3))
    for n in range(2):
        for k in range(5):
            if count[n, k] > 0:
                sel = seeds[n, k].bool()
                assert torch.allclose(pc[n, k], hie[n][:, sel].mean(1),
                                      atol=1e-6)
            else:
                assert torch.equal(pc[n, k], torch.zeros(7))
    with pytest.raises(ValueError, match='denominator'):
        seed_prototypes(seeds, hie, denominator='mean')


def test_instance_cam_matches_cosine_similarity():
    g = gen(13)
    feat = torch.randn(2, 8, 4, 5, generator=g)
    feat[0, :, 0, 0] = 0  # zero feature pixel
    protos = torch.randn(2, 3, 8, generator=g)
    protos[1, 2] = 0  # zero prototype
    protos[0, 1] *= 1e-3  # small ('area'-scaled) prototype
    is_cam = instance_cam(protos, feat)
    ref = ref_reactivate(protos[..., None, None], feat)
    assert is_cam.shape == (2, 3, 4, 5)
    assert torch.allclose(is_cam, ref, atol=1e-6, rtol=0)
    assert torch.equal(is_cam[1, 2], torch.zeros(4, 5))
    assert torch.equal(is_cam[0, :, 0, 0], torch.zeros(3))
    # the reference [N, K+1, C, 1, 1] prototype layout is accepted too
    assert torch.equal(instance_cam(protos[..., None, None], feat), is_cam)
    with pytest.raises(ValueError, match='prototypes'):
        instance_cam(protos[:, :, :5], feat)


def test_is_cam_range_absent_classes_and_scale_invariance():
    g = gen(14)
    cam = torch.randn(2, 4, 6, 6, generator=g) * 2
    x4 = torch.randn(2, 16, 6, 6, generator=g).relu()
    hie = torch.randn(2, 12, 6, 6, generator=g)
    label_mask = torch.tensor([[1., 1., 0., 1., 0.], [1., 0., 1., 0.,
                                                      0.]])[:, :, None, None]
    out = is_cam_from_features(cam, hie, x4, label_mask)
    is_cam, seeds = out['is_cam'], out['seeds']
    assert out['norm_cam'].shape == is_cam.shape == seeds.shape == (2, 5, 6,
                                                                    6)
    assert out['prototypes'].shape == (2, 5, 12)
    assert (is_cam >= 0).all() and (is_cam <= 1 + 1e-6).all()
    no_seed = seeds.sum(dim=(2, 3)) == 0
    assert no_seed[label_mask[:, :, 0, 0] == 0].all()
    assert torch.equal(is_cam[no_seed], torch.zeros_like(is_cam[no_seed]))
    # norm_cam masked before the seeds; IS-CAM itself not masked
    assert torch.equal(out['norm_cam'],
                       background_cam(cam) * label_mask)
    ref_c, ref_seeds = ref_get_seed(out['norm_cam'], label_mask, x4)
    assert_seed_match(seeds, ref_c, ref_seeds)
    assert torch.allclose(
        is_cam,
        ref_reactivate(ref_prototypes(seeds, hie), hie),
        atol=1e-6,
        rtol=0)
    count = is_cam_from_features(
        cam, hie, x4, label_mask, denominator='count')['is_cam']
    assert torch.allclose(count, is_cam, atol=1e-6, rtol=0)


def test_is_cam_gradient_reaches_hie_only():
    g = gen(15)
    cam = torch.randn(1, 3, 4, 4, generator=g, requires_grad=True)
    hie = torch.randn(1, 6, 4, 4, generator=g, requires_grad=True)
    out = is_cam_from_features(cam, hie, hie, torch.ones(1, 4, 1, 1))
    out['is_cam'].sum().backward()
    assert hie.grad is not None and hie.grad.abs().sum() > 0
    assert cam.grad is None


# ---------------------------------------------------------------------------
# max_normalize / gsc_loss (§6)
# ---------------------------------------------------------------------------
def test_max_normalize():
    x = torch.tensor([[[1.0, 4.0], [2.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    y = max_normalize(x)
    assert torch.allclose(y[0], x[0] / (4 + 1e-5))
    assert torch.equal(y[1], torch.zeros(2, 2))
    assert torch.equal(max_normalize(x[None])[0], y)
    with pytest.raises(ValueError):
        max_normalize(torch.zeros(4))


def test_gsc_loss_hand_value_and_gradients():
    m = torch.tensor([[[[0.2, 0.8]], [[0.0, 0.0]]]], requires_grad=True)
    is_cam = torch.tensor([[[[0.5, 1.0]], [[0.3, 0.6]]]], requires_grad=True)
    loss = gsc_loss(m, is_cam)
    d = 1 + 1e-5
    expected = (abs(0.2 - 0.5 / (1 + 1e-5)) + abs(0.8 - 1.0 / d) +
                abs(0.0 - 0.3 / (0.6 + 1e-5)) + abs(0.0 - 0.6 /
                                                    (0.6 + 1e-5))) / 4
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(expected, abs=1e-7)
    loss.backward()
    assert m.grad is not None and m.grad.abs().sum() > 0
    assert is_cam.grad is not None and is_cam.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='shape'):
        gsc_loss(m, is_cam[:, :1])


# ---------------------------------------------------------------------------
# flip_fuse / fuse_multiscale (§8)
# ---------------------------------------------------------------------------
def test_flip_fuse():
    x = torch.arange(12, dtype=torch.float32).view(2, 1, 2, 3)
    y = flip_fuse(x)
    assert torch.equal(y, torch.tensor([[[0. + 8, 1 + 7, 2 + 6],
                                         [3. + 11, 4 + 10, 5 + 9]]]))
    with pytest.raises(ValueError, match='2'):
        flip_fuse(torch.zeros(3, 1, 2, 2))


def test_fuse_multiscale_hand_example():
    a = torch.full((1, 1, 1), 2.0)  # constant -> 2 everywhere
    b = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])  # already at (2, 2)
    y = fuse_multiscale([a, b], size=(2, 2))
    assert torch.allclose(y, torch.tensor([[[2., 3.], [4., 5.]]]) / (5 + 1e-5))
    # align_corners=False: width 2 -> 4 samples at -0.25 (clamped), 0.25,
    # 0.75, 1.25 (clamped)
    c = torch.tensor([[[0.0, 4.0]], [[1.0, 1.0]]])
    y = fuse_multiscale([c], size=(1, 4))
    assert torch.allclose(y[0, 0], torch.tensor([0., 1., 3., 4.]) /
                          (4 + 1e-5))
    assert torch.allclose(y[1, 0], torch.full((4, ), 1 / (1 + 1e-5)))


def test_fuse_multiscale_size_and_channel_max():
    g = gen(16)
    maps = [
        torch.rand(3, 24, 32, generator=g),
        torch.rand(3, 12, 16, generator=g),
        torch.rand(3, 36, 47, generator=g)
    ]
    maps[0][2] = 0
    maps[1][2] = 0
    maps[2][2] = 0
    y = fuse_multiscale(maps, size=(375, 500))
    assert y.shape == (3, 375, 500) and y.dtype == torch.float32
    mx = sum(
        F.interpolate(m[None], (375, 500), mode='bilinear')[0]
        for m in maps).amax(dim=(1, 2))
    assert torch.allclose(y.amax(dim=(1, 2))[:2], (mx / (mx + 1e-5))[:2])
    assert torch.equal(y[2], torch.zeros(375, 500))
    with pytest.raises(ValueError):
        fuse_multiscale([], size=(2, 2))


# ---------------------------------------------------------------------------
# precision
# ---------------------------------------------------------------------------
def test_bf16_inputs_and_autocast_compute_in_float32():
    g = gen(17)
    cam = torch.randn(1, 3, 4, 4, generator=g)
    hie = torch.randn(1, 6, 4, 4, generator=g)
    lm = torch.ones(1, 4, 1, 1)
    ref = is_cam_from_features(cam.bfloat16().float(),
                               hie.bfloat16().float(),
                               hie.bfloat16().float(), lm)
    out = is_cam_from_features(cam.bfloat16(), hie.bfloat16(),
                               hie.bfloat16(), lm)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out_ac = is_cam_from_features(cam, hie, hie, lm)
        loss = gsc_loss(out_ac['norm_cam'], out_ac['is_cam'])
    for k in ('norm_cam', 'seeds', 'prototypes', 'is_cam'):
        assert out[k].dtype == torch.float32
        assert out_ac[k].dtype == torch.float32
        assert torch.allclose(out[k], ref[k], atol=1e-6)
    assert loss.dtype == torch.float32
    assert torch.allclose(
        out_ac['is_cam'],
        is_cam_from_features(cam, hie, hie, lm)['is_cam'],
        atol=1e-6)
    assert hierarchical_feature([hie.bfloat16()] * 3).dtype == torch.float32
