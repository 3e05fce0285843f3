import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge._engine.module import DomainAdaptationModule
from skdamerge._engine.objectives import (
    AdversarialObjective,
    DomainBatch,
    estimator_class,
    method_names,
)
from skdamerge.losses import domain_adversarial_loss
from skdamerge.nets import DeepMerge, DomainClassifier, FeatureExtractor

# Every registered method: a new one is checked here without an edit.
ESTIMATORS = [estimator_class(name) for name in method_names()]
FAST = dict(max_epochs=3, batch_size=32, random_state=0)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_predict_transform(Estimator, tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    clf = Estimator(**FAST).fit(Xs, ys, X_target=Xt)
    proba = clf.predict_proba(Xt)
    assert proba.shape == (len(Xt), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(clf.predict(Xs))) <= {0, 1}
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    # DeepMerge on 16x16 images: 32 channels of 2x2 after three poolings.
    assert clf.transform(Xs[:5]).shape == (5, 128)
    assert clf.n_features_in_ == 3
    assert clf.input_shape_ == (3, 16, 16)
    assert clf.score(Xs, ys) == pytest.approx(np.mean(clf.predict(Xs) == ys))
    # SHOT's fitted network is that of its target stage (target_epochs).
    expected = clf.get_params().get("target_epochs") or FAST["max_epochs"]
    assert clf.n_epochs_ == expected


def test_string_labels_and_positive_class(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    labels = np.where(ys == 1, "merger", "non-merger")
    clf = MMDClassifier(**FAST).fit(Xs, labels, X_target=Xt)
    np.testing.assert_array_equal(clf.classes_, ["merger", "non-merger"])
    pred = clf.predict(Xs)
    assert set(pred) <= {"merger", "non-merger"}
    proba = clf.predict_proba(Xs)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(1)])


def test_get_params_show_paper_hyperparameters_by_name():
    params = DANNClassifier().get_params()
    for name in [
        "transfer_weight",
        "fisher_intra_weight",
        "fisher_inter_weight",
        "entropy_weight",
        "domain_lr_multiplier",
        "cycle_length",
        "patience",
        "betas",
        "eps",
        "weight_decay",
        "dropout",
        "backbone",
        "max_epochs",
        "batch_size",
        "lr",
        "random_state",
        "device",
    ]:
        assert name in params
    assert not any("__" in name for name in params)
    assert "mmd_kernels" in MMDClassifier().get_params()
    # Table A2 DeepMerge defaults.
    assert SourceOnlyClassifier().weight_decay == 0.01
    assert MMDClassifier().weight_decay == 1e-4
    # Table A2's 1 for the plain adversarial row never trained the domain
    # classifier in the paper's code; the default is the A2 row's 0.01 with Fisher.
    assert DANNClassifier().domain_lr_multiplier == 0.01
    for est in (SourceOnlyClassifier(), MMDClassifier(), DANNClassifier()):
        assert (est.lr, est.betas, est.eps, est.cycle_length, est.patience) == (
            1e-3,
            (0.7, 0.8),
            1e-8,
            8,
            20,
        )
    assert clone(MMDClassifier(transfer_weight=0.3)).transfer_weight == 0.3


