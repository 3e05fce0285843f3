"""SHOT: its losses and pseudo-labels by hand, the frozen head, the source-free mode."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import make_pair_shift
from scipy.spatial.distance import cdist
from skorch.history import History

from skdamerge import SHOTClassifier, SourceOnlyClassifier
from skdamerge._engine.batches import SourceTargetBatches
from skdamerge._engine.module import DomainAdaptationModule
from skdamerge._engine.objectives import SHOTObjective
from skdamerge._engine.objectives.shot import SHOTSourceObjective
from skdamerge._engine.precision import Precision
from skdamerge.cli._methods import methods_for
from skdamerge.losses import (
    information_maximization_loss,
    marginal_entropy,
    shot_pseudo_labels,
)
from skdamerge.nets import FeatureExtractor, make_backbone

FAST = dict(max_epochs=2, batch_size=32, random_state=0)
SHOT_FAST = {**FAST, "target_epochs": 2}


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- losses against hand computations ----------------------------------------------
def test_information_maximization_loss_by_hand():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    p = _softmax(logits)
    per_sample = -(p * np.log(p)).sum(axis=1)  # H(p_i)
    mean_p = p.mean(axis=0)
    diversity = -(mean_p * np.log(mean_p)).sum()  # H(mean p)
    tensor = torch.tensor(logits)
    torch.testing.assert_close(marginal_entropy(tensor).item(), diversity)
    for weight in (1.0, 0.4):
        loss = information_maximization_loss(tensor, diversity_weight=weight)
        torch.testing.assert_close(loss.item(), per_sample.mean() - weight * diversity)
    # All samples confident in one class: no diversity, IM at its worst value 0.
    one_class = torch.tensor([[30.0, 0.0], [25.0, 0.0]])
    assert marginal_entropy(one_class).item() == pytest.approx(0, abs=1e-9)
    # Confident and balanced: the minimum -log 2.
    balanced = torch.tensor([[30.0, 0.0], [0.0, 30.0]])
    assert information_maximization_loss(balanced).item() == pytest.approx(
        -np.log(2), abs=1e-6
    )


def test_pseudo_labels_correct_a_misclassified_point_of_a_feature_cluster():
    # Two clusters in feature space; the last point sits in the first cluster but
    # the network calls it class 1: the nearest centroid gives it back class 0.
    features = torch.tensor(
        [[2.0, 0.0], [3.0, 0.2], [0.0, 1.0], [0.1, 2.0], [2.5, 0.1]]
    )
    proba = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])
    labels = shot_pseudo_labels(features, proba)
    assert labels.dtype == torch.int64
    assert labels.tolist() == [0, 0, 1, 1, 0]
    # The paper's code (the default): a class that the network predicts for no
    # sample gets no centroid. Its equations keep both, and the second cluster
    # gets class 1 although no image is predicted in it.
    all_zero = torch.tensor([[0.9, 0.1]] * 2 + [[0.55, 0.45]] * 2 + [[0.9, 0.1]])
    assert shot_pseudo_labels(features, all_zero).tolist() == [0] * 5
    every = shot_pseudo_labels(features, all_zero, only_predicted_classes=False)
    assert every.tolist() == [0, 0, 1, 1, 0]


def test_pseudo_labels_follow_the_papers_weighted_k_means_step():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 5)) + np.repeat(np.eye(5)[:4] * 2, 10, axis=0)
    proba = _softmax(rng.normal(size=(40, 4)) * 2)
    # The paper's code (obtain_label, cosine distance), step by step.
    f = np.hstack([features, np.ones((40, 1))])
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    centroids = proba.T @ f / (1e-8 + proba.sum(axis=0)[:, None])
    present = np.flatnonzero(np.bincount(proba.argmax(1), minlength=4) > 0)
    first = present[cdist(f, centroids[present], "cosine").argmin(axis=1)]
    hard = np.eye(4)[first]
    centroids = hard.T @ f / (1e-8 + hard.sum(axis=0)[:, None])
    expected = present[cdist(f, centroids[present], "cosine").argmin(axis=1)]
    labels = shot_pseudo_labels(torch.tensor(features), torch.tensor(proba))
    np.testing.assert_array_equal(labels.numpy(), expected)
    zero_rounds = shot_pseudo_labels(
        torch.tensor(features), torch.tensor(proba), n_rounds=0
    )
    np.testing.assert_array_equal(zero_rounds.numpy(), first)
    with pytest.raises(ValueError, match="one row per sample"):
        shot_pseudo_labels(torch.tensor(features), torch.tensor(proba[:3]))


# -- objectives against their terms ----------------------------------------------------
def _module(n_in=6, seed=0):
    torch.manual_seed(seed)
    extractor = FeatureExtractor(make_backbone("mlp", (n_in,)), None)
    return DomainAdaptationModule(extractor).eval()


def test_shot_objective_is_im_plus_beta_pseudo_label_ce_on_the_batch_rows():
    objective = SHOTObjective(shot_beta=0.3, diversity_weight=0.7)
    module = _module()
    X_target = torch.randn(10, 6, generator=torch.Generator().manual_seed(1))
    objective.pseudo_labels_ = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1, 1])
    rows = np.array([7, 2, 5, 0])
    out = objective(module, None, None, None, X_target[rows], 0.5, target_index=rows)
    with torch.no_grad():
        logits = module(X_target[rows])[1].double().numpy()
    p = _softmax(logits)
    entropy = -(p * np.log(p)).sum(1).mean()
    mean_p = p.mean(0)
    diversity = -(mean_p * np.log(mean_p)).sum()
    labels = np.array([1, 1, 0, 0])  # pseudo_labels_[rows]
    ce = -np.log(p[np.arange(4), labels]).mean()
    for key, value in [
        ("entropy_loss", entropy),
        ("diversity", diversity),
        ("pseudo_label_loss", ce),
        ("loss", entropy - 0.7 * diversity + 0.3 * ce),
    ]:
        assert float(out[key].detach()) == pytest.approx(value, rel=1e-5), key
    # The labels of other rows give another loss: the rows are used.
    other = objective(
        module, None, None, None, X_target[rows], 0.5, target_index=np.arange(4)
    )
    assert float(other["pseudo_label_loss"].detach()) != pytest.approx(ce, rel=1e-3)
    # shot_beta=0 is information maximisation alone (needs no pseudo-labels).
    im = SHOTObjective(shot_beta=0.0)(module, None, None, None, X_target[rows], 0.5)
    assert float(im["loss"].detach()) == pytest.approx(entropy - diversity, abs=1e-6)


def test_epoch_start_labels_every_target_image_from_the_current_network():
    objective = SHOTObjective(shot_beta=0.3)
    module = _module()
    X_target = np.random.default_rng(2).normal(size=(30, 6)).astype(np.float32)
    history = History()
    history.new_epoch()
    net = SimpleNamespace(
        module_=module,
        device="cpu",
        batch_size=8,
        channels_last=False,
        precision_policy=Precision(device_type="cpu"),
        history=history,
    )
    module.train()
    objective.epoch_start(net, X_target)
    assert module.training  # the mode is restored
    module.eval()
    with torch.no_grad():
        features, logits = module(torch.from_numpy(X_target))
    expected = shot_pseudo_labels(features, torch.softmax(logits, 1))
    torch.testing.assert_close(objective.pseudo_labels_, expected)
    assert history[-1, "pseudo_label_merger_fraction"] == pytest.approx(
        expected.double().mean().item()
    )


def test_source_stage_objective_is_label_smoothed_cross_entropy():
    objective = SHOTSourceObjective(label_smoothing=0.1)
    module = _module()
    xs = torch.randn(6, 6, generator=torch.Generator().manual_seed(3))
    ys = torch.tensor([0, 1, 1, 0, 1, 0])
    out = objective(module, None, xs, ys, None, 0.0)
    with torch.no_grad():
        log_p = np.log(_softmax(module(xs)[1].double().numpy()))
    nll = -log_p[np.arange(6), ys.numpy()]
    uniform = -log_p.mean(axis=1)  # cross-entropy against (1/2, 1/2)
    expected = (0.9 * nll + 0.1 * uniform).mean()
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-5)


def test_target_only_batches_carry_their_rows():
    X_target = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    rng = np.random.default_rng(0)
    batches = SourceTargetBatches(
        None, None, X_target, 4, torch.device("cpu"), rng, target_indices=True
    )
    assert len(batches) == 3
    seen = []
    for batch in batches:
        xs, ys, xt, rows = batch
        assert xs is None and ys is None and len(batch) == len(xt)
        np.testing.assert_array_equal(xt.numpy(), X_target[rows])
        seen.extend(rows.tolist())
    assert sorted(seen) == list(range(10))  # one pass over the target
    # Source batches stay (xs, ys, xt) unless rows are asked for.
    cpu = torch.device("cpu")
    plain = SourceTargetBatches(X_target, np.zeros(10), X_target, 4, cpu, rng)
    assert all(len(batch) == 3 for batch in plain)


# -- the estimator ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def source_model(tiny_shift):
    Xs, ys, _, _ = tiny_shift
    return SourceOnlyClassifier(**FAST).fit(Xs, ys)


def test_target_stage_freezes_the_head_and_trains_the_features(
    tiny_shift, source_model
):
    _, _, Xt, _ = tiny_shift
    before = {
        k: v.clone()
        for k, v in source_model.module_.extractor.backbone.state_dict().items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        shot = SHOTClassifier(source_model=source_model, shot_beta=0.3, **SHOT_FAST)
        shot.fit(X_target=Xt)
    after = shot.module_.extractor.backbone.state_dict()
    head = [k for k in after if k.startswith("classifier.")]
    assert head
    for name in head:
        torch.testing.assert_close(after[name], before[name])
    assert not torch.equal(after["features.0.weight"], before["features.0.weight"])
    assert not any(
        p.requires_grad for p in shot.module_.extractor.backbone.classifier.parameters()
    )
    # The source model is left as it was.
    for name, value in source_model.module_.extractor.backbone.state_dict().items():
        torch.testing.assert_close(value, before[name])
    history = shot.history_
    assert shot.n_epochs_ == 2 and shot.best_epoch_ == 2  # no early stopping
    assert all("pseudo_label_merger_fraction" in row for row in history)
    assert "valid_loss" not in history[-1]
    assert shot.source_estimator_ is None
    assert shot.target_collapse_.state in ("healthy", "drifted", "collapsed")
    assert shot.target_merger_fraction_ is None  # no labelled source to calibrate
    assert shot.source_merger_fraction_ == source_model.source_merger_fraction_


def test_target_stage_trains_at_lr_times_target_lr_multiplier(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    objective = SHOTObjective(target_lr_multiplier=0.1)
    assert objective.lr_multipliers() == {"extractor": 0.1}
    source = SourceOnlyClassifier(**FAST).fit(Xs, ys)
    fast = {**SHOT_FAST, "lr": 1e-3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scaled = SHOTClassifier(source_model=source, target_lr_multiplier=0.1, **fast)
        plain = SHOTClassifier(
            source_model=source, target_lr_multiplier=1.0, **{**fast, "lr": 1e-4}
        )
        full = SHOTClassifier(source_model=source, target_lr_multiplier=1.0, **fast)
        for shot in (scaled, plain, full):
            shot.fit(X_target=Xt)
    # lr=1e-3 at a tenth trains as lr=1e-4 does, and unlike lr=1e-3.
    np.testing.assert_allclose(
        scaled.predict_proba(Xt), plain.predict_proba(Xt), atol=1e-6
    )
    assert np.abs(scaled.predict_proba(Xt) - full.predict_proba(Xt)).max() > 1e-3
    # The multiplier is the target stage's only: the source stage trains at lr.
    two_stage = [
        SHOTClassifier(target_lr_multiplier=m, **fast).fit(Xs, ys, X_target=Xt)
        for m in (0.1, 1.0)
    ]
    first, second = (shot.source_estimator_.predict_proba(Xt) for shot in two_stage)
    np.testing.assert_array_equal(first, second)


def test_target_epochs_is_the_length_of_the_target_stage(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        shot = SHOTClassifier(**{**FAST, "patience": 5}, target_epochs=3)
        shot.fit(Xs, ys, X_target=Xt)
        assert shot.source_estimator_.n_epochs_ == 2  # max_epochs
        assert shot.n_epochs_ == 3 and len(shot.history_) == 3
        shot.set_params(target_epochs=None).fit(Xs, ys, X_target=Xt)
        assert shot.n_epochs_ == 2  # None: max_epochs


def test_source_free_from_a_weights_file_and_string_classes(tiny_shift, tmp_path):
    Xs, ys, Xt, _ = tiny_shift
    labels = np.where(ys == 1, "merger", "single")
    source = SourceOnlyClassifier(**FAST).fit(Xs, labels)
    from_estimator = SHOTClassifier(source_model=source, **SHOT_FAST).fit(X_target=Xt)
    assert list(from_estimator.classes_) == ["merger", "single"]
    path = tmp_path / "source.pt"
    source.save_weights(path)
    from_file = SHOTClassifier(source_model=str(path), **SHOT_FAST).fit(X_target=Xt)
    assert list(from_file.classes_) == [0, 1]
    assert from_file.source_merger_fraction_ == 0.5
    # The same network, adapted the same way, whichever way it was given.
    np.testing.assert_allclose(
        from_file.predict_proba(Xt), from_estimator.predict_proba(Xt), atol=1e-5
    )


def test_two_stage_fit_trains_the_source_with_label_smoothing(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    shot = SHOTClassifier(**SHOT_FAST, label_smoothing=0.2).fit(Xs, ys, X_target=Xt)
    stage = shot.source_estimator_
    assert isinstance(stage, SourceOnlyClassifier)
    assert stage.net_.objective.label_smoothing == 0.2
    assert "valid_loss" in shot.history_[-1]  # source validation, recorded
    assert hasattr(shot, "target_collapse_")
    assert hasattr(shot, "target_merger_fraction_")
    np.testing.assert_array_equal(shot.validation_index_, stage.validation_index_)


def test_both_stages_turn_square_images_by_default(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    turned = SHOTClassifier(**SHOT_FAST).fit(Xs, ys, X_target=Xt)
    plain = SHOTClassifier(**SHOT_FAST, augment=False).fit(Xs, ys, X_target=Xt)
    assert turned.source_estimator_.augment == "auto"
    assert plain.source_estimator_.augment is False
    # The source stage trained on turned images: another source model.
    assert not np.allclose(
        turned.source_estimator_.predict_proba(Xt),
        plain.source_estimator_.predict_proba(Xt),
        atol=1e-4,
    )
    # The target stage turns them too: from one source model, two adapted models.
    source = plain.source_estimator_
    adapted = SHOTClassifier(source_model=source, **SHOT_FAST).fit(X_target=Xt)
    unturned = SHOTClassifier(source_model=source, augment=False, **SHOT_FAST)
    unturned.fit(X_target=Xt)
    assert not np.allclose(
        adapted.predict_proba(Xt), unturned.predict_proba(Xt), atol=1e-4
    )


def test_a_source_is_required_and_only_one(tiny_shift, source_model, tmp_path):
    Xs, ys, Xt, _ = tiny_shift
    with pytest.raises(ValueError, match="X, y.*source_model.*got neither"):
        SHOTClassifier().fit(X_target=Xt)
    with pytest.raises(ValueError, match="pass X=None and y=None"):
        SHOTClassifier(source_model=source_model).fit(Xs, ys, X_target=Xt)
    with pytest.raises(ValueError, match="init_weights.*not both"):
        SHOTClassifier(source_model=source_model, init_weights=source_model).fit(
            X_target=Xt
        )
    with pytest.raises(ValueError, match="pass the unlabelled target"):
        SHOTClassifier(source_model=source_model).fit()
    with pytest.raises(ValueError, match="freeze_features=True"):
        SHOTClassifier(source_model=source_model, freeze_features=True).fit(X_target=Xt)
    with pytest.raises(FileNotFoundError):
        SHOTClassifier(source_model=str(tmp_path / "none.pt")).fit(X_target=Xt)
    with pytest.raises(ValueError, match="X_target"):
        SHOTClassifier(source_model=source_model).fit(X_target=Xt[:, :, :8, :8])
    # Parameters are checked first, before the data.
    with pytest.raises(ValueError, match="'shot_beta' parameter"):
        SHOTClassifier(shot_beta=-1).fit()


def test_shot_is_a_method_of_reproduce():
    (row,) = methods_for("sim2sim", "deepmerge", ["SHOT"])
    assert isinstance(row.build(), SHOTClassifier)


# -- adaptation on a simulated shift ---------------------------------------------
# Measured on these 32x32 shifts (noise 0.25, 256 training images per domain, 12
# epochs, 150 held-out target images), with the defaults (target stage at a tenth
# of lr, information maximisation alone, 15 epochs, the images turned). Pair seed 3:
# the source model calls every target image a merger (accuracy 0.52); source-free
# SHOT reaches 0.65 (gain 0.13; 0.61 without turning the images), from the model
# object or its weights file alike. Both stages from the source data, pair seeds
# 3/4/5/6: gains 0.09/0.14/0.34/0.09 over source-only (mean 0.17; without turning
# the images 0.01/0.19/0.12/0.09, mean 0.10; the paper's settings, the target stage
# at lr with shot_beta=0.3 and no turning: 0.03/-0.06/0.17/-0.01). Required: about
# half of the measured gains. Source-free over seeds 0-7 (source models 0.52 each):
# gains 0.107/0.200/0.113/0.180/0.140/0.240/0.107/0.133, and with the first
# block's batch normalisation computed through its row matrix (other rounding,
# so another path for each seed) 0.040/0.200/0.107/0.187/0.200/0.247/0.067/0.073:
# one seed alone ranges from 0.04 to 0.25, so the test takes the mean of four.
SHOT_GAIN = 0.06
SOURCE_FREE_SEEDS = 4
TWO_STAGE_MEAN_GAIN = 0.08


@pytest.mark.slow
def test_source_free_shot_beats_its_source_model_on_held_out_target(tmp_path):
    Xs, ys, Xt, yt = make_pair_shift(406, size=32, noise=0.25, seed=3)
    fit, held = slice(0, 256), slice(256, None)
    gains = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for seed in range(SOURCE_FREE_SEEDS):
            training = dict(max_epochs=12, batch_size=16, random_state=seed)
            source = SourceOnlyClassifier(**training).fit(Xs[fit], ys[fit])
            shot = SHOTClassifier(source_model=source, **training)
            shot.fit(X_target=Xt[fit])
            if seed == 0:
                # From the saved weights file: the same adapted model.
                path = tmp_path / "source.pt"
                source.save_weights(path)
                from_file = SHOTClassifier(source_model=path, **training)
                from_file.fit(X_target=Xt[fit])
                np.testing.assert_array_equal(
                    from_file.predict_proba(Xt[held]), shot.predict_proba(Xt[held])
                )
            baseline = source.score(Xt[held], yt[held])
            accuracy = shot.score(Xt[held], yt[held])
            print(f"seed {seed}: source model {baseline:.3f}, SHOT {accuracy:.3f}")
            gains.append(accuracy - baseline)
            assert shot.target_collapse_.state != "collapsed"
    assert np.mean(gains) >= SHOT_GAIN
    assert min(gains) > 0


@pytest.mark.slow
def test_two_stage_shot_beats_source_only_on_held_out_target():
    fit, held = slice(0, 256), slice(256, None)
    training = dict(max_epochs=12, batch_size=16, random_state=0)
    gains = []
    for pair_seed in (3, 4, 5, 6):
        Xs, ys, Xt, yt = make_pair_shift(406, size=32, noise=0.25, seed=pair_seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            source_only = SourceOnlyClassifier(**training).fit(Xs[fit], ys[fit])
            shot = SHOTClassifier(**training).fit(Xs[fit], ys[fit], X_target=Xt[fit])
        gains.append(
            shot.score(Xt[held], yt[held]) - source_only.score(Xt[held], yt[held])
        )
    print(f"SHOT's gains over source only: {np.round(gains, 3)}")
    assert np.mean(gains) >= TWO_STAGE_MEAN_GAIN


def test_source_free_on_flat_features():
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 40)
    X = (rng.normal(size=(80, 5)) + 1.5 * y[:, None]).astype(np.float32)
    Xt = (rng.normal(size=(60, 5)) + 1.0).astype(np.float32)
    source = SourceOnlyClassifier(**FAST).fit(X, y)
    shot = SHOTClassifier(source_model=source, **SHOT_FAST).fit(X_target=Xt)
    assert shot.predict_proba(Xt).shape == (60, 2)
    assert shot.input_shape_ == (5,)
    head = shot.module_.extractor.backbone.classifier
    assert not any(param.requires_grad for param in head.parameters())
