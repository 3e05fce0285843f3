"""Training-engine guarantees: kept epoch, validation split, resume state, monitors."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from skorch.callbacks import EarlyStopping
from skorch.history import History
from torch import nn

from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge._engine import target_monitor as _target_monitor
from skdamerge._engine.objectives import AdversarialObjective
from skdamerge._engine.precision import Precision
from skdamerge._engine.target_monitor import SELECTION_LOSS, TargetMonitor
from skdamerge.exceptions import TargetCollapseWarning
from skdamerge.metrics import MergerFractionEstimate, domain_adaptation_report
from skdamerge.metrics._collapse import target_collapse
from skdamerge.metrics._merger_fraction_estimate import trusted_fraction
from skdamerge.pipeline import make_da_pipeline
from skdamerge.preprocessing import DomainStandardizer

FAST = dict(max_epochs=3, batch_size=32, random_state=0)


def _load(path):
    return torch.load(path, weights_only=True)


# -- the kept epoch -------------------------------------------------------------------
def test_best_epoch_is_the_epoch_whose_weights_are_restored(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    clf = MMDClassifier(max_epochs=6, patience=10, batch_size=32, random_state=2)
    clf.fit(Xs, ys, X_target=Xt)
    callbacks = dict(clf.net_.callbacks_)
    keeper, early_stopping = callbacks["best_weights"], callbacks["early_stopping"]
    # The kept model and early stopping judge improvement by the same rule.
    assert clf.best_epoch_ == keeper.epoch == early_stopping.best_epoch_
    kept = keeper.weights
    for name, value in clf.module_.state_dict().items():
        torch.testing.assert_close(value, kept[name])
    # The monitored loss of the kept epoch is the best one by skorch's threshold.
    losses = clf.history_[:, SELECTION_LOSS]
    assert losses[clf.best_epoch_ - 1] == pytest.approx(min(losses), rel=1e-4)


class _FakeNet:
    """Just what TargetMonitor and EarlyStopping use of a net."""

    def __init__(self):
        self.history = History()
        self.module_ = nn.Linear(2, 2)
        self.device = "cpu"


def test_selection_never_restores_a_collapsed_epoch(monkeypatch):
    # Epochs 3 and 4 have the lowest validation loss but collapsed targets.
    losses = [0.6, 0.5, 0.3, 0.2]
    merger_proba = [0.5, 0.45, 0.999, 0.999]
    rng = np.random.default_rng(0)
    outputs = iter(
        np.clip(rng.normal(p, 0.2, 200) if p < 0.9 else np.full(200, p), 0, 1)
        for p in merger_proba
    )
    monkeypatch.setattr(
        _target_monitor,
        "predict_proba_batches",
        lambda net, X, batch_size: np.column_stack([1 - (p := next(outputs)), p]),
    )
    net = _FakeNet()
    monitor = TargetMonitor(np.zeros((200, 2)), 0.5, 32)
    stopping = EarlyStopping(monitor=SELECTION_LOSS, patience=10, load_best=True)
    stopping.on_train_begin(net)
    for epoch, loss in enumerate(losses, start=1):
        net.history.new_epoch()
        net.history.record("epoch", epoch)
        net.history.record("valid_loss", loss)
        monitor.on_epoch_end(net)
        stopping.on_epoch_end(net)
    assert net.history[:, "target_collapsed"] == [False, False, True, True]
    assert stopping.best_epoch_ == 2
    # Among collapsed epochs alone, the validation loss still decides.
    assert net.history[-1, SELECTION_LOSS] < net.history[-2, SELECTION_LOSS]


def test_history_records_target_fractions_and_fitted_attributes(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        clf = MMDClassifier(**FAST).fit(Xs, ys, X_target=Xt)
    fractions = clf.history_[:, "target_merger_fraction"]
    assert len(fractions) == 3
    # the last epoch's fraction is that of the model returned (no early stopping)
    assert fractions[-1] == pytest.approx(np.mean(clf.predict(Xt) == 1))
    train = np.setdiff1d(np.arange(len(ys)), clf.validation_index_)
    assert len(clf.validation_index_) == int(np.ceil(0.125 * len(ys)))
    assert clf.source_merger_fraction_ == pytest.approx(np.mean(ys[train] == 1))
    predicted = clf.predict(Xt).mean()  # the watched sample is the whole target
    assert clf.target_class_fractions_[1] == pytest.approx(predicted)
    assert clf.target_class_fractions_.sum() == pytest.approx(1.0)
    assert clf.target_collapse_.merger_fraction == pytest.approx(predicted)
    source_only = SourceOnlyClassifier(**FAST).fit(Xs, ys, X_target=Xt)
    assert "target_merger_fraction" not in source_only.history_[-1]
    assert not hasattr(source_only, "target_collapse_")


def _count_watched_passes(monkeypatch, n_watched):
    """Count the passes of the network over ``n_watched`` images during a fit."""
    from skdamerge._engine import inference
    from skdamerge._estimators import _base

    passes = []
    original = inference.forward_batches

    def counting(net, X, **kwargs):
        if len(X) == n_watched:
            passes.append(kwargs.get("orientation", 0))
        return original(net, X, **kwargs)

    monkeypatch.setattr(inference, "forward_batches", counting)
    monkeypatch.setattr(_base, "forward_batches", counting)
    return passes


def _expected_verdict(clf, proba):
    """The verdict of the kept model's predictions, with its estimate if trusted."""
    return target_collapse(
        proba,
        clf.source_merger_fraction_,
        estimated_fraction=trusted_fraction(clf.target_merger_fraction_),
    )


