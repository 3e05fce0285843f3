"""Label-free scorers for unsupervised domain adaptation, guarded against collapse.

Entropy, information maximisation, soft neighbourhood density and deep embedded
validation of a fitted estimator on the unlabelled target set, each giving a
model whose target predictions collapsed onto one class its worst score.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._param_validation import HasMethods, Interval, StrOptions, validate_params
from ._scorer_base import _GuardedScorer
from ._unsupervised import (
    deep_embedded_validation,
    density_ratio_weights,
    information_maximization,
    prediction_entropy,
    soft_neighborhood_density,
)

__all__ = [
    "DEV_COLLAPSE_SCORE",
    "make_dev_scorer",
    "make_entropy_scorer",
    "make_im_scorer",
    "make_snd_scorer",
]

#: Score that :func:`make_dev_scorer` gives a model whose target predictions
#: collapsed onto one class. The DEV risk has no bound, so the guard uses a constant
#: far below the (negative) risk of any working model, finite so that searches
#: average and rank it without warnings.
DEV_COLLAPSE_SCORE = -1e6


class _EntropyScorer(_GuardedScorer):
    _factory = "make_entropy_scorer"

    def collapse_score(self, n_classes=2):
        return -float(np.log(n_classes)) - 1.0

    def _criterion(self, estimator, X, y, proba):
        return -prediction_entropy(proba)


@validate_params(
    {"X_target": ["array-like"], "guard_collapse": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def make_entropy_scorer(
    X_target: ArrayLike, *, guard_collapse: bool = True
) -> Callable[..., float]:
    """Scorer: negative mean entropy of the predictions on the target domain.

    ``-prediction_entropy(estimator.predict_proba(X_target))``; greater (closer to
    0) means more confident target predictions. The fold's ``X, y`` are ignored.
    Confidence is not accuracy: unguarded, a model that assigns the whole target
    domain to one class with certainty gets the best possible score; the collapse
    guard (Notes) turns that into the worst. A model that is confident and wrong
    on most of the target without a collapse still scores well, so read the
    predicted merger fraction (:func:`domain_adaptation_report`), or use
    :func:`make_im_scorer` or :func:`make_dev_scorer` alongside.

    Parameters
    ----------
    X_target : array-like
        Unlabelled target samples, typically the ``X_target`` passed to ``fit``.
    guard_collapse : bool, default=True
        Give a model whose target predictions collapsed onto one class the score
        ``-log(n_classes) - 1`` (-1.69 for two classes) (see Notes). False scores it
        like any other model.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float`` in ``[-log(n_classes), 0]``, or
        ``-log(n_classes) - 1`` for a collapsed model.

    Notes
    -----
    **Collapse guard.** With ``guard_collapse=True`` the scorer first asks
    :func:`~skdamerge.metrics._collapse.target_collapse` about
    ``predict_proba(X_target)``, the criterion that the training engine uses too: when
    fewer than 2% of the target images are predicted in one of the two classes, the
    model is *collapsed* and the scorer returns ``-log(n_classes) - 1`` (-1.69 for two
    classes) instead of the negative entropy. That is below the range
    ``[-log(n_classes), 0]``; unguarded, a confident collapse scores near 0, the best
    value. The value is finite, so that :class:`~sklearn.model_selection.GridSearchCV`
    averages and ranks it without warnings. The merger fraction of the estimator's
    training labels (``source_merger_fraction_``, on the estimator or a pipeline's final
    step; 0.5 when absent) is passed on; it only affects the milder *drifted* verdict,
    which is not penalised (it can be a real difference between the training set and the
    survey). The guard applies to binary classifiers and is skipped with more classes.

    References
    ----------
    .. [1] Morerio, P., Cavazza, J., Murino, V. (2018). "Minimal-entropy correlation
       alignment for unsupervised deep domain adaptation." ICLR (target entropy
       as a validation criterion).
    .. [2] Saito, K., et al. (2021). "Tune it the right way: Unsupervised
       validation of domain adaptation via soft neighborhood density." ICCV,
       9184-9193.
    """
    return _EntropyScorer(X_target, guard_collapse)


class _IMScorer(_GuardedScorer):
    _factory = "make_im_scorer"

    def collapse_score(self, n_classes=2):
        return -1.0

    def _criterion(self, estimator, X, y, proba):
        return information_maximization(proba)


@validate_params(
    {"X_target": ["array-like"], "guard_collapse": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def make_im_scorer(
    X_target: ArrayLike, *, guard_collapse: bool = True
) -> Callable[..., float]:
    """Scorer: information maximisation of the predictions on the target domain.

    :func:`information_maximization` of ``estimator.predict_proba(X_target)``:
    high for confident predictions spread over both classes, 0 for a model that
    puts the whole target domain into one class. The fold's ``X, y`` are ignored.

    Parameters
    ----------
    X_target : array-like
        Unlabelled target samples, typically the ``X_target`` passed to ``fit``.
    guard_collapse : bool, default=True
        Give a model whose target predictions collapsed onto one class the score -1 (see
        Notes). False scores it like any other model.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float`` in ``[0, log(n_classes)]``, or -1
        for a collapsed model.

    Notes
    -----
    **Collapse guard.** With ``guard_collapse=True`` the scorer first asks
    :func:`~skdamerge.metrics._collapse.target_collapse` about
    ``predict_proba(X_target)``, the criterion that the training engine uses too: when
    fewer than 2% of the target images are predicted in one of the two classes, the
    model is *collapsed* and the scorer returns -1 instead of the information. That is
    below the range ``[0, log(n_classes)]``. Unguarded, a collapse scores near 0, the
    bottom of the range, but not below a healthy model with uncertain predictions: 1% of
    the images certain in one class and 99% certain in the other gives 0.056, more than
    the 0.052 of balanced predictions that are all 0.7 / 0.3. The value is finite, so
    that :class:`~sklearn.model_selection.GridSearchCV` averages and ranks it without
    warnings. The merger fraction of the estimator's training labels
    (``source_merger_fraction_``, on the estimator or a pipeline's final step; 0.5 when
    absent) is passed on; it only affects the milder *drifted* verdict, which is not
    penalised (it can be a real difference between the training set and the survey). The
    guard applies to binary classifiers and is skipped with more classes.

    References
    ----------
    .. [1] Liang, J., Hu, D., Feng, J. (2020). "Do we really need to access the
       source data? Source hypothesis transfer for unsupervised domain
       adaptation." ICML, PMLR 119, 6028-6039.
    .. [2] Musgrave, K., Belongie, S., Lim, S.-N. (2022). "Benchmarking validation
       methods for unsupervised domain adaptation." arXiv:2208.07360.
    """
    return _IMScorer(X_target, guard_collapse)


class _SNDScorer(_GuardedScorer):
    _factory = "make_snd_scorer"

    def __init__(self, X_target, temperature, on, guard_collapse):
        super().__init__(X_target, guard_collapse, temperature=temperature, on=on)
        self.temperature = temperature
        self.on = on

    @property
    def _needs_proba(self):
        return self.on == "proba"

    def collapse_score(self, n_classes=2):
        return -1.0

    def _criterion(self, estimator, X, y, proba):
        if self.on == "features":
            outputs = estimator.transform(self.X_target)
        else:
            outputs = proba
        return soft_neighborhood_density(outputs, self.temperature)


@validate_params(
    {
        "X_target": ["array-like"],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        # Any string: the function's own check names the two choices.
        "on": [str],
        "guard_collapse": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_snd_scorer(
    X_target: ArrayLike,
    temperature: float = 0.05,
    *,
    on: str = "proba",
    guard_collapse: bool = True,
) -> Callable[..., float]:
    """Scorer: soft neighbourhood density of the target outputs (Saito et al. 2021).

    :func:`soft_neighborhood_density` of ``predict_proba(X_target)`` (default) or of
    ``transform(X_target)``; greater is better. The fold's ``X, y`` are ignored.
    See the Notes of :func:`soft_neighborhood_density`: unguarded, a model whose
    target outputs collapse onto one class scores highest; the collapse guard
    (Notes) gives it the worst score instead.

    Parameters
    ----------
    X_target : array-like
        Unlabelled target samples, typically the ``X_target`` passed to ``fit``.
    temperature : float, default=0.05
        Softmax temperature of the neighbour distribution.
    on : {"proba", "features"}, default="proba"
        Softmax outputs (Saito et al.'s choice) or the estimator's latent features.
    guard_collapse : bool, default=True
        Give a model whose target predictions collapsed onto one class the score -1 (see
        Notes). False scores it like any other model.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float`` in ``[0, log(n_target - 1)]``, or -1
        for a collapsed model.

    Notes
    -----
    **Collapse guard.** With ``guard_collapse=True`` the scorer first asks
    :func:`~skdamerge.metrics._collapse.target_collapse` about
    ``predict_proba(X_target)``, the criterion that the training engine uses too: when
    fewer than 2% of the target images are predicted in one of the two classes, the
    model is *collapsed* and the scorer returns -1 instead of the density. That is below
    the range ``[0, log(n_target - 1)]``; unguarded, identical outputs reach its maximum
    ``log(n_target - 1)``. The guard looks at ``predict_proba`` also with
    ``on="features"``. The value is finite, so that
    :class:`~sklearn.model_selection.GridSearchCV` averages and ranks it without
    warnings. The merger fraction of the estimator's training labels
    (``source_merger_fraction_``, on the estimator or a pipeline's final step; 0.5 when
    absent) is passed on; it only affects the milder *drifted* verdict, which is not
    penalised (it can be a real difference between the training set and the survey). The
    guard applies to binary classifiers and is skipped with more classes.

    References
    ----------
    .. [1] Saito, K., Kim, D., Teterwak, P., Sclaroff, S., Darrell, T., Saenko, K.
       (2021). "Tune it the right way: Unsupervised validation of domain
       adaptation via soft neighborhood density." ICCV, 9184-9193.
    """
    if on not in ("proba", "features"):
        raise ValueError(f"on must be 'proba' or 'features', got {on!r}.")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}.")
    return _SNDScorer(X_target, temperature, on, guard_collapse)


class _DEVScorer(_GuardedScorer):
    _factory = "make_dev_scorer"
    _needs_proba = False

    def __init__(self, X_target, loss, discriminator, cv, random_state, guard_collapse):
        super().__init__(
            X_target,
            guard_collapse,
            loss=loss,
            discriminator=discriminator,
            cv=cv,
            random_state=random_state,
        )
        self.loss = loss
        self.discriminator = discriminator
        self.cv = cv
        self.random_state = random_state

    def _features(self, estimator, X):
        if hasattr(estimator, "transform"):
            return np.asarray(estimator.transform(X)).reshape(len(X), -1)
        return np.asarray(estimator.predict_proba(X))

    def collapse_score(self, n_classes=2):
        return DEV_COLLAPSE_SCORE

    def _score(self, estimator, X, y):
        if X is None or y is None:
            raise ValueError(
                "The DEV scorer needs the labelled source validation fold: call it "
                "as scorer(estimator, X_valid, y_valid)."
            )
        return super()._score(estimator, X, y)

    def _criterion(self, estimator, X, y, proba_target):
        classes = list(estimator.classes_)
        y = np.asarray(y)
        proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        index = np.searchsorted(np.asarray(classes), y)
        index = np.clip(index, 0, len(classes) - 1)
        if not np.all(np.asarray(classes)[index] == y):
            raise ValueError(
                f"y holds labels unknown to the estimator (classes {classes})."
            )
        p_true = proba[np.arange(len(y)), index]
        if self.loss == "log_loss":
            losses = -np.log(np.clip(p_true, 1e-15, 1.0))
        else:
            losses = (proba.argmax(axis=1) != index).astype(np.float64)
        if proba_target is not None and not hasattr(estimator, "transform"):
            features_target = np.asarray(proba_target)
        else:
            features_target = self._features(estimator, self.X_target)
        weights = density_ratio_weights(
            self._features(estimator, X),
            features_target,
            discriminator=self.discriminator,
            cv=self.cv,
            random_state=self.random_state,
        )
        return -deep_embedded_validation(losses, weights)


@validate_params(
    {
        "X_target": ["array-like"],
        "loss": [StrOptions({"log_loss", "error"})],
        "discriminator": [HasMethods(["fit", "predict_proba"]), None],
        "cv": [Interval(Integral, 2, None, closed="left"), None],
        "random_state": ["random_state"],
        "guard_collapse": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_dev_scorer(
    X_target: ArrayLike,
    *,
    loss: str = "log_loss",
    discriminator: Any = None,
    cv: int | None = 5,
    random_state: int | None = 0,
    guard_collapse: bool = True,
) -> Callable[..., float]:
    """Scorer: negative deep embedded validation (DEV) risk (You et al. 2019).

    Called with the fitted estimator and the held-out *source* fold ``X, y``:

    1. latent features of the fold and of ``X_target`` from
       ``estimator.transform`` (``predict_proba`` for estimators without one);
    2. importance weights of the fold's samples from a domain discriminator
       trained source against target, cross-fitted over ``cv`` folds
       (:func:`density_ratio_weights`);
    3. per-sample loss of the estimator on the fold (cross-entropy, or 0/1 error);
    4. the control-variate weighted risk (:func:`deep_embedded_validation`),
       returned negated so that greater is better.

    You et al. train the discriminator on the training-source features and weight
    the validation samples; a scorer sees only the validation fold, so the
    discriminator is cross-fitted on the fold and the target instead, which also
    keeps each weight out-of-sample.

    Parameters
    ----------
    X_target : array-like
        Unlabelled target samples, typically the ``X_target`` passed to ``fit``.
    loss : {"log_loss", "error"}, default="log_loss"
        Per-sample loss on the source fold.
    discriminator : classifier or None, default=None
        Domain discriminator with ``predict_proba``; None is
        ``StandardScaler`` + ``LogisticRegression``.
    cv : int or None, default=5
        Cross-fitting folds of the discriminator (None: fit and predict in-sample).
    random_state : int or None, default=0
        Shuffling of the cross-fitting folds.
    guard_collapse : bool, default=True
        Give a model whose target predictions collapsed onto one class the score
        :data:`DEV_COLLAPSE_SCORE` (-1e6) (see Notes). False scores it like any other
        model.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``, the negative estimated target risk,
        or -1e6 for a collapsed model.

    Notes
    -----
    **Collapse guard.** With ``guard_collapse=True`` the scorer first asks
    :func:`~skdamerge.metrics._collapse.target_collapse` about
    ``predict_proba(X_target)``, the criterion that the training engine uses too: when
    fewer than 2% of the target images are predicted in one of the two classes, the
    model is *collapsed* and the scorer returns :data:`DEV_COLLAPSE_SCORE` (-1e6)
    instead of the negative risk. The DEV risk has no finite bound (the control variate
    can move it either way), so the guard value is a constant far below the risk of any
    working model (of order 1, in nats or as an error rate), yet small enough that
    averaging it with healthy folds overflows nothing. DEV is anchored to the source
    labels, but a collapsed model can still get a low risk when the discriminator cannot
    tell its target features from the source ones. The value is finite, so that
    :class:`~sklearn.model_selection.GridSearchCV` averages and ranks it without
    warnings. The merger fraction of the estimator's training labels
    (``source_merger_fraction_``, on the estimator or a pipeline's final step; 0.5 when
    absent) is passed on; it only affects the milder *drifted* verdict, which is not
    penalised (it can be a real difference between the training set and the survey). The
    guard applies to binary classifiers and is skipped with more classes.

    References
    ----------
    .. [1] You, K., Wang, X., Long, M., Jordan, M. I. (2019). "Towards accurate
       model selection in deep unsupervised domain adaptation." ICML, PMLR 97,
       7124-7133.
    """
    if loss not in ("log_loss", "error"):
        raise ValueError(f"loss must be 'log_loss' or 'error', got {loss!r}.")
    return _DEVScorer(X_target, loss, discriminator, cv, random_state, guard_collapse)
