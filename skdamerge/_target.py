"""A container that keeps the target domain whole inside cross-validation."""

from __future__ import annotations

from typing import Any

__all__ = ["TargetDomain", "unwrap_target"]


class TargetDomain:
    """The unlabelled target images, passed whole to every fit of a search.

    Scikit-learn's :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_validate` and friends split every fit
    parameter whose length equals ``len(X)`` with the source folds. For the target
    domain that is wrong: the folds split the *labelled source* data, and each
    candidate should adapt to the whole unlabelled target set. A target array of the
    same length as the source (common for the paper's pristine/noisy pairs) would
    be cut silently; one of another length is passed whole.

    Wrapping the target in ``TargetDomain`` makes it opaque to scikit-learn (it has
    no length, shape or ``__array__``), so it always reaches the estimator whole,
    whatever its length. Every skdamerge estimator and
    :class:`~skdamerge.pipeline.DomainAdaptationPipeline` accepts it wherever it
    accepts ``X_target``; a plain array works the same outside cross-validation.

    Parameters
    ----------
    X : array-like
        Target images ``(n, channels, height, width)`` or flat features.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skdamerge import MMDClassifier, TargetDomain
    >>> rng = np.random.default_rng(0)
    >>> Xs, ys = rng.normal(size=(60, 4)), np.tile([0, 1], 30)
    >>> Xt = rng.normal(size=(60, 4)) + 0.5
    >>> search = GridSearchCV(
    ...     MMDClassifier(max_epochs=2, random_state=0),
    ...     {"transfer_weight": [0.1, 1.0]},
    ...     cv=2,
    ... )
    >>> search.fit(Xs, ys, X_target=TargetDomain(Xt)).best_estimator_.n_target_samples_
    60
    """

    def __init__(self, X: Any) -> None:
        self.X = X

    def __repr__(self) -> str:
        shape = getattr(self.X, "shape", None)
        return (
            f"TargetDomain(shape={shape})" if shape is not None else "TargetDomain(...)"
        )


def unwrap_target(X_target: Any) -> Any:
    """Return the array inside a :class:`TargetDomain`, or ``X_target`` itself."""
    return X_target.X if isinstance(X_target, TargetDomain) else X_target
