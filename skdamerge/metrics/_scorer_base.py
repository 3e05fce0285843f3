"""The scorer interface, ``scorer(estimator, X, y)``, and its collapse guard.

:class:`_Scorer` binds the target data of a ``make_*_scorer`` factory;
:class:`_GuardedScorer` gives a model whose target predictions collapsed onto one
class (:func:`~skdamerge.metrics._collapse.target_collapse`) a score below the
range of its criterion.
"""

from __future__ import annotations

import numpy as np

from ._collapse import TargetCollapse, target_collapse
from ._fitted import fitted_attribute, predict_proba_in

__all__: list[str] = []


def _source_fraction(estimator) -> float:
    """Merger fraction of the labels the estimator was fitted on (0.5 if unknown).

    Read from ``source_merger_fraction_``, on the estimator or, for a pipeline,
    on its final step.
    """
    fraction = fitted_attribute(estimator, "source_merger_fraction_")
    return 0.5 if fraction is None else float(fraction)


def _collapse_verdict(estimator, proba) -> TargetCollapse | None:
    """:func:`target_collapse` of binary target probabilities; None otherwise."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != 2 or len(proba) == 0:
        return None
    return target_collapse(proba, _source_fraction(estimator))


class _Scorer:
    """Base of the scorers: ``scorer(estimator, X, y)``, greater is better."""

    _factory = ""

    def __init__(self, X_target, **params):
        self.X_target = X_target
        self._params = params

    def __call__(self, estimator, X=None, y=None) -> float:
        return float(self._score(estimator, X, y))

    def _score(self, estimator, X, y) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        shape = getattr(self.X_target, "shape", None)
        parts = [f"X_target=<array of shape {shape}>"]
        parts += [f"{k}={v!r}" for k, v in self._params.items()]
        return f"{self._factory}({', '.join(parts)})"


class _GuardedScorer(_Scorer):
    """A label-free scorer that gives a collapsed model its worst score.

    Before scoring, the target predictions are checked with
    :func:`~skdamerge.metrics._collapse.target_collapse` (the criterion of the
    training engine); a ``collapsed`` verdict returns :meth:`collapse_score`
    instead of the criterion. Subclasses implement ``_criterion(estimator, X, y,
    proba_target)``.
    """

    # Whether the criterion reads predict_proba(X_target) (computed once).
    _needs_proba = True

    def __init__(self, X_target, guard_collapse=True, **params):
        super().__init__(X_target, **params, guard_collapse=guard_collapse)
        self.guard_collapse = guard_collapse

    def collapse_score(self, n_classes: int = 2) -> float:
        """Return the score of a collapsed model, below every criterion value."""
        raise NotImplementedError

    def _score(self, estimator, X, y):
        proba = None
        if self.guard_collapse or self._needs_proba:
            proba = predict_proba_in(estimator, self.X_target, "target")
        if self.guard_collapse:
            verdict = _collapse_verdict(estimator, proba)
            if verdict is not None and verdict.collapsed:
                return self.collapse_score(proba.shape[1])
        return self._criterion(estimator, X, y, proba)

    def _criterion(self, estimator, X, y, proba) -> float:
        raise NotImplementedError
