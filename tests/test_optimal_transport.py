"""DeepJDOT and Sinkhorn alignment: losses, objectives and estimators.

The losses are checked against hand computations that do not use POT (brute force
over permutations, a linear program, the closed form of a two-point problem), and
the Sinkhorn divergence also against POT's own plans; the objectives against their
terms computed on the right rows.
"""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_pair_shift, objective_batches, objective_module
from scipy.optimize import linprog

from skdamerge import DeepJDOTClassifier, SinkhornClassifier, SourceOnlyClassifier
from skdamerge._engine.objectives import DeepJDOTObjective, SinkhornObjective
from skdamerge.cli._methods import methods_for
from skdamerge.losses import jdot_loss, sinkhorn_divergence, sinkhorn_epsilon


# -- DeepJDOT loss ---------------------------------------------------------------
def _jdot_cost(fs, ys, ft, zt, alpha, lambda_t):
    """C_ij = alpha |fs_i - ft_j|^2 + lambda_t (-log softmax(zt_j)[ys_i]), numpy."""
    distance = ((fs[:, None, :] - ft[None, :, :]) ** 2).sum(-1)
    log_proba = zt - np.log(np.exp(zt).sum(1, keepdims=True))
    return alpha * distance + lambda_t * (-log_proba[:, ys].T)


def test_jdot_loss_is_the_cheapest_matching_of_equal_batches():
    """For n = m with uniform weights the exact plan is a permutation (Birkhoff)."""
    rng = np.random.default_rng(0)
    fs, ft = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)) + 0.5
    ys, zt = np.array([0, 1, 1, 0, 1]), rng.normal(size=(5, 2)) * 2
    cost = _jdot_cost(fs, ys, ft, zt, alpha=0.3, lambda_t=0.7)
    best = min(
        np.mean([cost[i, j] for i, j in enumerate(perm)])
        for perm in itertools.permutations(range(5))
    )
    loss, feature_term, label_term = jdot_loss(
        torch.tensor(fs),
        torch.tensor(ys),
        torch.tensor(ft),
        torch.tensor(zt),
        alpha=0.3,
        lambda_t=0.7,
        return_terms=True,
    )
    assert float(loss) == pytest.approx(best, rel=1e-9)
    assert float(feature_term + label_term) == pytest.approx(best, rel=1e-9)


def test_jdot_loss_equals_a_linear_program_for_unequal_batches():
    rng = np.random.default_rng(1)
    n, m = 3, 4
    fs, ft = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    ys, zt = np.array([1, 0, 1]), rng.normal(size=(m, 2))
    cost = _jdot_cost(fs, ys, ft, zt, alpha=1.0, lambda_t=0.5)
    # Transport polytope: rows sum to 1/n, columns to 1/m.
    rows = np.kron(np.eye(n), np.ones(m))
    cols = np.kron(np.ones(n), np.eye(m))
    program = linprog(
        cost.ravel(),
        A_eq=np.vstack([rows, cols]),
        b_eq=np.r_[np.full(n, 1 / n), np.full(m, 1 / m)],
        bounds=(0, None),
    )
    loss = jdot_loss(
        torch.tensor(fs),
        torch.tensor(ys),
        torch.tensor(ft),
        torch.tensor(zt),
        alpha=1.0,
        lambda_t=0.5,
    )
    assert float(loss) == pytest.approx(program.fun, rel=1e-7)


def test_jdot_gradient_flows_through_the_cost_with_the_plan_fixed():
    """Two points each, matched in order: the loss is the mean of the diagonal."""
    fs = torch.tensor([[0.0], [10.0]])
    ft = torch.tensor([[1.0], [9.0]], requires_grad=True)
    zt = torch.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
    ys = torch.tensor([0, 1])
    loss = jdot_loss(fs, ys, ft, zt, alpha=1.0, lambda_t=1.0)
    loss.backward()
    # Plan 1/2 on (0, 0) and (1, 1): d/dft_j = 2 (ft_j - fs_j) / 2.
    torch.testing.assert_close(ft.grad, torch.tensor([[1.0], [-1.0]]))
    expected = (F.softmax(zt.detach(), 1) - F.one_hot(ys, 2)) / 2
    torch.testing.assert_close(zt.grad, expected)


