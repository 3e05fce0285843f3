"""Helpers shared by the inspection displays."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .._param_validation import HasMethods
from .._validation import resolve_positive_class

__all__ = [
    "AXES",
    "ESTIMATORS",
    "check_estimators",
    "is_fitted",
    "new_axes",
    "positive_scores",
]


#: Constraints of ``ax``: a matplotlib Axes, an array of them, or None.
AXES: list = [HasMethods(["plot"]), "array-like", None]

#: Constraints of ``estimators``: a mapping ``{name: fitted estimator}``. A list or
#: tuple passes to :func:`check_estimators`, whose error shows the mapping to pass.
ESTIMATORS: list = [Mapping, list, tuple]


def is_fitted(estimator) -> bool:
    """Return whether ``estimator`` is fitted, by scikit-learn's rules."""
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def positive_scores(estimator, X) -> tuple[np.ndarray, object]:
    """Probability of the positive class ``classes_[1]`` and that label.

    The positive class is found by
    :func:`skdamerge._validation.resolve_positive_class`.
    """
    check_is_fitted(estimator)
    column, pos_label, _ = resolve_positive_class(np.asarray(estimator.classes_))
    proba = np.asarray(estimator.predict_proba(X))
    return proba[:, column], pos_label


def check_estimators(estimators) -> dict[str, object]:
    """Validate a ``{name: fitted estimator}`` mapping."""
    if not isinstance(estimators, Mapping) or not estimators:
        raise TypeError(
            "estimators must be a non-empty mapping {name: fitted estimator}, e.g. "
            "{'noDA': source_only, 'MMD': mmd}."
        )
    for name, estimator in estimators.items():
        if not is_fitted(estimator):
            raise NotFittedError(
                f"The estimator {name!r} is not fitted; call fit before plotting."
            )
    return {str(name): estimator for name, estimator in estimators.items()}


def check_labels_pair(X, y, x_name: str, y_name: str) -> None:
    """Raise unless ``X`` and ``y`` are both None or both given, of equal length."""
    if (X is None) != (y is None):
        raise ValueError(
            f"Pass both {x_name} and {y_name}, or neither (source-only figure)."
        )
    if X is not None and len(X) != len(y):
        raise ValueError(
            f"{x_name} has {len(X)} samples but {y_name} has {len(y)} labels."
        )


def new_axes(ax, nrows: int, ncols: int, *, figsize=None, squeeze: bool = True):
    """Return ``(figure, axes array)``: a new figure, or the axes passed in.

    ``ax`` may be None (a new figure with ``nrows x ncols`` panels), a single
    Axes when one panel is needed, or an array-like of at least ``nrows * ncols``
    Axes, reshaped to ``(nrows, ncols)``.
    """
    import matplotlib.pyplot as plt

    n_panels = nrows * ncols
    if ax is None:
        if figsize is None:
            figsize = (3.2 * ncols, 3.0 * nrows)
        figure, axes = plt.subplots(
            nrows, ncols, figsize=figsize, squeeze=False, layout="constrained"
        )
    else:
        axes = np.asarray(ax, dtype=object).ravel()
        if axes.size < n_panels:
            raise ValueError(
                f"This figure needs {n_panels} axes ({nrows} x {ncols}); got "
                f"{axes.size}. Pass ax=None to create them."
            )
        axes = axes[:n_panels].reshape(nrows, ncols)
        figure = axes[0, 0].figure
    if squeeze:
        axes = axes.ravel()
    return figure, axes
