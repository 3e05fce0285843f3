"""Tests of skdamerge.losses against hand computations with plain Python loops."""

import math

import numpy as np
import pytest
import torch

from skdamerge.losses import (
    GradientReversal,
    domain_accuracy,
    domain_adversarial_loss,
    entropy_loss,
    fisher_loss,
    gradient_reversal,
    grl_coefficient,
    mmd_loss,
    total_loss,
)

SOURCE = [[0.0, 1.0], [1.5, -0.5], [2.0, 2.0]]
TARGET = [[0.5, 0.5], [-1.0, 2.0], [3.0, 0.0], [1.0, 1.0]]


# ---------------------------------------------------------------------------
# Hand computations
# ---------------------------------------------------------------------------


def _sq_dist(a, b):
    return sum((ai - bi) ** 2 for ai, bi in zip(a, b, strict=True))


def _hand_median_sigma2(points):
    dists = []
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            dists.append(_sq_dist(points[i], points[j]))
    dists.sort()
    k = len(dists)
    median = (dists[(k - 1) // 2] + dists[k // 2]) / 2
    return median / 2


def _hand_kernel(a, b, sigma2s):
    d = _sq_dist(a, b)
    return sum(math.exp(-d / (2 * s2)) for s2 in sigma2s)


def _hand_mmd(xs, xt, sigma2_base, n_kernels, kernel_mul, unbiased):
    sigma2s = [
        sigma2_base * kernel_mul ** (k - n_kernels // 2) for k in range(n_kernels)
    ]
    n, m = len(xs), len(xt)
    ss = tt = st = 0.0
    count_ss = count_tt = 0
    for i in range(n):
        for j in range(n):
            if unbiased and i == j:
                continue
            ss += _hand_kernel(xs[i], xs[j], sigma2s)
            count_ss += 1
    for i in range(m):
        for j in range(m):
            if unbiased and i == j:
                continue
            tt += _hand_kernel(xt[i], xt[j], sigma2s)
            count_tt += 1
    for i in range(n):
        for j in range(m):
            st += _hand_kernel(xs[i], xt[j], sigma2s)
    return ss / count_ss + tt / count_tt - 2 * st / (n * m)


def _t(values, requires_grad=False):
    return torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad)


# ---------------------------------------------------------------------------
# MMD
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize(
    ("n_kernels", "kernel_mul", "bandwidth"),
    [(1, 2.0, 1.0), (5, 2.0, 1.7), (4, 3.0, 0.5), (3, 1.5, None), (5, 2.0, None)],
)
def test_mmd_matches_hand_computation(unbiased, n_kernels, kernel_mul, bandwidth):
    expected_sigma2 = (
        _hand_median_sigma2(SOURCE + TARGET) if bandwidth is None else bandwidth
    )
    expected = _hand_mmd(
        SOURCE, TARGET, expected_sigma2, n_kernels, kernel_mul, unbiased
    )
    value = mmd_loss(
        _t(SOURCE),
        _t(TARGET),
        n_kernels=n_kernels,
        kernel_mul=kernel_mul,
        bandwidth=bandwidth,
        unbiased=unbiased,
    )
    assert value.dtype == torch.float64
    assert value.shape == ()
    assert value.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_mmd_median_rule_even_number_of_pairs():
    # 4 pooled points -> 6 distances (even), median averages the middle two:
    # distances 1, 4, 9, 1, 4, 1 -> sorted 1, 1, 1, 4, 4, 9 -> median 2.5.
    xs = [[0.0], [1.0]]
    xt = [[2.0], [3.0]]
    sigma2 = _hand_median_sigma2(xs + xt)
    assert sigma2 == pytest.approx(1.25)
    expected = _hand_mmd(xs, xt, 1.25, 3, 2.0, True)
    value = mmd_loss(_t(xs), _t(xt), n_kernels=3)
    assert value.item() == pytest.approx(expected, rel=1e-10)
    # The same number with the bandwidth given explicitly.
    assert mmd_loss(_t(xs), _t(xt), n_kernels=3, bandwidth=1.25).item() == (
        pytest.approx(expected, rel=1e-12)
    )


def test_mmd_is_symmetric_and_flattens_extra_dimensions():
    rng = np.random.default_rng(0)
    xs = torch.from_numpy(rng.normal(size=(6, 2, 3, 2)))
    xt = torch.from_numpy(rng.normal(size=(7, 2, 3, 2)) + 0.5)
    flat = mmd_loss(xs.reshape(6, -1), xt.reshape(7, -1))
    assert mmd_loss(xs, xt).item() == pytest.approx(flat.item(), rel=1e-12)
    assert mmd_loss(xt, xs).item() == pytest.approx(flat.item(), rel=1e-12)


def test_mmd_translation_invariant_with_large_offset():
    # Pairwise distances are computed in a numerically safe way: a common offset
    # much larger than the spread does not change the value.
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(20, 4))
    xt = rng.normal(size=(25, 4)) + 0.3
    base = mmd_loss(torch.tensor(xs), torch.tensor(xt)).item()
    shifted = mmd_loss(torch.tensor(xs + 1e4), torch.tensor(xt + 1e4)).item()
    assert shifted == pytest.approx(base, rel=1e-6, abs=1e-9)


def test_mmd_near_zero_for_same_distribution():
    gen = torch.Generator().manual_seed(0)
    xs = torch.randn(1000, 5, generator=gen)
    xt = torch.randn(1000, 5, generator=gen)
    value = mmd_loss(xs, xt)
    assert abs(value.item()) < 0.01


@pytest.mark.parametrize("bandwidth", [None, 5.0])
def test_mmd_grows_with_mean_shift(bandwidth):
    gen = torch.Generator().manual_seed(1)
    xs = torch.randn(200, 5, generator=gen)
    noise = torch.randn(200, 5, generator=gen)
    shifts = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    values = [
        mmd_loss(xs, noise + shift, bandwidth=bandwidth).item() for shift in shifts
    ]
    assert all(b > a for a, b in zip(values, values[1:], strict=False)), values
    assert values[0] < 0.05
    assert values[3] > 10 * abs(values[0])
    assert values[3] > 0.3


def test_mmd_biased_is_nonnegative():
    gen = torch.Generator().manual_seed(2)
    for _ in range(20):
        n, m = torch.randint(2, 12, (2,), generator=gen).tolist()
        xs = torch.randn(n, 3, generator=gen)
        xt = torch.randn(m, 3, generator=gen)
        assert mmd_loss(xs, xt, unbiased=False).item() >= -1e-6
    # Identical samples: the biased estimate is zero.
    x = torch.randn(5, 3, generator=gen)
    assert mmd_loss(x, x.clone(), unbiased=False).item() == pytest.approx(0, abs=1e-6)


def test_mmd_unbiased_can_be_negative_and_biased_is_larger():
    xs = _t(SOURCE)
    xt = _t(TARGET)
    biased = mmd_loss(xs, xt, unbiased=False).item()
    unbiased = mmd_loss(xs, xt, unbiased=True).item()
    assert biased > unbiased
    # Two samples drawn from one distribution give a negative U-statistic often.
    gen = torch.Generator().manual_seed(3)
    values = [
        mmd_loss(torch.randn(10, 2, generator=gen), torch.randn(10, 2, generator=gen))
        for _ in range(20)
    ]
    assert any(v.item() < 0 for v in values)


def test_mmd_gradcheck_fixed_bandwidth():
    xs = _t(SOURCE, requires_grad=True)
    xt = _t(TARGET, requires_grad=True)
    for unbiased in (True, False):
        assert torch.autograd.gradcheck(
            lambda a, b, u=unbiased: mmd_loss(a, b, bandwidth=1.3, unbiased=u),
            (xs, xt),
        )


def test_mmd_median_bandwidth_is_detached():
    # With the median rule the bandwidth is a constant for autograd: the gradient
    # equals the one with that bandwidth given explicitly.
    sigma2 = _hand_median_sigma2(SOURCE + TARGET)
    grads = []
    for bandwidth in (None, sigma2):
        xs = _t(SOURCE, requires_grad=True)
        xt = _t(TARGET, requires_grad=True)
        mmd_loss(xs, xt, bandwidth=bandwidth).backward()
        grads.append((xs.grad, xt.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("fill", ["zeros", "identical", "one_point_each", "large"])
def test_mmd_collapsed_features_have_finite_gradients(unbiased, fill):
    if fill == "zeros":
        xs, xt = torch.zeros(4, 3), torch.zeros(5, 3)
    elif fill == "identical":
        xs, xt = torch.full((4, 3), 0.7), torch.full((5, 3), 0.7)
    elif fill == "one_point_each":
        # Collapsed onto one point per domain: the median distance is zero within
        # source and target but not across them.
        xs, xt = torch.full((6, 3), 0.1), torch.full((3, 3), -2.0)
    else:
        xs, xt = torch.full((4, 3), 1e3), torch.full((5, 3), 1e3)
    xs.requires_grad_(True)
    xt.requires_grad_(True)
    value = mmd_loss(xs, xt, unbiased=unbiased)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(xs.grad).all()
    assert torch.isfinite(xt.grad).all()
    if fill == "one_point_each":
        assert value.item() > 0.1
    else:
        assert value.item() == pytest.approx(0.0, abs=1e-5)


def test_mmd_collapsed_fallback_uses_mean_of_nonzero_distances():
    # 3 points at 0 and 1 point at 2 (1-d): distances 0, 0, 0, 4, 4, 4 -> median 2,
    # not the fallback. With 4 points at 0 and 1 at 3: distances six 0s, four 9s
    # -> median 0 -> fallback mean of nonzero = 9 -> sigma2 = 4.5.
    xs = [[0.0], [0.0], [0.0]]
    xt = [[0.0], [3.0]]
    expected = _hand_mmd(xs, xt, 4.5, 5, 2.0, True)
    value = mmd_loss(_t(xs), _t(xt))
    assert value.item() == pytest.approx(expected, rel=1e-10)


def test_mmd_input_validation():
    with pytest.raises(ValueError, match="same number of features"):
        mmd_loss(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="at least 2"):
        mmd_loss(torch.zeros(1, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd_loss(torch.zeros(3, 2), torch.zeros(3, 2), bandwidth=0.0)
    with pytest.raises(ValueError, match="n_kernels"):
        mmd_loss(torch.zeros(3, 2), torch.zeros(3, 2), n_kernels=0)
    # The biased estimator is defined for single points.
    value = mmd_loss(
        _t([[0.0]]), _t([[1.0]]), bandwidth=1.0, n_kernels=1, unbiased=False
    )
    assert value.item() == pytest.approx(2 - 2 * math.exp(-0.5))


# ---------------------------------------------------------------------------
# Gradient reversal
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("coeff", [0.5, 1.0, 2.0])
def test_gradient_reversal_function(coeff):
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(5, 3, generator=gen, requires_grad=True)
    upstream = torch.randn(5, 3, generator=gen)
    y = gradient_reversal(x, coeff)
    assert torch.equal(y, x)
    y.backward(upstream)
    assert torch.equal(x.grad, -coeff * upstream)


def test_gradient_reversal_default_and_through_a_layer():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (gradient_reversal(x) * torch.tensor([2.0, 3.0, 4.0])).sum().backward()
    assert torch.equal(x.grad, torch.tensor([-2.0, -3.0, -4.0]))


@pytest.mark.parametrize("coeff", [0.5, 1.0, 2.0])
def test_gradient_reversal_module_coefficient_can_change(coeff):
    layer = GradientReversal()
    assert layer.coeff == 1.0
    layer.coeff = coeff
    assert f"coeff={coeff}" in repr(layer)
    x = torch.tensor([[0.5, -1.5]], requires_grad=True)
    out = layer(x)
    assert torch.equal(out, x)
    out.backward(torch.tensor([[3.0, 1.0]]))
    assert torch.equal(x.grad, torch.tensor([[-3.0 * coeff, -1.0 * coeff]]))
    assert list(layer.parameters()) == []


def test_grl_coefficient_values():
    assert grl_coefficient(0.0) == 0.0
    assert grl_coefficient(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert grl_coefficient(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert grl_coefficient(0.2, max_coeff=3.0, alpha=2.0) == pytest.approx(
        3 * (2 / (1 + math.exp(-0.4)) - 1)
    )
    # Progress is clipped to [0, 1].
    assert grl_coefficient(-1.0) == 0.0
    assert grl_coefficient(5.0) == grl_coefficient(1.0)
    values = [grl_coefficient(p / 10) for p in range(11)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert isinstance(grl_coefficient(0.3), float)


def test_grl_coefficient_constant_and_bad_schedule():
    assert grl_coefficient(0.0, "constant") == 1.0
    assert grl_coefficient(0.7, "constant", max_coeff=0.3) == 0.3
    with pytest.raises(ValueError, match=r"schedule.*'ganin'.*'constant'"):
        grl_coefficient(0.5, "linear")


# ---------------------------------------------------------------------------
# Domain-adversarial loss
# ---------------------------------------------------------------------------


def test_domain_adversarial_loss_matches_hand_bce():
    zs = [2.0, -1.0, 0.0, 0.5]
    zt = [-3.0, 1.5, 0.25]
    source_term = sum(math.log(1 + math.exp(-z)) for z in zs) / len(zs)
    target_term = sum(math.log(1 + math.exp(z)) for z in zt) / len(zt)
    expected = source_term + target_term
    for shape in ((-1,), (-1, 1)):
        value = domain_adversarial_loss(_t(zs).reshape(shape), _t(zt).reshape(shape))
        assert value.item() == pytest.approx(expected, rel=1e-12)


def test_domain_adversarial_loss_stable_and_differentiable():
    zs = _t([1e4, -1e4], requires_grad=True)
    zt = _t([-1e4, 30.0], requires_grad=True)
    value = domain_adversarial_loss(zs, zt)
    value.backward()
    # log(1 + e^{1e4}) = 1e4 for the misclassified source sample, ~30 for target.
    assert value.item() == pytest.approx(1e4 / 2 + 30.0 / 2, rel=1e-9)
    assert torch.isfinite(zs.grad).all() and torch.isfinite(zt.grad).all()
    # d/dz of mean log(1 + e^{-z}) = -sigmoid(-z) / n.
    assert zs.grad[1].item() == pytest.approx(-0.5)
    assert zt.grad[1].item() == pytest.approx(0.5)


def test_domain_adversarial_loss_rejects_multi_unit_logits():
    with pytest.raises(ValueError, match="one unit"):
        domain_adversarial_loss(torch.zeros(4, 2), torch.zeros(4, 2))


def test_domain_accuracy_counts():
    zs = torch.tensor([[2.0], [-1.0], [0.0], [0.5]])
    zt = torch.tensor([-3.0, 1.5, 0.0])
    acc_source, acc_target = domain_accuracy(zs, zt)
    assert isinstance(acc_source, float) and isinstance(acc_target, float)
    # Source: 2.0 and 0.5 are > 0 (0.0 is not) -> 2/4. Target: -3.0 and 0.0 -> 2/3.
    assert acc_source == pytest.approx(0.5)
    assert acc_target == pytest.approx(2 / 3)
    assert domain_accuracy(torch.ones(3, requires_grad=True), -torch.ones(2)) == (
        1.0,
        1.0,
    )


# ---------------------------------------------------------------------------
# Fisher loss
# ---------------------------------------------------------------------------

FEATURES = [[0.0, 1.0], [2.0, 1.0], [1.0, 4.0], [5.0, 5.0], [4.0, 3.0], [-1.0, 0.0]]
LABELS = [0, 0, 1, 1, 1, 2]


def _hand_fisher_traces(features, labels):
    classes = sorted(set(labels))
    centres = {}
    for c in classes:
        members = [f for f, y in zip(features, labels, strict=True) if y == c]
        centres[c] = [sum(col) / len(members) for col in zip(*members, strict=True)]
    dim = len(features[0])
    global_centre = [
        sum(centres[c][k] for c in classes) / len(classes) for k in range(dim)
    ]
    # Paper eq. 10: the within-class scatter is summed over samples.
    tr_w = sum(_sq_dist(f, centres[y]) for f, y in zip(features, labels, strict=True))
    tr_b = sum(_sq_dist(centres[c], global_centre) for c in classes)
    return tr_w, tr_b


@pytest.mark.parametrize(
    ("intra_weight", "inter_weight"), [(1.0, 1.0), (0.5, 2.0), (3.0, 0.1)]
)
def test_fisher_matches_hand_computation(intra_weight, inter_weight):
    tr_w, tr_b = _hand_fisher_traces(FEATURES, LABELS)
    features = _t(FEATURES)
    labels = torch.tensor(LABELS)
    ratio = fisher_loss(
        features, labels, intra_weight=intra_weight, inter_weight=inter_weight
    )
    assert ratio.item() == pytest.approx(
        intra_weight * tr_w / (inter_weight * tr_b + 1e-6), rel=1e-12
    )
    difference = fisher_loss(
        features,
        labels,
        intra_weight=intra_weight,
        inter_weight=inter_weight,
        kind="difference",
    )
    assert difference.item() == pytest.approx(
        intra_weight * tr_w - inter_weight * tr_b, rel=1e-12
    )


def test_fisher_hand_values_two_classes():
    # Class 0: (0,0), (2,0) -> centre (1,0); class 1: (0,4) -> centre (0,4).
    # tr_w = 1 + 1 + 0 (summed, eq. 10); global centre (0.5, 2);
    # tr_b = 2 * (0.25 + 4).
    features = _t([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    labels = torch.tensor([0, 0, 1])
    value = fisher_loss(features, labels, eps=0.0)
    assert value.item() == pytest.approx(2 / 8.5, rel=1e-12)
    value = fisher_loss(features, labels, kind="difference")
    assert value.item() == pytest.approx(2 - 8.5, rel=1e-12)
    # Table A2's MMD + Fisher weights: 0.01 * tr_w / (1 * tr_b).
    value = fisher_loss(features, labels, intra_weight=0.01, eps=0.0)
    assert value.item() == pytest.approx(0.01 * 2 / 8.5, rel=1e-12)


def test_fisher_label_values_and_order_do_not_matter():
    features = _t(FEATURES)
    perm = [3, 0, 5, 1, 4, 2]
    relabel = {0: 7, 1: -2, 2: 40}
    base = fisher_loss(features, torch.tensor(LABELS))
    other = fisher_loss(
        features[perm], torch.tensor([relabel[LABELS[i]] for i in perm])
    )
    assert other.item() == pytest.approx(base.item(), rel=1e-12)


def test_fisher_within_scatter_is_summed_over_samples():
    # Two copies of the batch: same centres, twice the summed within-class scatter.
    features = _t(FEATURES)
    labels = torch.tensor(LABELS)
    doubled = torch.cat([features, features]), torch.cat([labels, labels])
    ratio = fisher_loss(features, labels, eps=0.0).item()
    assert fisher_loss(*doubled, eps=0.0).item() == pytest.approx(2 * ratio)
    tr_w, tr_b = _hand_fisher_traces(FEATURES, LABELS)
    difference = fisher_loss(*doubled, kind="difference").item()
    assert difference == pytest.approx(2 * tr_w - tr_b, rel=1e-12)


@pytest.mark.parametrize(
    ("intra", "inter", "kind", "match"),
    [
        (0.01, 0.0, "ratio", "inter_weight=0 with the trace ratio divides by zero"),
        (-1.0, 1.0, "ratio", "intra_weight must be a finite number >= 0"),
        (1.0, float("nan"), "difference", "inter_weight must be a finite number"),
        (1.0, 1.0, "trace", "kind must be one of"),
    ],
)
def test_fisher_rejects_bad_weights(intra, inter, kind, match):
    with pytest.raises(ValueError, match=match):
        fisher_loss(
            _t(FEATURES),
            torch.tensor(LABELS),
            intra_weight=intra,
            inter_weight=inter,
            kind=kind,
        )


def test_fisher_difference_with_one_zero_weight():
    tr_w, tr_b = _hand_fisher_traces(FEATURES, LABELS)
    features, labels = _t(FEATURES), torch.tensor(LABELS)
    only_between = fisher_loss(
        features, labels, intra_weight=0.0, inter_weight=2.0, kind="difference"
    )
    assert only_between.item() == pytest.approx(-2.0 * tr_b, rel=1e-12)


@pytest.mark.parametrize("kind", ["ratio", "difference"])
def test_fisher_single_class_returns_connected_zero(kind):
    features = torch.randn(5, 3, requires_grad=True)
    value = fisher_loss(features, torch.ones(5, dtype=torch.long), kind=kind)
    assert value.item() == 0.0
    assert value.requires_grad
    value.backward()
    assert torch.equal(features.grad, torch.zeros(5, 3))


def test_fisher_bad_kind_and_shapes():
    with pytest.raises(ValueError, match="kind"):
        fisher_loss(torch.zeros(4, 2), torch.tensor([0, 0, 1, 1]), kind="trace")
    with pytest.raises(ValueError, match="same length"):
        fisher_loss(torch.zeros(4, 2), torch.tensor([0, 1, 1]))


def test_fisher_gradcheck():
    features = _t(FEATURES, requires_grad=True)
    labels = torch.tensor(LABELS)
    for kind in ("ratio", "difference"):
        assert torch.autograd.gradcheck(
            lambda f, k=kind: fisher_loss(f, labels, kind=k, intra_weight=0.7),
            (features,),
        )


def test_fisher_ratio_descent_makes_classes_compact_and_separated():
    gen = torch.Generator().manual_seed(5)
    labels = torch.arange(40) % 2
    features = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    features[labels == 1] += 0.3
    features.requires_grad_(True)
    tr_w0, tr_b0 = _hand_fisher_traces(features.tolist(), labels.tolist())
    initial = fisher_loss(features, labels).item()
    optimizer = torch.optim.Adam([features], lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        loss = fisher_loss(features, labels)
        loss.backward()
        optimizer.step()
    final = fisher_loss(features, labels).item()
    tr_w1, tr_b1 = _hand_fisher_traces(features.tolist(), labels.tolist())
    assert initial > 1.0
    assert final < 0.01 * initial
    # Relative to the separation of the centres, the classes became far tighter.
    assert tr_w1 / tr_b1 < 0.01 * tr_w0 / tr_b0


# ---------------------------------------------------------------------------
# Entropy
# ---------------------------------------------------------------------------


def test_entropy_matches_hand_computation():
    logits = [[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]]
    expected = 0.0
    for row in logits:
        norm = sum(math.exp(v) for v in row)
        probs = [math.exp(v) / norm for v in row]
        expected -= sum(p * math.log(p) for p in probs)
    expected /= len(logits)
    assert entropy_loss(_t(logits)).item() == pytest.approx(expected, rel=1e-12)


def test_entropy_uniform_two_classes_is_log2():
    logits = torch.full((7, 2), 3.2)
    assert entropy_loss(logits).item() == pytest.approx(math.log(2), rel=1e-6)
    assert entropy_loss(torch.zeros(3, 5)).item() == pytest.approx(math.log(5))


def test_entropy_saturated_is_zero_with_finite_gradient():
    logits = torch.tensor([[1e4, -1e4], [-1e4, 1e4], [0.0, 1e4]], requires_grad=True)
    value = entropy_loss(logits)
    value.backward()
    assert value.item() == pytest.approx(0.0, abs=1e-12)
    assert torch.isfinite(logits.grad).all()


def test_entropy_gradient_matches_finite_differences():
    logits = _t([[0.3, -1.2], [2.0, 0.1], [-0.5, -0.4]], requires_grad=True)
    assert torch.autograd.gradcheck(entropy_loss, (logits,))


def test_entropy_rejects_1d():
    with pytest.raises(ValueError, match="n_classes"):
        entropy_loss(torch.zeros(4))


# ---------------------------------------------------------------------------
# Total loss
# ---------------------------------------------------------------------------


def test_total_loss_combines_as_eq2():
    cl = torch.tensor(0.7)
    tl = torch.tensor(0.3)
    fl = torch.tensor(0.2)
    em = torch.tensor(0.5)
    value = total_loss(
        cl, transfer=tl, fisher=fl, entropy=em, transfer_weight=2.0, entropy_weight=0.1
    )
    assert value.item() == pytest.approx(0.7 + 0.2 + 0.1 * 0.5 + 2.0 * 0.3)
    assert total_loss(cl).item() == pytest.approx(0.7)
    # Default weights: lambda_TL = 1, lambda_EM = 0.
    assert total_loss(cl, transfer=tl, entropy=em).item() == pytest.approx(1.0)
    assert total_loss(cl, fisher=fl).item() == pytest.approx(0.9)


def test_total_loss_gradient_flows_to_every_term():
    parts = [torch.tensor(v, requires_grad=True) for v in (1.0, 2.0, 3.0, 4.0)]
    total_loss(
        parts[0],
        transfer=parts[1],
        fisher=parts[2],
        entropy=parts[3],
        transfer_weight=0.5,
        entropy_weight=0.25,
    ).backward()
    assert [p.grad.item() for p in parts] == [1.0, 0.5, 1.0, 0.25]


def test_fisher_gradient_is_reproducible_with_threads():
    # Scatter-adds are not bit-reproducible on a multi-threaded CPU; the one-hot
    # products that replace them are, so two fits of one seed agree.
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generator = torch.Generator().manual_seed(0)
        features = torch.randn(128, 512, generator=generator)
        labels = torch.randint(0, 2, (128,), generator=generator)
        grads = []
        for _ in range(10):
            x = features.clone().requires_grad_(True)
            fisher_loss(x, labels, intra_weight=1e-4).backward()
            grads.append(x.grad)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(grad, grads[0]) for grad in grads)