def test_jdot_loss_rejects_bad_inputs():
    fs, ft = torch.zeros(3, 2), torch.zeros(4, 2)
    with pytest.raises(ValueError, match="non-negative"):
        jdot_loss(fs, torch.zeros(3), ft, torch.zeros(4, 2), alpha=-1.0)
    with pytest.raises(ValueError, match="one label per source"):
        jdot_loss(fs, torch.zeros(2), ft, torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        jdot_loss(fs, torch.tensor([0, 1, 2]), ft, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="same number of features"):
        jdot_loss(fs, torch.zeros(3), torch.zeros(4, 3), torch.zeros(4, 2))


# -- Sinkhorn divergence ----------------------------------------------------------
def _entropic_ot_numpy(x, y, epsilon):
    """OT_eps = <P, C> + eps KL(P | a b^T) with POT's plan, in numpy."""
    import ot

    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    plan = ot.sinkhorn(a, b, cost, epsilon, stopThr=1e-12, numItermax=100000)
    kl = np.sum(plan * np.log(plan / np.outer(a, b)))
    return np.sum(plan * cost) + epsilon * kl


def _sinkhorn_divergence_numpy(x, y, epsilon):
    return (
        _entropic_ot_numpy(x, y, epsilon)
        - 0.5 * _entropic_ot_numpy(x, x, epsilon)
        - 0.5 * _entropic_ot_numpy(y, y, epsilon)
    )


def test_sinkhorn_divergence_matches_pot_on_a_small_example():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(4, 2)) + 1.0
    epsilon = 2.0
    expected = _sinkhorn_divergence_numpy(x, y, epsilon)
    value = sinkhorn_divergence(
        torch.tensor(x), torch.tensor(y), epsilon=epsilon, tol=1e-12, max_iter=10**5
    )
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_sinkhorn_divergence_of_two_points_has_its_closed_form():
    """Two points per side, uniform weights: the plan is [[p, h - p], [h - p, p]].

    with h = 1/2 and p / (h - p) = exp(-(C11 + C22 - C12 - C21) / (2 eps)).
    """

    def ot_eps(cost, eps):
        ratio = math.exp(-(cost[0, 0] + cost[1, 1] - cost[0, 1] - cost[1, 0]) / eps / 2)
        p = 0.5 * ratio / (1 + ratio)
        plan = np.array([[p, 0.5 - p], [0.5 - p, p]])
        return np.sum(plan * cost) + eps * np.sum(plan * np.log(plan * 4))

    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    y = np.array([[0.5, 1.0], [2.0, 0.5]])

    def cost(u, v):
        return ((u[:, None] - v[None]) ** 2).sum(-1)

    eps = 0.7
    expected = (
        ot_eps(cost(x, y), eps)
        - 0.5 * ot_eps(cost(x, x), eps)
        - 0.5 * ot_eps(cost(y, y), eps)
    )
    value = sinkhorn_divergence(
        torch.tensor(x), torch.tensor(y), epsilon=eps, tol=1e-13
    )
    assert float(value) == pytest.approx(expected, rel=1e-8)


def test_sinkhorn_divergence_vanishes_for_equal_batches_and_grows_with_the_gap():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 5, generator=g)
    y = torch.randn(40, 5, generator=g)
    assert abs(float(sinkhorn_divergence(x, x, epsilon=0.5))) < 1e-6
    # The same measure in another order.
    shuffled = x[torch.randperm(40, generator=g)]
    assert abs(float(sinkhorn_divergence(x, shuffled, epsilon=0.5))) < 1e-5
    values = [
        float(sinkhorn_divergence(x, y + shift, epsilon=0.5))
        for shift in (3.0, 2.0, 1.0, 0.5, 0.0)
    ]
    assert all(value > 0 for value in values)
    assert all(a > b for a, b in zip(values[:-1], values[1:], strict=True))
    # Far apart, S approaches the squared distance of the means (5 dims, shift 3).
    assert values[0] == pytest.approx(5 * 9, rel=0.2)