def test_history_records_every_component(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    clf = DANNClassifier(**FAST, fisher_intra_weight=0.01, entropy_weight=0.05)
    clf.fit(Xs, ys, X_target=Xt)
    last = clf.history_[-1]
    for key in [
        "train_loss",
        "train_classification_loss",
        "train_transfer_loss",
        "train_fisher_loss",
        "train_entropy_loss",
        "train_domain_acc_source",
        "train_domain_acc_target",
        "train_grl_coefficient",
        "lr",
        "valid_loss",
        "valid_acc",
        "valid_auc",
        "dur",
    ]:
        assert key in last, key
        assert np.isfinite(last[key])
    assert last["train_fisher_loss"] > 0
    assert last["train_entropy_loss"] > 0
    # The total is eq. 2 of the components (per batch, hence also on average).
    expected = (
        last["train_classification_loss"]
        + last["train_fisher_loss"]
        + 0.05 * last["train_entropy_loss"]
        + 1.0 * last["train_transfer_loss"]
    )
    assert np.isclose(last["train_loss"], expected, rtol=1e-4)


def test_cyclic_learning_rate_is_triangular(tiny_shift):
    Xs, ys, _, _ = tiny_shift
    lr = 0.01
    clf = SourceOnlyClassifier(
        max_epochs=4,
        batch_size=20,
        lr=lr,
        cycle_length=2,
        validation_fraction=None,
        random_state=0,
    ).fit(Xs, ys)
    batch_lrs = [b["lr"] for epoch in clf.history_ for b in epoch["batches"]]
    per_epoch = len(clf.history_[0]["batches"])
    assert per_epoch == 10
    # min -> max over one epoch, max -> min over the next: period = cycle_length.
    assert np.isclose(batch_lrs[0], lr / 10)
    assert np.isclose(batch_lrs[per_epoch], lr)
    assert np.isclose(batch_lrs[2 * per_epoch], lr / 10)
    assert np.isclose(batch_lrs[3 * per_epoch], lr)
    assert np.isclose(max(batch_lrs), lr) and np.isclose(min(batch_lrs), lr / 10)
    assert np.all(np.diff(batch_lrs[:per_epoch]) > 0)
    constant = SourceOnlyClassifier(
        max_epochs=2, batch_size=50, lr=lr, cycle_length=None, random_state=0
    ).fit(Xs, ys)
    np.testing.assert_allclose(constant.history_[:, "lr"], lr)


def test_early_stopping_keeps_the_best_model(tiny_shift):
    Xs, ys, _, _ = tiny_shift
    params = dict(batch_size=16, lr=0.02, random_state=3, cycle_length=None)
    stopped = SourceOnlyClassifier(max_epochs=40, patience=3, **params).fit(Xs, ys)
    assert stopped.n_epochs_ < 40, "early stopping did not trigger"
    assert stopped.n_epochs_ == stopped.best_epoch_ + 3
    valid_loss = stopped.history_[:, "valid_loss"]
    assert stopped.best_epoch_ == int(np.argmin(valid_loss)) + 1
    # The kept model is the one of the best epoch: a run that stops there
    # gives the same predictions.
    reference = SourceOnlyClassifier(
        max_epochs=stopped.best_epoch_, patience=None, **params
    ).fit(Xs, ys)
    np.testing.assert_allclose(
        stopped.predict_proba(Xs), reference.predict_proba(Xs), atol=1e-6
    )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_same_seed_same_model_and_pickle_round_trip(Estimator, tiny_shift, tmp_path):
    Xs, ys, Xt, _ = tiny_shift
    first = Estimator(**FAST).fit(Xs, ys, X_target=Xt)
    second = Estimator(**FAST).fit(Xs, ys, X_target=Xt)
    np.testing.assert_array_equal(first.predict_proba(Xt), second.predict_proba(Xt))
    other = Estimator(**{**FAST, "random_state": 1}).fit(Xs, ys, X_target=Xt)
    assert not np.allclose(first.predict_proba(Xt), other.predict_proba(Xt))
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(first.predict_proba(Xt), restored.predict_proba(Xt))
    joblib.dump(first, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(first.transform(Xt), loaded.transform(Xt))


def test_fit_does_not_touch_global_torch_rng(tiny_shift):
    Xs, ys, _, _ = tiny_shift
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SourceOnlyClassifier(max_epochs=1, batch_size=50, random_state=0).fit(Xs, ys)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_source_only_ignores_target_and_da_without_target(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with_target = SourceOnlyClassifier(**FAST).fit(Xs, ys, X_target=Xt)
    without = SourceOnlyClassifier(**FAST).fit(Xs, ys)
    np.testing.assert_array_equal(
        with_target.predict_proba(Xt), without.predict_proba(Xt)
    )
    mmd = MMDClassifier(**FAST).fit(Xs, ys)
    assert np.all(np.asarray(mmd.history_[:, "train_transfer_loss"]) == 0)


def test_dann_domain_classifier_is_optimised_with_its_multiplier(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    clf = DANNClassifier(
        **FAST, domain_lr_multiplier=0.1, cycle_length=None, grl_schedule="constant"
    )
    clf.fit(Xs, ys, X_target=Xt)
    groups = clf.net_.optimizer_.param_groups
    domain_params = set(clf.module_.domain_classifier.parameters())
    assert len(groups) == 2
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in domain_params}
    assert not domain_params & set(groups[0]["params"])
    assert np.isclose(groups[1]["lr"], 0.1 * groups[0]["lr"])


def test_dann_domain_classifier_learns(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    # Without the reversed gradient the features stay domain-specific, and a
    # trained discriminator must tell the domains apart: its loss falls well
    # below chance (2 log 2 for the sum of two BCE means). At the full learning
    # rate, so that four epochs suffice.
    clf = DANNClassifier(
        domain_lr_multiplier=1.0,
        max_epochs=4,
        batch_size=32,
        random_state=0,
        grl_schedule="ganin",
    ).fit(Xs, ys, X_target=Xt)
    first_epoch = clf.history_[0]
    assert first_epoch["train_grl_coefficient"] < 0.5
    best_accuracy = max(
        (a + b) / 2
        for a, b in zip(
            clf.history_[:, "train_domain_acc_source"],
            clf.history_[:, "train_domain_acc_target"],
            strict=True,
        )
    )
    assert best_accuracy > 0.8
    assert min(clf.history_[:, "train_transfer_loss"]) < 0.7 * 2 * np.log(2)


def test_feature_extractor_receives_reversed_domain_gradient():
    torch.manual_seed(0)
    extractor = FeatureExtractor(DeepMerge(image_size=16))
    module = DomainAdaptationModule(
        extractor, {"domain_classifier": DomainClassifier(128)}
    )
    module.eval()  # no dropout: two passes give the same numbers
    xs, xt = torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16) + 1
    conv = extractor.backbone.features[0].weight
    domain_weight = module.domain_classifier.layers[0].weight
    progress = 0.1
    coefficient = 2 / (1 + np.exp(-10 * progress)) - 1  # Ganin's schedule

    objective = AdversarialObjective(transfer_weight=1.0, grl_schedule="ganin")
    module.zero_grad()
    features, logits = module(torch.cat([xs, xt]))
    domain_loss, records = objective.transfer(
        module,
        DomainBatch(features[:8], logits[:8]),
        DomainBatch(features[8:], logits[8:]),
        progress,
    )
    assert np.isclose(records["grl_coefficient"], coefficient)
    domain_loss.backward()
    reversed_conv, reversed_domain = conv.grad.clone(), domain_weight.grad.clone()

    module.zero_grad()
    features, _ = module(torch.cat([xs, xt]))
    plain = domain_adversarial_loss(
        module.domain_classifier(features[:8]), module.domain_classifier(features[8:])
    )
    plain.backward()
    # The feature extractor gets minus the domain gradient times the schedule's
    # coefficient (ascent on the domain loss); the domain classifier itself gets
    # the ordinary gradient (descent).
    torch.testing.assert_close(reversed_conv, -coefficient * conv.grad)
    torch.testing.assert_close(reversed_domain, domain_weight.grad)
    assert conv.grad.abs().sum() > 0


def test_transfer_learning_from_estimator_and_file(tiny_shift, tmp_path):
    Xs, ys, Xt, _ = tiny_shift
    source_model = SourceOnlyClassifier(**FAST).fit(Xs, ys)
    path = tmp_path / "weights.pt"
    source_model.save_weights(path)
    tiny_lr = dict(lr=1e-12, max_epochs=1, batch_size=32, random_state=5)
    from_estimator = MMDClassifier(init_weights=source_model, **tiny_lr)
    from_file = MMDClassifier(init_weights=str(path), **tiny_lr)
    from_estimator.fit(Xs, ys, X_target=Xt)
    from_file.fit(Xs, ys, X_target=Xt)
    np.testing.assert_allclose(
        from_estimator.predict_proba(Xt), from_file.predict_proba(Xt), atol=1e-6
    )
    # With a negligible learning rate the weights are those of the source model
    # (up to batch-norm running statistics), unlike a fresh initialisation.
    start = source_model.module_.extractor.backbone.state_dict()
    after = from_file.module_.extractor.backbone.state_dict()
    for name, value in start.items():
        if "running" not in name and "num_batches" not in name:
            torch.testing.assert_close(after[name], value)
    fresh = MMDClassifier(**tiny_lr).fit(Xs, ys, X_target=Xt)
    fresh_weights = fresh.module_.extractor.backbone.state_dict()
    assert not torch.equal(
        fresh_weights["features.0.weight"], start["features.0.weight"]
    )


def test_freeze_features_trains_only_the_head(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    source_model = SourceOnlyClassifier(**FAST).fit(Xs, ys)
    # A fine-tune of the head on other data (the target-like noisy images, with
    # labels here): the frozen layers keep weights and batch-norm statistics.
    tuned = SourceOnlyClassifier(
        init_weights=source_model, freeze_features=True, lr=0.01, **FAST
    ).fit(Xt, ys)
    before = source_model.module_.extractor.backbone
    after = tuned.module_.extractor.backbone
    for layer in (0, 4, 8):
        torch.testing.assert_close(
            after.features[layer].weight, before.features[layer].weight
        )
        assert not after.features[layer].weight.requires_grad
    for norm in (2, 6, 10):
        assert isinstance(after.features[norm], nn.BatchNorm2d)
        torch.testing.assert_close(
            after.features[norm].running_mean, before.features[norm].running_mean
        )
        torch.testing.assert_close(
            after.features[norm].running_var, before.features[norm].running_var
        )
        assert after.features[norm].num_batches_tracked == (
            before.features[norm].num_batches_tracked
        )
    assert not torch.equal(after.classifier[0].weight, before.classifier[0].weight)
    # Frozen norm layers stay in evaluation mode when the module trains.
    tuned.module_.train()
    assert not after.features[2].training
    assert after.classifier[0].training


@pytest.mark.parametrize(
    ("Estimator", "extra"),
    [
        (MMDClassifier, {}),
        (DANNClassifier, {}),
        (MMDClassifier, {"transfer_weight": 0, "fisher_intra_weight": 0.01}),
    ],
)
def test_freeze_features_refuses_to_disable_adaptation(Estimator, extra, tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with pytest.raises(ValueError, match="freeze_features=True .* disable adaptation"):
        Estimator(freeze_features=True, **extra, **FAST).fit(Xs, ys, X_target=Xt)
    # Without a target there is nothing to adapt: a plain head fine-tune.
    Estimator(freeze_features=True, **extra, **{**FAST, "max_epochs": 1}).fit(Xs, ys)
    # A head fine-tune with entropy minimisation only is allowed.
    MMDClassifier(
        freeze_features=True,
        transfer_weight=0,
        entropy_weight=0.1,
        **{**FAST, "max_epochs": 1},
    ).fit(Xs, ys, X_target=Xt)


def test_init_weights_errors(tiny_shift, tmp_path):
    Xs, ys, Xt, _ = tiny_shift
    small = SourceOnlyClassifier(**FAST).fit(Xs, ys)
    with pytest.raises(ValueError, match="do not fit this backbone"):
        SourceOnlyClassifier(init_weights=small, backbone="resnet18", **FAST).fit(
            Xs, ys
        )
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read"):
        SourceOnlyClassifier(init_weights=str(corrupt), **FAST).fit(Xs, ys)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        SourceOnlyClassifier(init_weights=str(tmp_path / "missing.pt"), **FAST).fit(
            Xs, ys
        )


def test_flat_features_use_the_mlp(tiny_shift):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    clf = MMDClassifier(max_epochs=30, batch_size=32, random_state=0, lr=0.01)
    clf.fit(X, y, X_target=X + 0.2)
    assert clf.score(X, y) > 0.85
    assert clf.transform(X).shape == (120, 64)


class _UserNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2)
        )
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(self.body(x).flatten(1))


def test_user_backbone_and_resnet18(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    user = _UserNet()
    initial = user.head.weight.detach().clone()
    clf = DANNClassifier(backbone=user, feature_layer="body", **FAST).fit(
        Xs, ys, X_target=Xt
    )
    assert clf.transform(Xs[:4]).shape == (4, 16)
    assert torch.equal(user.head.weight, initial), "the user's module was modified"
    resnet = MMDClassifier(
        backbone="resnet18", max_epochs=1, batch_size=50, random_state=0
    )
    resnet.fit(Xs, ys, X_target=Xt)
    assert resnet.transform(Xs[:3]).shape == (3, 512)


def test_input_errors(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    clf = MMDClassifier(**FAST)
    with pytest.raises(ValueError, match="Only binary classification"):
        clf.fit(Xs, np.arange(len(Xs)) % 3)
    with pytest.raises(ValueError, match="different numbers of samples"):
        clf.fit(Xs, ys[:-1])
    with pytest.raises(ValueError, match="channels-last"):
        clf.fit(np.moveaxis(np.repeat(np.repeat(Xs, 2, 2), 2, 3), 1, -1), ys)
    with pytest.raises(
        ValueError, match="X_target has samples of shape .* but X expects"
    ):
        clf.fit(Xs, ys, X_target=Xt[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        bad = Xs.copy()
        bad[0, 0, 0, 0] = np.nan
        clf.fit(bad, ys)
    clf.fit(Xs, ys, X_target=Xt)
    with pytest.raises(ValueError, match="MMDClassifier expects samples of shape"):
        clf.predict(Xs[:, :, :8, :8])
    with pytest.raises(ValueError, match="'backbone' parameter"):
        MMDClassifier(backbone="vgg", **FAST).fit(Xs, ys)
    with pytest.raises(ValueError, match="validation_fraction"):
        MMDClassifier(validation_fraction=1.5, **FAST).fit(Xs, ys)


def test_integer_and_float64_input_are_converted(tiny_shift):
    Xs, ys, _, _ = tiny_shift
    as_uint8 = (Xs.clip(0, 1) * 255).astype(np.uint8)
    clf = SourceOnlyClassifier(**FAST).fit(as_uint8, ys)
    np.testing.assert_allclose(
        clf.predict_proba(as_uint8), clf.predict_proba(as_uint8.astype(np.float64))
    )


def test_user_callbacks_run_in_the_training_loop(tiny_shift):
    from skorch.callbacks import Callback

    class EpochCounter(Callback):
        def initialize(self):
            self.epochs_ = []
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs_.append(net.history[-1, "epoch"])

    counter = EpochCounter()
    Xs, ys, Xt, _ = tiny_shift
    clf = MMDClassifier(**FAST, callbacks=[("counter", counter)]).fit(
        Xs, ys, X_target=Xt
    )
    seen = dict(clf.net_.callbacks_)["counter"]
    assert seen.epochs_ == [1, 2, 3]
    assert clf.get_params()["callbacks"][0][0] == "counter"
