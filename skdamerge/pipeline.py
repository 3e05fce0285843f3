"""Pipelines whose preprocessing steps transform the target domain too."""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline, make_pipeline

from ._target import unwrap_target

__all__ = ["DomainAdaptationPipeline", "make_da_pipeline"]


class DomainAdaptationPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` that carries ``X_target`` through.

    ``fit(X, y, X_target=Xt)`` fits each transformer on the source images ``X`` only
    (so that, for instance, standardisation statistics come from the training data,
    never from the images to be classified) and applies it to both ``X`` and ``Xt``;
    the final domain-adaptation estimator then receives the transformed source
    *and* target: ``final.fit(X', y, X_target=Xt')``. A plain scikit-learn pipeline
    would hand the raw ``Xt`` to the estimator, untouched by the preprocessing.
    Prediction, scoring and ``transform`` work as in ``Pipeline``.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        Transformers followed by a skdamerge estimator, as for ``Pipeline``.
    memory : None
        Caching is not supported; kept for signature compatibility.
    verbose : bool, default=False
        As for ``Pipeline`` (used when fitting without ``X_target``).

    See Also
    --------
    make_da_pipeline : build one from estimators, naming the steps automatically.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge import MMDClassifier
    >>> from skdamerge.pipeline import make_da_pipeline
    >>> from skdamerge.preprocessing import ChannelStandardizer
    >>> rng = np.random.default_rng(0)
    >>> Xs, ys = rng.normal(size=(64, 3, 16, 16)), np.tile([0, 1], 32)
    >>> Xt = 10 * rng.normal(size=(40, 3, 16, 16))
    >>> pipe = make_da_pipeline(
    ...     ChannelStandardizer(), MMDClassifier(max_epochs=1, random_state=0)
    ... )
    >>> pipe.fit(Xs, ys, X_target=Xt).predict_proba(Xt).shape
    (40, 2)
    """

    def fit(self, X: Any, y: Any = None, X_target: Any = None, **params: Any):
        """Fit the transformers on ``X`` and the estimator on both domains.

        Parameters
        ----------
        X : array-like
            Labelled source images.
        y : array-like
            Source labels.
        X_target : array-like or TargetDomain, default=None
            Unlabelled target images; transformed by the fitted steps before they
            reach the final estimator. None fits like a plain ``Pipeline``.
        **params : dict
            Step parameters (``<step>__<param>``) when ``X_target`` is None.

        Returns
        -------
        self
            The fitted pipeline.
        """
        X_target = unwrap_target(X_target)
        if X_target is None:
            return super().fit(X, y, **params)
        if params:
            raise TypeError(
                "DomainAdaptationPipeline.fit accepts only X_target as a fit "
                f"parameter together with a target domain, got {sorted(params)}; set "
                "step parameters with set_params instead."
            )
        X_source = X
        for index, name, transformer in self._iter(
            with_final=False, filter_passthrough=False
        ):
            if transformer is None or transformer == "passthrough":
                continue
            X_source = transformer.fit_transform(X_source, y)
            X_target = transformer.transform(X_target)
            self.steps[index] = (name, transformer)
        final = self._final_estimator
        if final != "passthrough":
            final.fit(X_source, y, X_target=X_target)
        return self


def make_da_pipeline(*steps: Any, verbose: bool = False) -> DomainAdaptationPipeline:
    """Build a :class:`DomainAdaptationPipeline`, naming steps like ``make_pipeline``.

    Parameters
    ----------
    *steps : estimators
        Transformers followed by a skdamerge estimator.
    verbose : bool, default=False
        Passed to the pipeline.

    Returns
    -------
    DomainAdaptationPipeline
        Step names are the lower-cased class names, e.g. ``"mmdclassifier"``.
    """
    return DomainAdaptationPipeline(make_pipeline(*steps).steps, verbose=verbose)
