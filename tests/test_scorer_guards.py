"""The label-free scorers never prefer a model whose target predictions collapsed."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GridSearchCV

from skdamerge import MMDClassifier, TargetDomain
from skdamerge.datasets import make_galaxy_mergers
from skdamerge.exceptions import TargetCollapseWarning
from skdamerge.metrics import (
    DEV_COLLAPSE_SCORE,
    information_maximization,
    make_dev_scorer,
    make_entropy_scorer,
    make_im_scorer,
    make_snd_scorer,
    prediction_entropy,
    soft_neighborhood_density,
)
from skdamerge.metrics._scorer_base import _source_fraction
from skdamerge.pipeline import make_da_pipeline
from skdamerge.preprocessing import ChannelStandardizer

N_TARGET = 100
X_TARGET = np.arange(N_TARGET, dtype=float)[:, None]
WORST = {
    "entropy": -np.log(2) - 1,
    "im": -1.0,
    "snd": -1.0,
    "dev": DEV_COLLAPSE_SCORE,
}


def scorers(guard_collapse=True, X_target=X_TARGET):
    return {
        "entropy": make_entropy_scorer(X_target, guard_collapse=guard_collapse),
        "im": make_im_scorer(X_target, guard_collapse=guard_collapse),
        "snd": make_snd_scorer(X_target, guard_collapse=guard_collapse),
        "dev": make_dev_scorer(X_target, cv=2, guard_collapse=guard_collapse),
    }


class Minority(ClassifierMixin, BaseEstimator):
    """Predicts merger probability 0.9 for the first ``n_minority`` target rows
    (and every source row with an odd index), 0.2 elsewhere.

    ``X`` is a column of row indices; target rows are 0..N_TARGET-1.
    """

    def __init__(self, n_minority=0, p_high=0.9, p_low=0.2):
        self.n_minority = n_minority
        self.p_high = p_high
        self.p_low = p_low

    def fit(self, X, y=None, X_target=None):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        index = np.asarray(X).ravel().astype(int)
        p = np.where(index < self.n_minority, self.p_high, self.p_low)
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


# ---------------------------------------------------------------------------
# Unit tests on fixed predictions
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(WORST))
def test_one_class_output_gets_the_worst_score(name):
    X_fold = np.arange(40, dtype=float)[:, None]
    y_fold = np.arange(40) % 2
    collapsed = Minority(n_minority=0).fit(X_fold)  # every target row: p = 0.2
    assert scorers()[name](collapsed, X_fold, y_fold) == WORST[name]
    # unguarded, entropy and SND find the constant output excellent
    raw = scorers(guard_collapse=False)[name](collapsed, X_fold, y_fold)
    proba = collapsed.predict_proba(X_TARGET)
    if name == "entropy":
        assert raw == pytest.approx(-prediction_entropy(proba))
    if name == "snd":
        assert raw == pytest.approx(np.log(N_TARGET - 1))  # its maximum
    if name == "im":
        assert raw == pytest.approx(information_maximization(proba))
    assert raw > WORST[name]


@pytest.mark.parametrize("name", list(WORST))
def test_guard_threshold_is_two_percent(name):
    X_fold = np.arange(40, dtype=float)[:, None]
    y_fold = np.arange(40) % 2
    # 1 of 100 target images predicted merger: 1% < 2%, collapsed
    one = Minority(n_minority=1).fit(X_fold)
    assert scorers()[name](one, X_fold, y_fold) == WORST[name]
    # 2 of 100: 2% is not below 2%, scored normally
    two = Minority(n_minority=2).fit(X_fold)
    guarded = scorers()[name](two, X_fold, y_fold)
    assert guarded == scorers(guard_collapse=False)[name](two, X_fold, y_fold)
    proba = two.predict_proba(X_TARGET)
    expected = {
        "entropy": -prediction_entropy(proba),
        "im": information_maximization(proba),
        "snd": soft_neighborhood_density(proba, 0.05),
    }
    if name in expected:
        assert guarded == pytest.approx(expected[name])
    assert guarded > WORST[name]


def test_probability_one_half_counts_as_non_merger():
    # target_collapse calls a merger p > 0.5: all rows at 0.5 is a collapse
    est = Minority(n_minority=0, p_low=0.5).fit(None)
    assert make_im_scorer(X_TARGET)(est) == -1.0
    assert make_entropy_scorer(X_TARGET)(est) == -np.log(2) - 1


def test_guard_values_lie_below_each_range():
    rng = np.random.default_rng(0)
    X_fold = np.arange(40, dtype=float)[:, None]
    y_fold = rng.integers(0, 2, 40)
    for n_minority in (2, 10, 50):
        est = Minority(n_minority=n_minority, p_high=0.99, p_low=0.01).fit(X_fold)
        for name, scorer in scorers().items():
            assert scorer(est, X_fold, y_fold) > WORST[name], (name, n_minority)


class MultiClass(ClassifierMixin, BaseEstimator):
    def fit(self, X=None, y=None):
        self.classes_ = np.array([0, 1, 2])
        return self

    def predict_proba(self, X):
        return np.tile([0.98, 0.01, 0.01], (len(X), 1))


def test_guard_is_skipped_for_more_than_two_classes():
    est = MultiClass().fit()
    score = make_entropy_scorer(X_TARGET)(est)
    assert score == pytest.approx(-prediction_entropy(est.predict_proba(X_TARGET)))


class WithFraction(Minority):
    def fit(self, X, y=None, X_target=None):
        super().fit(X, y)
        self.source_merger_fraction_ = 0.3
        return self


def test_source_fraction_is_read_from_estimator_or_final_step():
    assert _source_fraction(Minority().fit(None)) == 0.5  # absent: 0.5
    est = WithFraction().fit(None)
    assert _source_fraction(est) == 0.3
    pipe = make_da_pipeline(ChannelStandardizer(), WithFraction())
    pipe.steps[-1] = ("withfraction", est)
    assert _source_fraction(pipe) == 0.3


def test_repr_and_pickle():
    for scorer in scorers(guard_collapse=False).values():
        assert "guard_collapse=False" in repr(scorer)
        copy = pickle.loads(pickle.dumps(scorer))
        assert copy.guard_collapse is False


def test_grid_search_ranks_collapsed_candidate_last_without_warnings():
    X = np.arange(40, dtype=float)[:, None]
    y = np.arange(40) % 2
    search = GridSearchCV(
        Minority(),
        {"n_minority": [0, 30, 1]},  # collapsed, healthy, collapsed
        scoring=scorers(),
        refit="snd",
        cv=2,
        error_score="raise",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no non-finite-score or numpy warnings
        search.fit(X, y)
    for name in WORST:
        ranks = search.cv_results_[f"rank_test_{name}"]
        assert ranks[1] == 1, name
        means = search.cv_results_[f"mean_test_{name}"]
        assert means[0] == means[2] == WORST[name]
        assert np.all(np.isfinite(means))
    assert search.best_params_ == {"n_minority": 30}


# ---------------------------------------------------------------------------
# A real collapse: MMD with a huge entropy weight
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_grid_search_never_selects_a_collapsing_network():
    """entropy_weight=50 drives every fold's network onto one class of the target.

    Measured: with the guard off, entropy and SND rank that collapsed candidate
    first; with the guard every label-free scorer ranks the healthy one first.
    """
    Xs, ys, Xt, _ = make_galaxy_mergers(200, image_size=32, random_state=0)
    Xs, Xt = np.arcsinh(Xs), np.arcsinh(Xt)
    scoring = {**scorers(X_target=Xt)}
    scoring.update(
        {f"{k}_unguarded": v for k, v in scorers(False, X_target=Xt).items()}
    )
    search = GridSearchCV(
        MMDClassifier(
            max_epochs=10,
            batch_size=32,
            patience=None,
            validation_fraction=None,
            random_state=0,
        ),
        {"entropy_weight": [0.0, 50.0]},
        scoring=scoring,
        refit="entropy",
        cv=2,
        error_score="raise",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.fit(Xs, ys, X_target=TargetDomain(Xt))
    # fit warns about its own collapse; nothing else (the scores are finite)
    assert {w.category for w in caught} <= {TargetCollapseWarning}
    results = search.cv_results_
    for name in WORST:
        # the candidate with entropy_weight=50 collapsed in both folds ...
        for split in range(2):
            assert results[f"split{split}_test_{name}"][1] == WORST[name], name
            assert results[f"split{split}_test_{name}"][0] > WORST[name], name
        # ... and is never selected
        assert list(results[f"rank_test_{name}"]) == [1, 2], name
    # without the guard, the confident collapse wins entropy and SND
    for name in ("entropy", "snd"):
        assert list(results[f"rank_test_{name}_unguarded"]) == [2, 1], name
    assert search.best_params_ == {"entropy_weight": 0.0}
