import warnings

import numpy as np
import pytest
import torch

from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge._engine.net import DomainAdaptationNet
from skdamerge._engine.objectives import MMDObjective
from skdamerge._engine.objectives.adversarial import domain_classifier_state
from skdamerge.exceptions import DomainClassifierWarning, NonFiniteLossError
from skdamerge.losses import entropy_loss, fisher_loss, mmd_loss

FAST = dict(batch_size=16, random_state=3, cycle_length=None, lr=0.02)


class _NaNAfter(MMDObjective):
    """The MMD objective, with a NaN loss from a given step on."""

    def __init__(self, step, **kwargs):
        super().__init__(**kwargs)
        self.step = step
        self.calls = 0

    def __call__(self, *args):
        result = super().__call__(*args)
        self.calls += 1
        if self.calls > self.step:
            result["loss"] = result["loss"] * float("nan")
        return result


def test_nan_loss_stops_with_the_epoch_and_keeps_the_best_model(
    tiny_shift, monkeypatch
):
    Xs, ys, Xt, _ = tiny_shift
    steps_per_epoch = 11  # 175 training images in batches of 16
    monkeypatch.setattr(
        MMDClassifier,
        "_make_objective",
        lambda self: _NaNAfter(4 * steps_per_epoch + 3),
    )
    clf = MMDClassifier(max_epochs=20, **FAST)
    with pytest.raises(NonFiniteLossError, match="in epoch 5") as error:
        clf.fit(Xs, ys, X_target=Xt)
    assert error.value.epoch == 5
    assert "classification_loss" in error.value.components
    # The estimator is usable and holds the best of the four completed epochs.
    assert clf.n_epochs_ == 4
    assert 1 <= clf.best_epoch_ <= 4
    proba = clf.predict_proba(Xt)
    assert np.all(np.isfinite(proba))
    monkeypatch.undo()
    reference = MMDClassifier(max_epochs=clf.best_epoch_, **FAST).fit(
        Xs, ys, X_target=Xt
    )
    np.testing.assert_allclose(proba, reference.predict_proba(Xt), atol=1e-6)


def test_keyboard_interrupt_keeps_the_best_model(tiny_shift, monkeypatch):
    Xs, ys, _, _ = tiny_shift
    original = DomainAdaptationNet.train_step_single

    def interrupted(self, batch, **fit_params):
        if self.steps_done_ == 3 * 11 + 5:  # Ctrl-C in the fourth epoch
            raise KeyboardInterrupt
        return original(self, batch, **fit_params)

    monkeypatch.setattr(DomainAdaptationNet, "train_step_single", interrupted)
    clf = SourceOnlyClassifier(max_epochs=20, **FAST).fit(Xs, ys)
    assert clf.n_epochs_ == 3
    monkeypatch.undo()
    reference = SourceOnlyClassifier(max_epochs=clf.best_epoch_, **FAST).fit(Xs, ys)
    np.testing.assert_allclose(
        clf.predict_proba(Xs), reference.predict_proba(Xs), atol=1e-6
    )


@pytest.mark.parametrize(
    ("source", "target", "state"),
    [
        ([1.0, 1.0, 1.0], [0.0, 0.0, 0.01], "collapsed"),
        ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], "collapsed"),
        ([1.0, 1.0, 0.99], [1.0, 0.99, 1.0], "separating"),
        ([0.6, 0.5, 0.55], [0.5, 0.6, 0.4], "confused"),
    ],
)
def test_domain_classifier_state(source, target, state):
    history = [
        {"train_domain_acc_source": s, "train_domain_acc_target": t}
        for s, t in zip([0.5] * 3 + source, [0.5] * 3 + target, strict=True)
    ]
    assert domain_classifier_state(history) == state
    assert domain_classifier_state([{"train_loss": 1.0}]) == "unknown"


def test_dann_warns_when_the_domain_classifier_wins(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    # Heavy target noise and a fast discriminator: the domains stay separable.
    noisy = Xt + np.random.default_rng(0).normal(0, 3, Xt.shape).astype(np.float32)
    with pytest.warns(DomainClassifierWarning, match="domain_lr_multiplier"):
        DANNClassifier(
            domain_lr_multiplier=1.0, max_epochs=6, batch_size=32, random_state=0
        ).fit(Xs, ys, X_target=noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DomainClassifierWarning)
        MMDClassifier(max_epochs=2, batch_size=32, random_state=0).fit(
            Xs, ys, X_target=noisy
        )


def _finite_with_finite_grad(loss, *tensors):
    loss.backward()
    assert torch.isfinite(loss)
    for tensor in tensors:
        assert torch.all(torch.isfinite(tensor.grad))


def test_numerical_edge_cases_of_the_losses():
    identical = torch.ones(8, 5, requires_grad=True)
    same = torch.ones(8, 5, requires_grad=True)
    _finite_with_finite_grad(mmd_loss(identical, same), identical, same)
    zeros = torch.zeros(8, 5, requires_grad=True)
    _finite_with_finite_grad(mmd_loss(zeros, zeros * 1), zeros)
    coincident = torch.ones(6, 4, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    _finite_with_finite_grad(fisher_loss(coincident, labels), coincident)
    saturated = torch.tensor([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]], requires_grad=True)
    _finite_with_finite_grad(entropy_loss(saturated), saturated)


@pytest.mark.parametrize("scale", [1e-6, 1e4])
def test_extreme_pixel_values_train_to_finite_predictions(tiny_shift, scale):
    Xs, ys, Xt, _ = tiny_shift
    clf = MMDClassifier(max_epochs=2, batch_size=32, random_state=0)
    clf.fit(Xs * scale, ys, X_target=Xt * scale)
    assert np.all(np.isfinite(clf.predict_proba(Xt * scale)))
    assert np.all(np.isfinite(clf.history_[:, "train_loss"]))
