import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import (
    GridSearchCV,
    RandomizedSearchCV,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier, TargetDomain
from skdamerge._engine.objectives import estimator_class, method_names
from skdamerge.metrics import make_im_scorer, make_target_scorer
from skdamerge.pipeline import (
    DomainAdaptationPipeline,
    _active_steps,
    make_da_pipeline,
)
from skdamerge.preprocessing import ChannelStandardizer

# Fast settings: scikit-learn's checks use small tabular data (MLP backbone).
CHECK_SETTINGS = dict(max_epochs=15, batch_size=32, lr=0.01, random_state=0)


# SHOT's fit needs target images (its source stage alone is a source-only fit
# with label smoothing), which scikit-learn's checks do not pass.
NEEDS_TARGET = {"shot"}


@parametrize_with_checks(
    # Every registered method: a new one is checked here without an edit.
    [
        estimator_class(name)(**CHECK_SETTINGS)
        for name in method_names()
        if name not in NEEDS_TARGET
    ]
)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


@pytest.fixture(scope="module")
def tabular_shift():
    """Two Gaussian classes; the target is shifted and of another size."""
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 40)
    X = rng.normal(size=(80, 5)) + 1.5 * y[:, None]
    yt = np.tile([0, 1], 25)
    Xt = rng.normal(size=(50, 5)) + 1.5 * yt[:, None] + 1.0
    return X.astype(np.float32), y, Xt.astype(np.float32), yt


FAST = dict(max_epochs=3, batch_size=16, random_state=0)


def _target_sizes(result):
    return [est.n_target_samples_ for est in result["estimator"]]


def test_cross_validate_target_of_another_size_is_passed_whole(tabular_shift):
    X, y, Xt, _ = tabular_shift
    result = cross_validate(
        MMDClassifier(**FAST),
        X,
        y,
        cv=4,
        params={"X_target": Xt},
        return_estimator=True,
    )
    assert _target_sizes(result) == [50] * 4


def test_target_of_the_same_size_needs_target_domain(tabular_shift):
    X, y, _, _ = tabular_shift
    Xt_same_size = X + 1.0
    # A plain array as long as X is split with the source folds by scikit-learn
    # (documented pitfall) ...
    sliced = cross_validate(
        MMDClassifier(**FAST),
        X,
        y,
        cv=4,
        params={"X_target": Xt_same_size},
        return_estimator=True,
    )
    assert _target_sizes(sliced) == [60] * 4
    # ... wrapped in TargetDomain it reaches every fit whole.
    whole = cross_validate(
        MMDClassifier(**FAST),
        X,
        y,
        cv=4,
        params={"X_target": TargetDomain(Xt_same_size)},
        return_estimator=True,
    )
    assert _target_sizes(whole) == [80] * 4


def test_cross_val_score_and_randomized_search(tabular_shift):
    X, y, Xt, _ = tabular_shift
    scores = cross_val_score(
        DANNClassifier(**FAST), X, y, cv=3, params={"X_target": TargetDomain(Xt)}
    )
    # each score is the accuracy of that fold's model on its held-out fold
    folds = cross_validate(
        DANNClassifier(**FAST),
        X,
        y,
        cv=3,
        params={"X_target": TargetDomain(Xt)},
        return_estimator=True,
        return_indices=True,
    )
    expected = [
        np.mean(model.predict(X[test]) == y[test])
        for model, test in zip(
            folds["estimator"], folds["indices"]["test"], strict=True
        )
    ]
    np.testing.assert_allclose(scores, expected)
    search = RandomizedSearchCV(
        MMDClassifier(**FAST),
        {"transfer_weight": [0.0, 0.5, 1.0], "entropy_weight": [0.0, 0.05]},
        n_iter=3,
        cv=2,
        random_state=0,
    )
    search.fit(X, y, X_target=TargetDomain(Xt))
    assert search.best_estimator_.n_target_samples_ == 50
    assert len(search.cv_results_["params"]) == 3


def test_grid_search_parallel_matches_serial(tabular_shift):
    X, y, Xt, _ = tabular_shift
    grid = {"transfer_weight": [0.0, 1.0]}
    results = []
    for n_jobs in (1, 2):
        search = GridSearchCV(MMDClassifier(**FAST), grid, cv=2, n_jobs=n_jobs)
        search.fit(X, y, X_target=TargetDomain(Xt))
        results.append(search.cv_results_["mean_test_score"])
        assert search.best_estimator_.n_target_samples_ == 50
    np.testing.assert_allclose(results[0], results[1])


def test_metadata_routing(tabular_shift):
    X, y, Xt, _ = tabular_shift
    with sklearn.config_context(enable_metadata_routing=True):
        estimator = MMDClassifier(**FAST).set_fit_request(X_target=True)
        result = cross_validate(
            estimator,
            X,
            y,
            cv=2,
            params={"X_target": TargetDomain(Xt)},
            return_estimator=True,
        )
        assert _target_sizes(result) == [50, 50]
        search = GridSearchCV(estimator, {"transfer_weight": [0.0, 1.0]}, cv=2)
        search.fit(X, y, X_target=Xt)
        assert search.best_estimator_.n_target_samples_ == 50


def test_clone_keeps_parameters_and_drops_fit(tabular_shift):
    X, y, Xt, _ = tabular_shift
    fitted = DANNClassifier(domain_lr_multiplier=0.1, **FAST).fit(X, y, X_target=Xt)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "net_")


