"""Scorers that use labels: a metric on a labelled target set, source accuracy.

:func:`make_target_scorer` is the oracle of benchmarks whose target labels are
known; :func:`source_accuracy_scorer` the no-adaptation selection baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy.typing import ArrayLike
from sklearn.metrics import (
    accuracy_score,
    get_scorer,
)

from .._param_validation import LABEL, HasMethods, validate_params
from ._fitted import predict_proba_in
from ._report import _positive_column
from ._scorer_base import _Scorer
from ._table import metric_table

__all__ = ["make_target_scorer", "source_accuracy_scorer"]

_TABLE_METRICS = {
    "accuracy": "accuracy",
    "roc_auc": "auc",
    "auc": "auc",
    "precision": "precision",
    "recall": "recall",
    "f1": "f1",
}


class _TargetScorer(_Scorer):
    _factory = "make_target_scorer"

    def __init__(self, X_target, y_target, metric, pos_label):
        super().__init__(X_target, metric=metric, pos_label=pos_label)
        self.y_target = y_target
        self.metric = metric
        self.pos_label = pos_label

    def _score(self, estimator, X, y):
        metric = self.metric
        if isinstance(metric, str) and (
            metric in _TABLE_METRICS or metric == "neg_brier_score"
        ):
            column, pos, _ = _positive_column(estimator, self.pos_label)
            p = predict_proba_in(estimator, self.X_target, "target")[:, column]
            table = metric_table(self.y_target, p, pos_label=pos)
            if metric == "neg_brier_score":
                return -table["brier"]
            return table[_TABLE_METRICS[metric]]
        scorer = get_scorer(metric) if isinstance(metric, str) else metric
        return scorer(estimator, self.X_target, self.y_target)


@validate_params(
    {
        "X_target": ["array-like"],
        "y_target": ["array-like"],
        "metric": [str, callable],
        "pos_label": [*LABEL, None],
    },
    prefer_skip_nested_validation=True,
)
def make_target_scorer(
    X_target: ArrayLike,
    y_target: ArrayLike,
    metric: str | Callable = "accuracy",
    *,
    pos_label: Any = None,
) -> Callable[..., float]:
    """Scorer that evaluates a supervised metric on a fixed, labelled target set.

    For benchmarks where the target labels are known (e.g. simulated noisy images):
    it measures what domain adaptation is meant to improve. Scikit-learn passes only
    the held-out source fold to a scorer, so the target set is bound here and the
    fold's ``X, y`` are ignored; every candidate of a search is scored on the same
    target data. Selecting hyperparameters this way uses target labels, which a
    real application does not have: report it as an oracle, not as a method.

    Parameters
    ----------
    X_target : array-like
        Target samples.
    y_target : array-like of shape (n_target,)
        Their labels.
    metric : str or callable, default="accuracy"
        ``"accuracy"``, ``"roc_auc"``, ``"precision"``, ``"recall"``, ``"f1"`` or
        ``"neg_brier_score"`` (computed by :func:`metric_table` with the merger as
        positive class), any other scikit-learn scorer name, or a scorer callable
        ``scorer(estimator, X, y)``.
    pos_label : object, default=None
        Merger label for the metric-table metrics; None takes
        ``estimator.classes_[1]``.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``, greater is better.

    References
    ----------
    .. [1] You, K., Wang, X., Long, M., Jordan, M. I. (2019). "Towards accurate
       model selection in deep unsupervised domain adaptation." ICML, PMLR 97,
       7124-7133 (target-label selection as the upper bound of model selection).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skdamerge import MMDClassifier
    >>> from skdamerge.metrics import make_target_scorer
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(60, 5)).astype("float32"); ys = (Xs[:, 0] > 0) * 1
    >>> Xt = Xs[:50] + 1; yt = ys[:50]
    >>> search = GridSearchCV(
    ...     MMDClassifier(max_epochs=1, batch_size=16, random_state=0),
    ...     {"transfer_weight": [0.0, 1.0]},
    ...     scoring=make_target_scorer(Xt, yt, "roc_auc"),
    ...     cv=2,
    ... ).fit(Xs, ys, X_target=Xt)
    >>> sorted(search.best_params_)
    ['transfer_weight']
    """
    if len(X_target) != len(y_target):
        raise ValueError(
            f"X_target and y_target have different lengths: {len(X_target)}, "
            f"{len(y_target)}."
        )
    if not (isinstance(metric, str) or callable(metric)):
        raise TypeError(f"metric must be a string or a scorer, got {metric!r}.")
    if (
        isinstance(metric, str)
        and metric not in _TABLE_METRICS
        and (metric != "neg_brier_score")
    ):
        get_scorer(metric)  # raise now for an unknown name
    return _TargetScorer(X_target, y_target, metric, pos_label)


@validate_params(
    {
        "estimator": [HasMethods(["predict"])],
        "X": ["array-like"],
        "y": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def source_accuracy_scorer(estimator: Any, X: ArrayLike, y: ArrayLike) -> float:
    """Accuracy on the held-out source fold: the no-adaptation selection baseline.

    Plain ``accuracy_score(y, estimator.predict(X))`` with the scorer interface
    of the other criteria, so that a search can compare them. It ignores the
    target domain entirely, so it favours models that fit the source best, which
    the domain shift may punish.

    Parameters
    ----------
    estimator : fitted classifier
        The model to score.
    X, y : array-like
        The source validation fold.

    Returns
    -------
    float
        Fraction of correct predictions.

    References
    ----------
    .. [1] You, K., Wang, X., Long, M., Jordan, M. I. (2019). "Towards accurate
       model selection in deep unsupervised domain adaptation." ICML, PMLR 97,
       7124-7133 (source risk as a selection baseline).
    """
    return float(accuracy_score(y, estimator.predict(X)))