def test_end_of_fit_reuses_the_monitors_predictions(tiny_shift, monkeypatch):
    Xs, ys, Xt, _ = tiny_shift
    passes = _count_watched_passes(monkeypatch, len(Xt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        clf = MMDClassifier(max_epochs=4, patience=10, batch_size=32, random_state=1)
        clf.fit(Xs, ys, X_target=Xt)
    # One pass per epoch (the monitor); the verdict and the merger-fraction
    # estimate of the kept model reuse the pass of its epoch.
    assert len(passes) == clf.n_epochs_
    assert clf.best_epoch_ < clf.n_epochs_  # the kept epoch is not the last one
    proba = clf.predict_proba(Xt)
    assert clf.target_collapse_ == _expected_verdict(clf, proba)
    assert clf.target_merger_fraction_.count_fraction == np.mean(proba[:, 1] > 0.5)
    # Nothing computed from the watched images stays in the fitted model.
    monitor = dict(clf.net_.callbacks_)["target_monitor"]
    assert monitor.X_target is None and not monitor.probabilities
    assert monitor.last_weights is None


def test_end_of_fit_predicts_again_when_the_weights_changed(tiny_shift, monkeypatch):
    from skorch.callbacks import Callback

    class Nudge(Callback):
        def on_train_end(self, net, **kwargs):
            with torch.no_grad():
                next(net.module_.parameters()).add_(0.01)

    Xs, ys, Xt, _ = tiny_shift
    passes = _count_watched_passes(monkeypatch, len(Xt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        clf = MMDClassifier(validation_fraction=None, callbacks=[Nudge()], **FAST)
        clf.fit(Xs, ys, X_target=Xt)
    assert len(passes) == clf.n_epochs_ + 1
    proba = clf.predict_proba(Xt)
    assert clf.target_collapse_ == _expected_verdict(clf, proba)


@pytest.mark.slow
def test_collapsing_configuration_is_reported(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    # A huge entropy weight drives every target image into one class.
    with pytest.warns(TargetCollapseWarning, match="entropy_weight"):
        clf = MMDClassifier(
            entropy_weight=50.0, transfer_weight=0.0, lr=0.01, **FAST
        ).fit(Xs, ys, X_target=Xt)
    assert clf.target_collapse_.state in {"collapsed", "drifted"}
    assert min(clf.target_class_fractions_) < 0.1


def test_target_collapse_criterion():
    one_class = np.full(100, 0.9)
    assert target_collapse(one_class, 0.5).state == "collapsed"
    healthy = np.r_[np.full(50, 0.9), np.full(50, 0.1)]
    assert target_collapse(healthy, 0.5).healthy
    # 90% just past the threshold while the mean probability is 0.53: drift.
    drifted = np.r_[np.full(90, 0.55), np.full(10, 0.3)]
    verdict = target_collapse(drifted, 0.5)
    assert verdict.state == "drifted"
    assert verdict.merger_fraction == pytest.approx(0.9)
    assert verdict.mean_probability == pytest.approx(0.525)
    # A confident low-fraction survey is not drift.
    rare = np.r_[np.full(10, 0.95), np.full(90, 0.05)]
    assert target_collapse(rare, 0.5).healthy
    # ... unless a trusted label-free estimate puts the fraction far from the
    # count: then the threshold of predict cuts the ranking at the wrong place.
    verdict = target_collapse(rare, 0.5, estimated_fraction=0.45)
    assert verdict.state == "drifted"
    assert "0.10 of the target images" in verdict.reason
    assert "estimate of the merger fraction is 0.45" in verdict.reason
    assert target_collapse(rare, 0.5, estimated_fraction=0.29).healthy
    assert target_collapse(rare, 0.5, estimated_fraction=0.31).state == "drifted"
    assert target_collapse(
        rare, 0.5, estimated_fraction=0.31, max_estimate_gap=0.3
    ).healthy
    # A collapse stays a collapse whatever the estimate says.
    assert target_collapse(one_class, 0.5, estimated_fraction=0.9).collapsed


# -- validation split -----------------------------------------------------------------
def test_groups_keep_copies_out_of_the_validation_split(tiny_shift, tmp_path):
    Xs, ys, Xt, _ = tiny_shift
    groups = np.arange(len(ys)) // 4  # four copies of each galaxy
    y_groups = ys[groups * 4]  # copies share the label of their galaxy
    path = tmp_path / "run.ckpt"
    SourceOnlyClassifier(checkpoint_path=path, **{**FAST, "max_epochs": 1}).fit(
        Xs, y_groups, groups=groups
    )
    valid = np.asarray(_load(path)["valid_index"])
    train = np.setdiff1d(np.arange(len(ys)), valid)
    assert set(groups[valid]).isdisjoint(groups[train])
    assert 0.08 < len(valid) / len(ys) < 0.17
    with pytest.raises(ValueError, match="groups must hold one group label"):
        SourceOnlyClassifier(**FAST).fit(Xs, ys, groups=groups[:-1])


def test_validation_data_is_the_validation_set(tiny_shift):
    Xs, ys, Xt, yt = tiny_shift
    clf = SourceOnlyClassifier(patience=None, **FAST).fit(
        Xs, ys, validation_data=(Xt[:50], yt[:50])
    )
    proba = clf.predict_proba(Xt[:50])
    expected = -np.mean(np.log(proba[np.arange(50), yt[:50]]))
    assert clf.history_[-1, "valid_loss"] == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="validation_data must be a tuple"):
        SourceOnlyClassifier(**FAST).fit(Xs, ys, validation_data=Xt)
    with pytest.raises(ValueError, match="validation_data\\[1\\] has labels"):
        SourceOnlyClassifier(**FAST).fit(Xs, ys, validation_data=(Xt[:4], [0, 1, 2, 1]))


def test_resume_keeps_the_validation_split(tiny_shift, tmp_path):
    Xs, ys, Xt, _ = tiny_shift
    first, second = tmp_path / "a.ckpt", tmp_path / "b.ckpt"
    settings = dict(batch_size=32, random_state=None)
    MMDClassifier(max_epochs=1, checkpoint_path=first, **settings).fit(
        Xs, ys, X_target=Xt
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        MMDClassifier(
            max_epochs=2, checkpoint_path=second, resume_from=first, **settings
        ).fit(Xs, ys, X_target=Xt)
    saved = _load(first)["valid_index"]
    assert saved is not None and len(saved) == int(np.ceil(0.125 * len(ys)))
    assert _load(second)["valid_index"] == saved


def test_resume_restores_the_gradient_scaler(tiny_shift, tmp_path, monkeypatch):
    Xs, ys, _, _ = tiny_shift
    # float16 AMP needs CUDA; a CPU scaler exercises the same save/load path.
    monkeypatch.setattr(
        Precision, "make_grad_scaler", lambda self: torch.amp.GradScaler("cpu")
    )
    path, resumed_path = tmp_path / "a.ckpt", tmp_path / "b.ckpt"
    SourceOnlyClassifier(checkpoint_path=path, **{**FAST, "max_epochs": 1}).fit(Xs, ys)
    state = _load(path)
    assert state["grad_scaler"]["scale"] == 65536.0
    state["grad_scaler"]["scale"] = 1024.0
    torch.save(state, path)
    clf = SourceOnlyClassifier(
        checkpoint_path=resumed_path, resume_from=path, **{**FAST, "max_epochs": 2}
    ).fit(Xs, ys)
    assert clf.net_.grad_scaler_.get_scale() == 1024.0
    assert _load(resumed_path)["grad_scaler"]["scale"] == 1024.0


# -- domain classifier accuracy -------------------------------------------------------
def test_domain_accuracy_is_measured_without_dropout():
    torch.manual_seed(0)
    objective = AdversarialObjective(domain_dropout=0.9)
    classifier = objective.extra_modules(4)["domain_classifier"]
    source = torch.randn(64, 4) + 3.0
    target = torch.randn(64, 4) - 3.0
    classifier.eval()
    with torch.no_grad():
        logits = classifier(torch.cat([source, target])).reshape(-1)
    expected_source = (logits[:64] > 0).float().mean().item()
    expected_target = (logits[64:] <= 0).float().mean().item()
    classifier.train()
    acc_source, acc_target = objective._domain_accuracy(classifier, source, target)
    assert acc_source == pytest.approx(expected_source)
    assert acc_target == pytest.approx(expected_target)
    assert classifier.training  # the training mode is restored


def test_fisher_weights_checked_at_fit_entry(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with pytest.raises(ValueError, match="fisher_inter_weight=0 with the trace ratio"):
        MMDClassifier(fisher_intra_weight=0.01, fisher_inter_weight=0.0).fit(
            Xs, ys, X_target=Xt
        )
    with pytest.raises(ValueError, match="'fisher_intra_weight' parameter"):
        DANNClassifier(fisher_intra_weight=-1.0).fit(Xs, ys, X_target=Xt)


# -- label-free fraction and target decisions ------------------------------------
def test_fitted_fraction_estimate_uses_the_validation_images(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        clf = MMDClassifier(max_epochs=4, batch_size=32, random_state=1)
        clf.fit(Xs, ys, X_target=Xt)
    estimate = clf.target_merger_fraction_
    assert isinstance(estimate, MergerFractionEstimate)
    assert estimate.injection
    assert estimate.n_calibration == int(np.ceil(0.125 * len(ys)))
    assert estimate.n_target == len(Xt)  # the watched sample is the whole target
    assert estimate.count_fraction == pytest.approx(np.mean(clf.predict(Xt) == 1))
    # Flat features have no sky to inject into, a fit without validation no
    # unseen labelled images: no estimate, and target decisions at 0.5.
    flat = MMDClassifier(validation_fraction=None, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        flat.fit(
            Xs.reshape(len(Xs), -1)[:, :50],
            ys,
            X_target=Xt.reshape(len(Xt), -1)[:, :50],
        )
    assert flat.target_merger_fraction_ is None and flat.target_threshold_ is None


def test_target_decisions_follow_the_trusted_estimate(tiny_shift, monkeypatch):
    from skdamerge._estimators import _base as _estimators

    Xs, ys, Xt, yt = tiny_shift
    trusted = SimpleNamespace(fraction=0.3, trusted=True)
    monkeypatch.setattr(
        _estimators, "fitted_fraction_estimate", lambda *args, **kwargs: trusted
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        clf = MMDClassifier(**FAST).fit(Xs, ys, X_target=Xt)
    assert clf.target_merger_fraction_ is trusted
    target_labels = clf.predict(Xt, domain="target")
    assert np.mean(target_labels == 1) == pytest.approx(0.3)
    proba = clf.predict_proba(Xt)[:, 1]
    np.testing.assert_array_equal(target_labels, proba >= clf.target_threshold_)
    # Source images keep the most probable class.
    np.testing.assert_array_equal(clf.predict(Xs), clf.predict_proba(Xs).argmax(1))
    # The report puts the estimate and the accuracy at its threshold in the table.
    report = domain_adaptation_report(clf, Xs, ys, Xt, yt)
    assert report.target["estimated_merger_fraction"] == 0.3
    assert report.target["accuracy_at_estimate"] == pytest.approx(
        np.mean(target_labels == yt)
    )
    assert report.target["merger_fraction_at_estimate"] == pytest.approx(
        np.mean(target_labels == 1)
    )
    assert "Merger fraction at est." in str(report)
    assert "estimated_merger_fraction" not in report.source
    # A DA pipeline passes the domain on to the estimator.
    pipe = make_da_pipeline(DomainStandardizer(), MMDClassifier(**FAST))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        pipe.fit(Xs, ys, X_target=Xt)
    final = pipe.steps[-1][1]
    Xt_standard = pipe.steps[0][1].transform_target(Xt)
    np.testing.assert_array_equal(
        pipe.predict(Xt, domain="target"), final.predict(Xt_standard, domain="target")
    )
    # An untrusted estimate changes nothing.
    trusted.trusted = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        clf = MMDClassifier(**FAST).fit(Xs, ys, X_target=Xt)
    assert clf.target_threshold_ is None
    np.testing.assert_array_equal(clf.predict(Xt, domain="target"), clf.predict(Xt))
    with pytest.raises(ValueError, match="domain must be 'source' or 'target'"):
        clf.predict(Xt, domain="survey")


def test_fit_warns_when_the_count_is_far_from_the_trusted_estimate(
    tiny_shift, monkeypatch
):
    from skdamerge._estimators import _base as _estimators

    Xs, ys, Xt, _ = tiny_shift
    estimates = []

    def far_from_the_count(model, X_target, *args, target_proba, **kwargs):
        count = float(np.mean(target_proba[:, 1] > 0.5))
        estimates.append(
            SimpleNamespace(fraction=0.05 if count >= 0.5 else 0.95, trusted=True)
        )
        return estimates[-1]

    monkeypatch.setattr(_estimators, "fitted_fraction_estimate", far_from_the_count)
    with pytest.warns(TargetCollapseWarning) as caught:
        clf = MMDClassifier(**FAST).fit(Xs, ys, X_target=Xt)
    proba = clf.predict_proba(Xt)
    # Without the estimate this fit's target predictions pass the other checks.
    assert target_collapse(proba, clf.source_merger_fraction_).healthy
    assert clf.target_collapse_.state == "drifted"
    assert clf.target_collapse_ == _expected_verdict(clf, proba)
    message = str(caught[0].message)
    assert f"estimate of the merger fraction is {estimates[-1].fraction:.2f}" in message
    assert "predict(X, domain='target')" in message
    # An untrusted estimate is not evidence: the fit stays healthy and silent.
    monkeypatch.setattr(
        _estimators,
        "fitted_fraction_estimate",
        lambda *args, **kwargs: SimpleNamespace(fraction=0.05, trusted=False),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", TargetCollapseWarning)
        clf = MMDClassifier(**FAST).fit(Xs, ys, X_target=Xt)
    assert clf.target_collapse_.healthy


def test_pipeline_estimates_the_fraction_on_raw_images(tiny_shift):
    from skdamerge.metrics import estimate_merger_fraction
    from skdamerge.preprocessing import ArcsinhStretch, ChannelStandardizer

    Xs, ys, Xt, _ = tiny_shift
    pipe = make_da_pipeline(
        ArcsinhStretch(), ChannelStandardizer(), MMDClassifier(**FAST)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        pipe.fit(Xs, ys, X_target=Xt)
    final = pipe.steps[-1][1]
    index = final.validation_index_
    assert len(index) == int(np.ceil(0.125 * len(ys)))
    # Injection into the raw (linear flux) images, predictions through the steps.
    expected = estimate_merger_fraction(pipe, Xt, Xs[index], ys[index], random_state=0)
    assert final.target_merger_fraction_.fraction == expected.fraction
    assert final.target_merger_fraction_.trusted == expected.trusted
    assert (final.target_threshold_ is None) == (not expected.trusted)
