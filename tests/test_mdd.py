"""MDD: the discrepancy, the objective and its gradients, and the estimator."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_pair_shift, objective_batches, objective_module

from skdamerge import MDDClassifier, SourceOnlyClassifier
from skdamerge._engine.objectives import DomainBatch, MDDObjective, estimator_class
from skdamerge.cli._methods import methods_for
from skdamerge.losses import margin_disparity_discrepancy


def _softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _mdd_by_hand(ys, ys_adv, yt, yt_adv, margin):
    """gamma * mean_s log p'_s[ŷ_s] + mean_t log(min(1 - p'_t[ŷ_t] + 1e-6, 1))."""
    ys, ys_adv, yt, yt_adv = (
        np.asarray(a, np.float64) for a in (ys, ys_adv, yt, yt_adv)
    )
    hat_s, hat_t = ys.argmax(1), yt.argmax(1)
    p_s = _softmax(ys_adv)[np.arange(len(ys)), hat_s]
    p_t = _softmax(yt_adv)[np.arange(len(yt)), hat_t]
    source = margin * np.mean(np.log(p_s))
    target = np.mean(np.log(np.minimum(1.0 - p_t + 1e-6, 1.0)))
    return source + target


def test_discrepancy_equals_the_reference_formula_by_hand():
    rng = np.random.default_rng(0)
    ys, ys_adv = rng.normal(size=(7, 2)), rng.normal(size=(7, 2)) * 2
    yt, yt_adv = rng.normal(size=(5, 2)), rng.normal(size=(5, 2)) * 2
    value = margin_disparity_discrepancy(
        *(torch.tensor(a) for a in (ys, ys_adv, yt, yt_adv)), margin=4.0
    )
    assert float(value) == pytest.approx(_mdd_by_hand(ys, ys_adv, yt, yt_adv, 4.0))
    # The source term is -margin times the cross-entropy against ŷ_s.
    ce = -np.mean(np.log(_softmax(ys_adv)[np.arange(7), ys.argmax(1)]))
    target_only = _mdd_by_hand(ys, ys_adv, yt, yt_adv, 0.0)
    assert float(value) == pytest.approx(-4.0 * ce + target_only)
    assert float(value) <= 0


def test_the_shifted_log_keeps_a_certain_agreement_finite():
    logits = torch.tensor([[30.0, -30.0], [-30.0, 30.0]])
    value = margin_disparity_discrepancy(logits, logits, logits, logits, margin=1.0)
    assert float(value) == pytest.approx(np.log(1e-6), rel=1e-3)


def test_the_auxiliary_head_maximising_it_agrees_on_source_disagrees_on_target():
    main = torch.tensor([[2.0, -1.0], [-1.0, 2.0], [0.5, 0.0]])
    agree, disagree = 5.0 * main, -5.0 * main
    d = margin_disparity_discrepancy
    assert d(main, agree, main, disagree) > d(main, agree, main, agree)
    assert d(main, agree, main, disagree) > d(main, disagree, main, disagree)


def test_the_main_logits_get_no_gradient():
    g = torch.Generator().manual_seed(0)
    ys, yt = (torch.randn(6, 2, generator=g, requires_grad=True) for _ in range(2))
    ys_adv, yt_adv = (torch.randn(6, 2, generator=g, requires_grad=True) for _ in "ab")
    value = margin_disparity_discrepancy(ys, ys_adv, yt, yt_adv)
    grads = torch.autograd.grad(value, (ys, yt, ys_adv, yt_adv), allow_unused=True)
    assert grads[0] is None and grads[1] is None
    assert grads[2].abs().sum() > 0 and grads[3].abs().sum() > 0


@pytest.mark.parametrize(
    ("shapes", "margin", "match"),
    [
        (((4, 2), (4, 2), (3, 2), (3, 3)), 4.0, "same shape"),
        (((4, 2), (4, 2), (3, 3), (3, 3)), 4.0, "number of classes"),
        (((4,), (4,), (3, 2), (3, 2)), 4.0, r"\(n, n_classes\)"),
        (((4, 2), (4, 2), (3, 2), (3, 2)), 0.0, "margin"),
    ],
)
def test_discrepancy_rejects_bad_inputs(shapes, margin, match):
    tensors = [torch.zeros(shape) for shape in shapes]
    with pytest.raises(ValueError, match=match):
        margin_disparity_discrepancy(*tensors, margin=margin)


def test_mdd_objective_equals_its_terms_computed_on_the_right_rows():
    objective = MDDObjective(
        transfer_weight=0.5, mdd_margin=3.0, mdd_hidden=16, grl_schedule="constant"
    )
    module = objective_module(objective)
    xs, ys, xt = objective_batches()
    out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.4)
    with torch.no_grad():
        fs, ls = module(xs)  # each domain passed separately
        ft, lt = module(xt)
        as_, at = module.mdd_head(fs), module.mdd_head(ft)
    d = _mdd_by_hand(ls, as_, lt, at, 3.0)
    assert out["margin_disparity"] == pytest.approx(d, rel=1e-5)
    assert out["transfer_loss"].item() == pytest.approx(-d, rel=1e-5)
    classification = float(F.cross_entropy(ls, ys))
    assert out["loss"].item() == pytest.approx(classification - 0.5 * d, rel=1e-5)
    assert out["grl_coefficient"] == pytest.approx(0.1)
    # With the domains swapped the value differs: the rows matter.
    assert _mdd_by_hand(lt, at, ls, as_, 3.0) != pytest.approx(d, rel=1e-3)


def test_auxiliary_head_shape_and_learning_rate():
    objective = MDDObjective(mdd_hidden=32, auxiliary_lr_multiplier=0.1)
    ((name, head),) = objective.extra_modules(20).items()
    assert head(torch.zeros(3, 20)).shape == (3, 2)
    assert sum(isinstance(layer, torch.nn.Linear) for layer in head) == 2
    assert head[0].out_features == 32
    assert objective.lr_multipliers() == {name: 0.1}


def test_auxiliary_head_with_several_hidden_layers():
    """A tuple of widths gives one dense layer, ReLU and dropout per width."""
    ((_, head),) = MDDObjective(mdd_hidden=(64, 32)).extra_modules(20).items()
    linears = [layer for layer in head if isinstance(layer, torch.nn.Linear)]
    shapes = [(layer.in_features, layer.out_features) for layer in linears]
    assert shapes == [(20, 64), (64, 32), (32, 2)]
    dropouts = [layer.p for layer in head if isinstance(layer, torch.nn.Dropout)]
    assert dropouts == [0.5, 0.5]
    assert head(torch.zeros(3, 20)).shape == (3, 2)


@pytest.mark.parametrize("widths", [(), (64, 0), (64, 2.5), (True,)])
def test_bad_hidden_widths_are_refused_at_fit_entry(widths):
    Xs, ys, Xt, _ = make_pair_shift(16, size=16, seed=0)
    with pytest.raises(ValueError, match=r"mdd_hidden must be .*\(64, 32\)"):
        MDDClassifier(mdd_hidden=widths, max_epochs=1).fit(Xs, ys, X_target=Xt)


def test_head_and_features_get_opposite_gradients_from_the_discrepancy():
    """The head ascends D, the features descend it (scaled by the coefficient)."""
    objective = MDDObjective(mdd_hidden=16, grl_schedule="constant")
    module = objective_module(objective)
    head = module.mdd_head
    xs, _, xt = objective_batches()
    with torch.no_grad():
        fs, ls = module(xs)
        ft, lt = module(xt)
    fs, ft = fs.clone().requires_grad_(), ft.clone().requires_grad_()
    transfer, records = objective.transfer(
        module, DomainBatch(fs, ls), DomainBatch(ft, lt), 0.5
    )
    params = list(head.parameters())
    grads = torch.autograd.grad(transfer, [fs, ft, *params])
    feature_grads, head_grads = grads[:2], grads[2:]

    # The same discrepancy without the reversal layer.
    def discrepancy(fs_, ft_):
        return margin_disparity_discrepancy(ls, head(fs_), lt, head(ft_), margin=4.0)

    plain = discrepancy(fs, ft)
    plain_grads = torch.autograd.grad(plain, [fs, ft, *params])
    coefficient = records["grl_coefficient"]
    assert coefficient == pytest.approx(0.1)
    # transfer = -D: the head's gradient is that of -D (it maximises D) ...
    for got, expected in zip(head_grads, plain_grads[2:], strict=True):
        torch.testing.assert_close(got, -expected)
    # ... the features' is coefficient x that of +D (they minimise D).
    for got, expected in zip(feature_grads, plain_grads[:2], strict=True):
        torch.testing.assert_close(got, coefficient * expected)
    assert sum(float(g.abs().sum()) for g in feature_grads) > 0

    # One gradient step on each side moves D in opposite directions.
    step = 1e-2
    with torch.no_grad():
        d0 = float(plain)
        moved_features = float(
            discrepancy(fs - step * feature_grads[0], ft - step * feature_grads[1])
        )
        for param, grad in zip(params, head_grads, strict=True):
            param -= step * grad
        moved_head = float(discrepancy(fs, ft))
    assert moved_features < d0 < moved_head


def test_mdd_is_registered_and_is_a_row_of_reproduce():
    assert estimator_class("mdd") is MDDClassifier
    (row,) = methods_for("sim2sim", "deepmerge", ["MDD"])
    assert row.method == "mdd"
    assert isinstance(row.build(max_epochs=1), MDDClassifier)


def test_a_fit_records_the_discrepancy_and_the_target_diagnostics(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    clf = MDDClassifier(max_epochs=2, batch_size=32, mdd_hidden=64, random_state=0)
    clf.fit(Xs, ys, X_target=Xt)
    for row in clf.history_:
        assert row["train_margin_disparity"] <= 0
        assert row["train_transfer_loss"] == pytest.approx(
            -row["train_margin_disparity"]
        )
        assert 0 <= row["train_grl_coefficient"] <= 0.1
    assert clf.target_collapse_ is not None
    assert hasattr(clf, "target_merger_fraction_")


# Measured on this shift (256 training images per domain, 15 epochs, the default
# auxiliary_lr_multiplier=0.1 without augmentation): the held-out target accuracy
# of MDDClassifier exceeded source-only (0.50 at every seed) by 0.19, 0.06 and 0.00
# with seeds 0, 1 and 2 (mean 0.083; with the head at the full rate 0.10, 0.03,
# 0.00). The mean must beat source-only by about half of that.
# Orientation augmentation (the default on square images) is left out: on 256
# images and 15 epochs it slows the learning, as for DANN (gains 0.07, 0.01, 0.00).
# Over seeds 0-31 the mean gain was 0.070 (0.062 with the first block's batch
# normalisation computed through its row matrix, which changes the rounding and so
# each seed's path; standard errors 0.016 and 0.013): a three-seed mean moved by
# 0.06 with that rounding alone (0.083 -> 0.026). Eight seeds (0-7) gave 0.079 and
# 0.051, each seed above -0.05.
MEAN_GAIN = 0.04
MDD_SEEDS = 8


@pytest.mark.slow
def test_mdd_beats_source_only_on_average_over_eight_seeds():
    """Held-out target accuracy on the 32x32 shift of the DANN three-seed test."""
    Xs, ys, Xt, yt = make_pair_shift(384, size=32, noise=0.2, seed=3)
    fit, held_out = slice(0, 256), slice(256, None)
    gains = []
    with warnings.catch_warnings():
        # single seeds may shift the decision threshold; the gain is what counts
        warnings.simplefilter("ignore", UserWarning)
        for seed in range(MDD_SEEDS):
            training = dict(max_epochs=15, batch_size=32, random_state=seed)
            args = (Xs[fit], ys[fit])
            baseline = SourceOnlyClassifier(**training).fit(*args, X_target=Xt[fit])
            adapted = MDDClassifier(augment=False, **training)
            adapted.fit(*args, X_target=Xt[fit])
            gains.append(
                adapted.score(Xt[held_out], yt[held_out])
                - baseline.score(Xt[held_out], yt[held_out])
            )
    print("MDDClassifier target-accuracy gains over source-only:", np.round(gains, 3))
    assert np.mean(gains) > MEAN_GAIN
    assert min(gains) > -0.05
