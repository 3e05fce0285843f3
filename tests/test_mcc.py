"""MCC: its loss, its objective and its estimator against hand computations."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_pair_shift, objective_batches, objective_module

from skdamerge import MCCClassifier, SourceOnlyClassifier
from skdamerge._engine.module import head_parameter_names
from skdamerge._engine.objectives import MCCObjective, estimator_class, objective_class
from skdamerge._engine.objectives.mcc import through_features_only
from skdamerge.cli._methods import methods_for
from skdamerge.losses import fisher_loss, mcc_loss
from skdamerge.nets import FeatureExtractor, make_backbone


def _mcc_by_hand(z, temperature):
    """The paper's steps, one loop per sum (columns normalised, as the authors')."""
    n, n_classes = z.shape
    y = np.exp(z / temperature)
    y /= y.sum(axis=1, keepdims=True)
    h = [-sum(p * np.log(p) for p in row) for row in y]
    w = [1 + np.exp(-hi) for hi in h]
    w = [n * wi / sum(w) for wi in w]
    c = np.zeros((n_classes, n_classes))
    for j in range(n_classes):
        for k in range(n_classes):
            c[j, k] = sum(w[i] * y[i, j] * y[i, k] for i in range(n))
    column_sums = c.sum(axis=0)
    normalised = c / column_sums[None, :]
    return (normalised.sum() - np.trace(normalised)) / n_classes


# -- loss -------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_mcc_loss_matches_the_paper_by_hand(n_classes, temperature):
    z = np.random.default_rng(n_classes).normal(0, 2, size=(9, n_classes))
    loss = mcc_loss(torch.tensor(z), temperature=temperature).item()
    assert loss == pytest.approx(_mcc_by_hand(z, temperature))


def test_mcc_loss_is_zero_without_confusion_and_half_for_uniform_predictions():
    confident = torch.tensor([[50.0, -50.0], [-50.0, 50.0], [50.0, -50.0]])
    assert mcc_loss(confident, temperature=1.0).item() == pytest.approx(0, abs=1e-6)
    uniform = torch.zeros(5, 2)
    assert mcc_loss(uniform).item() == pytest.approx(0.5)  # (2 - 2 * 1/2) / 2
    # The temperature softens: the same logits are more confused at T = 2.5.
    logits = torch.tensor([[2.0, -2.0], [-1.0, 1.5]])
    assert mcc_loss(logits, 2.5) > mcc_loss(logits, 1.0)


def test_mcc_loss_gradient_holds_the_entropy_weights_fixed():
    z = torch.tensor([[1.0, -0.5], [0.2, 0.3], [-2.0, 1.0]], requires_grad=True)
    mcc_loss(z, 2.5).backward()
    # Same loss with the weights computed from a detached copy, by hand in torch.
    y_fixed = F.softmax(z.detach() / 2.5, 1)
    h = -(y_fixed * y_fixed.log()).sum(1)
    w = 3 * (1 + torch.exp(-h)) / (1 + torch.exp(-h)).sum()
    z2 = z.detach().clone().requires_grad_(True)
    y = F.softmax(z2 / 2.5, 1)
    c = y.T @ (w[:, None] * y)
    c = c / c.sum(1, keepdim=True)
    ((c.sum() - c.trace()) / 2).backward()
    torch.testing.assert_close(z.grad, z2.grad)


def test_mcc_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="logits"):
        mcc_loss(torch.zeros(3))
    with pytest.raises(ValueError, match="temperature"):
        mcc_loss(torch.zeros(3, 2), temperature=0)


# -- objective ------------------------------------------------------------------


def test_mcc_objective_equals_its_terms_on_the_right_rows():
    objective = MCCObjective(
        transfer_weight=0.6,
        fisher_intra_weight=0.01,
        fisher_inter_weight=0.5,
        fisher_kind="difference",
        entropy_weight=0.2,
        mcc_temperature=1.5,
    )
    module = objective_module(objective)
    xs, ys, xt = objective_batches(1)
    out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.5)
    with torch.no_grad():
        fs, ls = module(xs)
        _, lt = module(xt)
    transfer = _mcc_by_hand(lt.double().numpy(), 1.5)  # target rows only
    classification = F.cross_entropy(ls, ys).item()
    fisher = fisher_loss(fs, ys, intra_weight=0.01, inter_weight=0.5, kind="difference")
    entropy = -(F.softmax(lt, 1) * F.log_softmax(lt, 1)).sum(1).mean().item()
    assert out["transfer_loss"].item() == pytest.approx(transfer, rel=1e-5)
    assert out["loss"].item() == pytest.approx(
        classification + 0.6 * transfer + fisher.item() + 0.2 * entropy, rel=1e-5
    )
    assert not np.isclose(_mcc_by_hand(ls.double().numpy(), 1.5), transfer)


def test_through_features_only_keeps_the_value_and_gives_the_head_no_gradient():
    weight_in = torch.tensor([[1.0, -2.0], [0.5, 1.5]], requires_grad=True)
    weight_head = torch.tensor([0.3, -0.7], requires_grad=True)
    x = torch.tensor([2.0, 1.0])
    features = weight_in @ x
    loss = (weight_head @ features) ** 2
    kept = through_features_only(loss, [weight_head])
    assert kept.item() == pytest.approx(loss.item())
    kept.backward()
    np.testing.assert_allclose(weight_head.grad.numpy(), 0.0, atol=1e-6)
    # d loss / d weight_in = 2 (w . f) w x^T, by hand.
    f = np.array([1.0 * 2 - 2.0 * 1, 0.5 * 2 + 1.5 * 1])
    w = np.array([0.3, -0.7])
    expected = 2 * (w @ f) * np.outer(w, [2.0, 1.0])
    np.testing.assert_allclose(weight_in.grad.numpy(), expected, rtol=1e-6)


def test_the_head_of_deepmerge_is_its_dense_classifier():
    extractor = FeatureExtractor(make_backbone("deepmerge", (3, 16, 16)))
    features, _ = extractor(torch.zeros(2, 3, 16, 16))
    head = head_parameter_names(extractor, features)
    expected = {
        name for name, _ in extractor.named_parameters() if ".classifier." in name
    }
    assert len(expected) == 6  # three dense layers, weights and biases
    assert head == expected
    assert head_parameter_names(extractor, features.detach()) == {
        name for name, _ in extractor.named_parameters()
    }


def test_mcc_trains_the_head_only_when_asked():
    xs, ys, xt = objective_batches(1)

    def gradients(objective):
        module = objective_module(objective)
        out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.5)
        out["loss"].backward()
        grads = {name: p.grad.clone() for name, p in module.named_parameters()}
        return grads, out["loss"].item(), module

    without, _, module = gradients(MCCObjective(transfer_weight=0.0))
    fixed_head, loss, _ = gradients(MCCObjective())
    paper, paper_loss, _ = gradients(MCCObjective(mcc_trains_head=True))
    features, _ = module(xs)
    head = {
        f"extractor.{name}" for name in head_parameter_names(module.extractor, features)
    }
    assert head and set(without) - head
    assert loss == pytest.approx(paper_loss)
    for name in without:
        if name in head:
            # default: the class confusion leaves the head to the cross-entropy
            torch.testing.assert_close(fixed_head[name], without[name])
            assert not torch.allclose(paper[name], without[name])
        else:
            # the features get the same gradient through the head either way
            torch.testing.assert_close(fixed_head[name], paper[name])
    moved = [name for name in without if name not in head]
    assert any(not torch.allclose(fixed_head[n], without[n]) for n in moved)


# -- estimator ------------------------------------------------------------------
def test_mcc_is_registered_and_reproduce_gives_it_a_row():
    assert objective_class("mcc") is MCCObjective
    assert estimator_class("mcc") is MCCClassifier
    (row,) = methods_for("sim2sim", "deepmerge", ["MCC"])
    assert row.method == "mcc"
    clf = row.build()
    assert isinstance(clf, MCCClassifier)
    assert (clf.mcc_temperature, clf.transfer_weight) == (5.0, 1.0)
    assert clf.mcc_trains_head is False


def test_fitted_mcc_has_the_target_guards_and_fine_tunes_a_frozen_head(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MCCClassifier(max_epochs=2, batch_size=32, random_state=0)
        clf.fit(Xs, ys, X_target=Xt)
        assert hasattr(clf, "target_collapse_")
        assert hasattr(clf, "target_merger_fraction_")
        assert np.isfinite(clf.history_[-1]["train_transfer_loss"])
        # The paper's MCC acts on the predictions: with a frozen extractor it
        # still adapts the head.
        head = MCCClassifier(
            max_epochs=1,
            batch_size=32,
            freeze_features=True,
            init_weights=clf,
            mcc_trains_head=True,
        ).fit(Xs, ys, X_target=Xt)
    assert head.history_[-1]["train_transfer_loss"] > 0
    with pytest.raises(ValueError, match="freeze_features"):
        MCCClassifier(
            freeze_features=True, mcc_trains_head=True, fisher_intra_weight=0.01
        ).fit(Xs, ys, X_target=Xt)
    # By default the class confusion trains the features alone: freezing them
    # would leave it nothing to train.
    with pytest.raises(ValueError, match="freeze_features"):
        MCCClassifier(freeze_features=True).fit(Xs, ys, X_target=Xt)


# -- adaptation -----------------------------------------------------------------
# Measured on this 32x32 shift (256 training images per domain, noise 0.5, 20
# epochs, batch 32), the target accuracy of MCCClassifier() on 128 held-out target
# images exceeded source-only's (0.500, every image one class) by 0.031, 0.016 and
# 0.148 with seeds 0, 1 and 2 (mean 0.065; at the paper's temperature of 2.5
# 0.039, 0.078 and 0.164; the paper's version, the loss training the head too,
# -0.031, 0.031 and 0.070). The class confusion reaches the features only through
# the fixed head and needs more steps than the 12 epochs of the CDAN test (there:
# 0.023, 0.023, 0.000). Over seeds 0-15 the mean gain was 0.035 (0.038 with the
# first block's batch normalisation computed through its row matrix, which changes
# the rounding and so each seed's path): three seeds overstated it, and one seed
# more or less moves a three-seed mean by 0.03. Seeds 0-7 gave means of 0.044 and
# 0.041 (smallest gains 0.000 and 0.000). The mean over eight seeds must reach
# 0.03, and no seed may lose more than 4 of the 128 images against source-only.
MCC_MEAN_GAIN = 0.03
MCC_SEEDS = 8


@pytest.mark.slow
def test_mcc_beats_source_only_on_held_out_target_images():
    Xs, ys, Xt, yt = make_pair_shift(384, size=32, noise=0.5, seed=3)
    fit, held_out = slice(0, 256), slice(256, None)
    gains = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(MCC_SEEDS):
            training = dict(max_epochs=20, batch_size=32, random_state=seed)
            args = (Xs[fit], ys[fit])
            source_only = SourceOnlyClassifier(**training).fit(*args, X_target=Xt[fit])
            mcc = MCCClassifier(**training).fit(*args, X_target=Xt[fit])
            gains.append(
                mcc.score(Xt[held_out], yt[held_out])
                - source_only.score(Xt[held_out], yt[held_out])
            )
    print("MCC target-accuracy gains over source-only:", np.round(gains, 3))
    assert np.mean(gains) > MCC_MEAN_GAIN
    assert min(gains) >= -4 / 128