def test_sinkhorn_divergence_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(5, 3, generator=g, dtype=torch.float64) + 0.7

    def value(points):
        return sinkhorn_divergence(points, y, epsilon=2.0, tol=1e-12, max_iter=10**5)

    value(x).backward()
    numeric = torch.zeros_like(x)
    step = 1e-6
    with torch.no_grad():
        for index in itertools.product(range(4), range(3)):
            shift = torch.zeros_like(x)
            shift[index] = step
            numeric[index] = (value(x + shift) - value(x - shift)) / (2 * step)
    torch.testing.assert_close(x.grad, numeric, rtol=1e-5, atol=1e-7)


def test_normalized_sinkhorn_divergence_is_in_units_of_the_mean_squared_distance():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(4, 2)) + 1.0
    epsilon = 2.0
    raw = _sinkhorn_divergence_numpy(x, y, epsilon)
    mean_cost = ((x[:, None] - y[None]) ** 2).sum(-1).mean()
    value = sinkhorn_divergence(
        torch.tensor(x),
        torch.tensor(y),
        epsilon=epsilon,
        tol=1e-12,
        max_iter=10**5,
        normalize=True,
    )
    assert float(value) == pytest.approx(raw / mean_cost, rel=1e-6)


def test_normalized_sinkhorn_divergence_does_not_grow_with_the_feature_scale():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = torch.randn(20, 4, generator=g, dtype=torch.float64) + 0.8
    # The regularisation set from the batches (blur) scales with them.
    values = {
        scale: (
            float(sinkhorn_divergence(scale * x, scale * y, tol=1e-12)),
            float(sinkhorn_divergence(scale * x, scale * y, tol=1e-12, normalize=True)),
        )
        for scale in (0.1, 1.0, 30.0)
    }
    raw_1, normalized_1 = values[1.0]
    for scale, (raw, normalized) in values.items():
        assert raw == pytest.approx(scale**2 * raw_1, rel=1e-6)
        assert normalized == pytest.approx(normalized_1, rel=1e-6)


def test_normalized_sinkhorn_divergence_divides_the_gradient_by_the_detached_unit():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(5, 3, generator=g, dtype=torch.float64) + 0.5
    sinkhorn_divergence(x, y, epsilon=1.0, tol=1e-12).backward()
    raw_grad = x.grad.clone()
    x.grad = None
    sinkhorn_divergence(x, y, epsilon=1.0, tol=1e-12, normalize=True).backward()
    unit = float(((x.detach()[:, None] - y[None]) ** 2).sum(-1).mean())
    torch.testing.assert_close(x.grad, raw_grad / unit)


def test_sinkhorn_epsilon_follows_the_largest_distance():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    y = torch.tensor([[0.0, 3.0], [4.0, 3.0]])
    # Largest source-target distance 5 (from (0, 0) to (4, 3)).
    assert sinkhorn_epsilon(x, y, blur=0.1) == pytest.approx(2 * (0.1 * 5) ** 2)
    assert sinkhorn_epsilon(x[:1], x[:1]) == 1.0  # all distances zero