def test_da_pipeline_transforms_the_target_with_source_statistics(tabular_shift):
    rng = np.random.default_rng(1)
    Xs = rng.normal(2.0, 3.0, size=(60, 3, 8, 8)).astype(np.float32)
    ys = np.tile([0, 1], 30)
    Xt = rng.normal(-5.0, 0.5, size=(40, 3, 8, 8)).astype(np.float32)
    pipe = make_da_pipeline(ChannelStandardizer(), MMDClassifier(**FAST))
    assert isinstance(pipe, DomainAdaptationPipeline)
    pipe.fit(Xs, ys, X_target=TargetDomain(Xt))
    scaler = pipe.named_steps["channelstandardizer"]
    # The stateful step was fitted on the source only ...
    np.testing.assert_allclose(scaler.mean_.ravel(), Xs.mean(axis=(0, 2, 3)), rtol=1e-4)
    # ... and the estimator trained on the transformed source and target: the same
    # as fitting it by hand on those arrays.
    by_hand = MMDClassifier(**FAST).fit(
        scaler.transform(Xs), ys, X_target=scaler.transform(Xt)
    )
    np.testing.assert_allclose(
        pipe.predict_proba(Xt), by_hand.predict_proba(scaler.transform(Xt)), atol=1e-6
    )
    # A plain scikit-learn pipeline would have passed the raw target images.
    raw = MMDClassifier(**FAST).fit(scaler.transform(Xs), ys, X_target=Xt)
    assert not np.allclose(
        raw.predict_proba(scaler.transform(Xt)),
        by_hand.predict_proba(scaler.transform(Xt)),
    )
    assert pipe.transform(Xt).shape[0] == 40
    with pytest.raises(TypeError, match="accepts only X_target"):
        pipe.fit(Xs, ys, X_target=Xt, mmdclassifier__foo=1)
    # Without a target it is an ordinary pipeline.
    plain = make_pipeline(ChannelStandardizer(), SourceOnlyClassifier(**FAST))
    np.testing.assert_allclose(
        make_da_pipeline(ChannelStandardizer(), SourceOnlyClassifier(**FAST))
        .fit(Xs, ys)
        .predict_proba(Xs),
        plain.fit(Xs, ys).predict_proba(Xs),
    )


def test_da_pipeline_skips_passthrough_and_none_steps():
    rng = np.random.default_rng(3)
    Xs = rng.normal(2.0, 3.0, size=(40, 3, 8, 8)).astype(np.float32)
    ys = np.tile([0, 1], 20)
    Xt = rng.normal(-5.0, 0.5, size=(30, 3, 8, 8)).astype(np.float32)
    scaler = ChannelStandardizer()
    steps = [
        ("skip", "passthrough"),
        ("scale", scaler),
        ("none", None),
        ("clf", MMDClassifier(**FAST)),
    ]
    assert _active_steps(steps, with_final=False) == [(1, "scale", scaler)]
    assert [name for _, name, _ in _active_steps(steps, with_final=True)] == [
        "scale",
        "clf",
    ]
    with_skips = DomainAdaptationPipeline(steps).fit(Xs, ys, X_target=Xt)
    plain = make_da_pipeline(ChannelStandardizer(), MMDClassifier(**FAST))
    plain.fit(Xs, ys, X_target=Xt)
    # The skipped steps stay as they were; the fitted scaler is the same.
    assert with_skips.named_steps["skip"] == "passthrough"
    assert with_skips.named_steps["none"] is None
    np.testing.assert_allclose(
        with_skips.named_steps["scale"].mean_, plain[0].mean_, rtol=1e-6
    )
    for domain in ("source", "target"):
        np.testing.assert_allclose(
            with_skips.predict_proba(Xt, domain=domain),
            plain.predict_proba(Xt, domain=domain),
            atol=1e-6,
        )
    np.testing.assert_allclose(
        with_skips.transform(Xt, domain="target"),
        plain.transform(Xt, domain="target"),
        atol=1e-6,
    )


def test_da_pipeline_in_grid_search(tabular_shift):
    rng = np.random.default_rng(2)
    Xs = rng.normal(size=(48, 3, 8, 8)).astype(np.float32)
    ys = np.tile([0, 1], 24)
    Xt = (rng.normal(size=(48, 3, 8, 8)) * 3 + 1).astype(np.float32)
    search = GridSearchCV(
        make_da_pipeline(ChannelStandardizer(), MMDClassifier(**FAST)),
        {"mmdclassifier__transfer_weight": [0.0, 1.0]},
        cv=2,
    )
    search.fit(Xs, ys, X_target=TargetDomain(Xt))
    assert search.best_estimator_[-1].n_target_samples_ == 48


@pytest.mark.slow
def test_unsupervised_search_agrees_with_target_labels():
    from conftest import make_pair_shift

    Xs, ys, Xt, yt = make_pair_shift(300, size=32, seed=0)
    grid = {"transfer_weight": [0.0, 0.1, 1.0]}
    estimator = MMDClassifier(max_epochs=10, batch_size=16, random_state=0)
    unsupervised = GridSearchCV(estimator, grid, cv=2, scoring=make_im_scorer(Xt))
    unsupervised.fit(Xs, ys, X_target=TargetDomain(Xt))
    supervised = GridSearchCV(
        estimator, grid, cv=2, scoring=make_target_scorer(Xt, yt, metric="accuracy")
    )
    supervised.fit(Xs, ys, X_target=TargetDomain(Xt))
    chosen = unsupervised.best_index_
    target_accuracy = supervised.cv_results_["mean_test_score"]
    print(
        "IM:",
        unsupervised.cv_results_["mean_test_score"],
        "target acc:",
        target_accuracy,
    )
    # The value chosen without target labels is (close to) the best by target labels
    # and clearly better than no transfer loss.
    assert target_accuracy[chosen] >= target_accuracy.max() - 0.05
    assert target_accuracy[chosen] > target_accuracy[0] + 0.1
    assert unsupervised.best_params_["transfer_weight"] > 0