def test_sinkhorn_divergence_rejects_bad_parameters():
    x = torch.zeros(3, 2)
    for kwargs, match in [
        ({"epsilon": 0.0}, "epsilon"),
        ({"blur": -1.0}, "blur"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": 0.0}, "tol"),
    ]:
        with pytest.raises(ValueError, match=match):
            sinkhorn_divergence(x, x, **kwargs)


# -- Objectives on the right rows -------------------------------------------------


def test_deepjdot_objective_equals_its_terms_on_the_right_rows():
    objective = DeepJDOTObjective(transfer_weight=0.6, jdot_alpha=0.2, jdot_lambda=0.5)
    module = objective_module(objective)
    xs, ys, xt = objective_batches()
    out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.5)
    with torch.no_grad():
        fs, ls = module(xs)
        ft, lt = module(xt)
    cost = _jdot_cost(
        fs.double().numpy(),
        ys.numpy(),
        ft.double().numpy(),
        lt.double().numpy(),
        0.2,
        0.5,
    )
    best = min(
        np.mean(cost[np.arange(8), list(perm)])
        for perm in itertools.permutations(range(8))
    )
    classification = F.cross_entropy(ls, ys)
    assert float(out["transfer_loss"].detach()) == pytest.approx(best, rel=1e-5)
    assert float(out["loss"].detach()) == pytest.approx(
        float(classification) + 0.6 * best, rel=1e-5
    )
    assert out["jdot_feature_cost"] + out["jdot_label_cost"] == pytest.approx(
        best, rel=1e-5
    )
    # The source labels against the source predictions give another cost.
    swapped = _jdot_cost(
        fs.double().numpy(),
        ys.numpy(),
        fs.double().numpy(),
        ls.double().numpy(),
        0.2,
        0.5,
    )
    assert np.trace(swapped) / 8 != pytest.approx(best, rel=1e-3)


def test_deepjdot_rejects_a_vanishing_cost():
    with pytest.raises(ValueError, match="jdot_alpha and jdot_lambda"):
        DeepJDOTObjective(jdot_alpha=0.0, jdot_lambda=0.0).validate()


def test_sinkhorn_objective_weights_its_terms_by_the_learned_log_variances():
    objective = SinkhornObjective(transfer_weight=0.5, sinkhorn_epsilon=2.0)
    module = objective_module(objective)
    with torch.no_grad():
        module.loss_weights.log_variances.copy_(torch.tensor([0.3, -0.4]))
    xs, ys, xt = objective_batches()
    out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.5)
    with torch.no_grad():
        fs, ls = module(xs)
        ft, _ = module(xt)
    classification = F.cross_entropy(ls, ys)
    transfer = sinkhorn_divergence(fs, ft, epsilon=2.0, normalize=True)
    expected = (
        math.exp(-0.3) * classification + math.exp(0.4) * 0.5 * transfer + 0.3 - 0.4
    )
    torch.testing.assert_close(out["classification_loss"], classification)
    torch.testing.assert_close(out["transfer_loss"], transfer)
    torch.testing.assert_close(out["loss"], expected)
    assert out["classification_weight"] == pytest.approx(math.exp(-0.3))
    assert out["alignment_weight"] == pytest.approx(math.exp(0.4))
    assert out["sinkhorn_epsilon"] == 2.0
    # The weights receive the gradient of the total loss:
    # d/ds_1 = 1 - exp(-s_1) CE and d/ds_2 = 1 - exp(-s_2) w S.
    module.zero_grad()
    out["loss"].backward()
    grad = module.loss_weights.log_variances.grad
    assert float(grad[0]) == pytest.approx(1 - math.exp(-0.3) * float(classification))
    assert float(grad[1]) == pytest.approx(1 - math.exp(0.4) * 0.5 * float(transfer))


def test_sinkhorn_alignment_weight_is_at_most_16_times_the_classification_weight():
    objective = SinkhornObjective(sinkhorn_epsilon=2.0)
    module = objective_module(objective)
    with torch.no_grad():
        module.loss_weights.log_variances.copy_(torch.tensor([0.0, -10.0]))
    xs, ys, xt = objective_batches()
    out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.5)
    assert out["alignment_weight"] == pytest.approx(16 * out["classification_weight"])


def test_sinkhorn_objective_with_fixed_weights_is_eq_2():
    objective = SinkhornObjective(transfer_weight=0.3, dynamic_weights=False)
    assert objective.extra_modules(10) == {}
    module = objective_module(objective)
    xs, ys, xt = objective_batches()
    out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.5)
    with torch.no_grad():
        fs, ls = module(xs)
        ft, _ = module(xt)
    epsilon = sinkhorn_epsilon(fs, ft, 0.05)
    transfer = sinkhorn_divergence(fs, ft, epsilon=epsilon, normalize=True)
    torch.testing.assert_close(out["loss"], F.cross_entropy(ls, ys) + 0.3 * transfer)
    assert out["sinkhorn_epsilon"] == pytest.approx(epsilon)


def test_sinkhorn_objective_without_normalization_uses_the_raw_divergence():
    objective = SinkhornObjective(
        transfer_weight=0.3, dynamic_weights=False, sinkhorn_normalize=False
    )
    module = objective_module(objective)
    xs, ys, xt = objective_batches()
    out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.5)
    with torch.no_grad():
        fs, _ = module(xs)
        ft, _ = module(xt)
    raw = sinkhorn_divergence(fs, ft, epsilon=sinkhorn_epsilon(fs, ft, 0.05))
    torch.testing.assert_close(out["transfer_loss"], raw)
    # The default divides it by the mean squared source-target distance.
    normalized = SinkhornObjective(transfer_weight=0.3, dynamic_weights=False)
    out = normalized(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.5)
    unit = ((fs[:, None] - ft[None]) ** 2).sum(-1).mean()
    torch.testing.assert_close(out["transfer_loss"], raw / unit, rtol=1e-4, atol=1e-6)


# -- Estimators -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("label", "estimator_cls"),
    [("DeepJDOT", DeepJDOTClassifier), ("Sinkhorn", SinkhornClassifier)],
)
def test_reproduce_offers_the_method_under_its_label(label, estimator_cls):
    (row,) = methods_for("sim2sim", "deepmerge", [label])
    assert isinstance(row.build(), estimator_cls)


@pytest.mark.parametrize("estimator_cls", [DeepJDOTClassifier, SinkhornClassifier])
def test_fit_records_the_losses_and_the_target_guard(estimator_cls, tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    clf = estimator_cls(max_epochs=2, batch_size=32, random_state=0)
    clf.fit(Xs, ys, X_target=Xt)
    assert hasattr(clf, "target_collapse_")
    assert hasattr(clf, "target_merger_fraction_")
    last = clf.history_[-1]
    assert last["train_transfer_loss"] > 0
    if estimator_cls is SinkhornClassifier:
        assert last["train_sinkhorn_epsilon"] > 0
        # The learned weights moved away from their start (1).
        assert last["train_classification_weight"] != 1.0


# Target-accuracy gain over source-only on held-out target images of this shift
# (256 training images per domain, 32x32, noise 0.3, 15 epochs), measured with the
# defaults: source only 0.50, DeepJDOT 0.93 (+0.43), Sinkhorn 0.89 (+0.39; 0.77
# with the divergence in raw units, sinkhorn_normalize=False). Each method must
# gain about half of that.
MARGIN = {"DeepJDOT": 0.2, "Sinkhorn": 0.2}
TRAINING = dict(max_epochs=15, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def noisy_shift():
    Xs, ys, Xt, yt = make_pair_shift(384, size=32, noise=0.3, seed=3)
    fit, held_out = slice(0, 256), slice(256, None)
    return (Xs[fit], ys[fit], Xt[fit]), (Xt[held_out], yt[held_out])


@pytest.fixture(scope="module")
def source_only_accuracy(noisy_shift):
    (Xs, ys, Xt), (Xt_test, yt_test) = noisy_shift
    source_only = SourceOnlyClassifier(**TRAINING).fit(Xs, ys, X_target=Xt)
    return source_only.score(Xt_test, yt_test)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("label", "estimator_cls"),
    [("DeepJDOT", DeepJDOTClassifier), ("Sinkhorn", SinkhornClassifier)],
)
def test_optimal_transport_beats_source_only(
    label, estimator_cls, noisy_shift, source_only_accuracy
):
    (Xs, ys, Xt), (Xt_test, yt_test) = noisy_shift
    clf = estimator_cls(**TRAINING).fit(Xs, ys, X_target=Xt)
    accuracy = clf.score(Xt_test, yt_test)
    print(f"{label}: target {accuracy:.3f}, source only {source_only_accuracy:.3f}")
    assert accuracy >= source_only_accuracy + MARGIN[label]
