"""Pipelines whose preprocessing steps transform the target domain too."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from sklearn import get_config
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._engine.target_monitor import (
    fitted_fraction_estimate,
    monitored_sample,
    threshold_for_estimate,
)
from ._param_validation import HasMethods, Hidden, check_parameters, validate_params
from ._target import unwrap_target

__all__ = ["DomainAdaptationPipeline", "make_da_pipeline"]

_DOMAINS = ("source", "target")


def _accepts_target(step: Any) -> bool:
    """Whether ``step.fit`` has an ``X_target`` parameter."""
    try:
        return "X_target" in inspect.signature(step.fit).parameters
    except (TypeError, ValueError):  # no introspectable signature
        return False


def _transform(step: Any, X: Any, domain: str) -> Any:
    """Apply ``step`` to images of ``domain``: its ``transform_target`` if any."""
    if domain == "target" and hasattr(step, "transform_target"):
        return step.transform_target(X)
    return step.transform(X)


def _check_domain(domain: Any) -> None:
    if not isinstance(domain, str) or domain not in _DOMAINS:
        raise ValueError(
            f"domain must be 'source' or 'target'; got {domain!r}. Pass "
            "domain='target' for images of the target domain (such as new survey "
            "images to classify), domain='source' for images like the labelled ones."
        )


def _final_estimator_has(attr: str):
    def check(self) -> bool:
        getattr(self._final_estimator, attr)  # raise its AttributeError if absent
        return True

    return check


def _active_steps(steps: list, with_final: bool) -> list[tuple[int, str, Any]]:
    """Return ``(index, name, step)`` of the steps that do something.

    Steps set to None or ``"passthrough"`` are left out; ``with_final=False``
    leaves out the last step as well. ``index`` is the position in ``steps``.
    """
    kept = steps if with_final else steps[:-1]
    return [
        (index, name, step)
        for index, (name, step) in enumerate(kept)
        if step is not None and step != "passthrough"
    ]


def _can_transform(self) -> bool:
    final = self._final_estimator
    return final == "passthrough" or hasattr(final, "transform")


class DomainAdaptationPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` that carries ``X_target`` through.

    ``fit(X, y, X_target=Xt)`` fits each transformer and applies it to both ``X``
    and ``Xt``; the final domain-adaptation estimator then receives the
    transformed source *and* target: ``final.fit(X', y, X_target=Xt')``. A plain
    scikit-learn pipeline would hand the raw ``Xt`` to the estimator, untouched by
    the preprocessing.

    Two kinds of steps:

    - an ordinary transformer (:class:`~skdamerge.preprocessing.ChannelStandardizer`,
      a stretch, ...) is fitted on the source images ``X`` only, so that for
      instance standardisation statistics come from the labelled training data,
      and its ``transform`` is applied to both domains;
    - a *per-domain* step, whose ``fit`` has an ``X_target`` parameter (such as
      :class:`~skdamerge.preprocessing.DomainStandardizer`), is fitted with
      ``fit(X, y, X_target=Xt)`` (the unlabelled target training images are
      training data) and, if it has a ``transform_target`` method, transforms
      target images with it.

    Prediction, scoring and ``transform`` take a keyword ``domain``: the domain
    of the images ``X``. ``domain="source"`` (the default) applies ``transform``
    of every step, exactly as ``Pipeline`` does, which is what scikit-learn's
    model selection needs when it scores source validation folds.
    ``domain="target"`` applies ``transform_target`` where a step has one: pass
    it for every target image, in particular for new images of the survey to
    classify, ``pipe.predict_proba(X_survey, domain="target")``. For pipelines
    without per-domain steps both give the same result.

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
    skdamerge.preprocessing.DomainStandardizer : a per-domain step.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge import MMDClassifier
    >>> from skdamerge.pipeline import make_da_pipeline
    >>> from skdamerge.preprocessing import DomainStandardizer
    >>> rng = np.random.default_rng(0)
    >>> Xs, ys = rng.normal(size=(64, 3, 16, 16)), np.tile([0, 1], 32)
    >>> Xt = 10 * rng.normal(size=(40, 3, 16, 16))
    >>> pipe = make_da_pipeline(
    ...     DomainStandardizer(), MMDClassifier(max_epochs=1, random_state=0)
    ... )
    >>> pipe.fit(Xs, ys, X_target=Xt).predict_proba(Xt, domain="target").shape
    (40, 2)
    """

    _parameter_constraints: dict = {
        "steps": [list, Hidden(tuple)],
        "transform_input": [list, None],
        "memory": [None, str, HasMethods(["cache"])],
        "verbose": ["boolean"],
    }

    def fit(self, X: Any, y: Any = None, X_target: Any = None, **params: Any):
        """Fit the transformers and the estimator on both domains.

        Parameters
        ----------
        X : array-like
            Labelled source images.
        y : array-like
            Source labels.
        X_target : array-like or TargetDomain, default=None
            Unlabelled target images; given to the steps whose ``fit`` accepts
            ``X_target`` and transformed by every fitted step (with its
            ``transform_target`` where it has one) before they reach the final
            estimator. None fits like a plain ``Pipeline``.
        **params : dict
            Step parameters (``<step>__<param>``) when ``X_target`` is None.

        Returns
        -------
        self
            The fitted pipeline.
        """
        check_parameters(self)
        X_target = unwrap_target(X_target)
        if X_target is None:
            return super().fit(X, y, **params)
        if params:
            raise TypeError(
                "DomainAdaptationPipeline.fit accepts only X_target as a fit "
                f"parameter together with a target domain, got {sorted(params)}; set "
                "step parameters with set_params instead."
            )
        X_raw, X_target_raw = X, X_target
        X_source = X
        for index, name, transformer in _active_steps(self.steps, with_final=False):
            if _accepts_target(transformer):
                transformer.fit(X_source, y, X_target=X_target)
                X_source = transformer.transform(X_source)
            else:
                X_source = transformer.fit_transform(X_source, y)
            X_target = _transform(transformer, X_target, "target")
            self.steps[index] = (name, transformer)
        final = self._final_estimator
        if final != "passthrough":
            final.fit(X_source, y, X_target=X_target)
            self._estimate_fraction_on_raw_images(X_raw, y, X_target_raw)
        return self

    def _estimate_fraction_on_raw_images(self, X, y, X_target) -> None:
        """Redo the final estimator's label-free merger-fraction estimate here.

        The estimate injects labelled source images into the target's sky, which
        is right for images in linear flux units only: the final estimator sees
        stretched and standardised pixels, where a galaxy plus sky is no longer a
        sum. The pipeline injects into the raw images it was given and predicts
        through its own steps (``domain="target"``), then replaces the final
        estimator's ``target_merger_fraction_`` and ``target_threshold_``. Without
        the estimator's validation rows (``validation_index_``) or with flat
        features, both become None.
        """
        final = self._final_estimator
        if not hasattr(final, "target_merger_fraction_") or len(self.steps) < 2:
            return
        index = getattr(final, "validation_index_", None)
        final.target_merger_fraction_ = final.target_threshold_ = None
        if index is None:
            return
        watched = X_target[monitored_sample(len(X_target), 0)]
        estimate = fitted_fraction_estimate(
            self, watched, X[index], np.asarray(y)[index], seed=0
        )
        if estimate is not None:
            proba = self.predict_proba(watched, domain="target")
            final.target_merger_fraction_ = estimate
            final.target_threshold_ = threshold_for_estimate(proba[:, 1], estimate)

    def _final_method(self, name: str, X: Any, domain: str, params: dict):
        """Call the final estimator's method ``name`` on ``X`` seen as ``domain``."""
        _check_domain(domain)
        if domain == "source":
            return getattr(Pipeline, name)(self, X, **params)
        Xt = self._transform_target(X, params)
        return getattr(self.steps[-1][1], name)(Xt, **params)

    def _transform_target(self, X: Any, params: dict, with_final: bool = False):
        """Apply the fitted steps to target images ``X``."""
        check_is_fitted(self)
        if params and get_config().get("enable_metadata_routing", False):
            raise ValueError(
                "domain='target' does not route metadata to the steps; call it "
                f"without {sorted(params)} or with domain='source'."
            )
        for _, _, step in _active_steps(self.steps, with_final=with_final):
            X = _transform(step, X, "target")
        return X

    @available_if(_final_estimator_has("predict"))
    def predict(self, X: Any, *, domain: str = "source", **params: Any):
        """Transform ``X`` as images of ``domain`` and predict with the estimator.

        Parameters
        ----------
        X : array-like
            Images to classify.
        domain : {"source", "target"}, default="source"
            Domain of ``X``: "target" applies each step's ``transform_target``
            where it has one (per-domain standardisation with the target
            statistics) and passes ``domain="target"`` to a final estimator whose
            ``predict`` takes it (the skdamerge estimators then decide at
            ``target_threshold_``); "source" is ``Pipeline.predict``.
        **params : dict
            Passed to the final estimator's ``predict`` (with ``domain="source"``
            as by ``Pipeline``).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels.
        """
        _check_domain(domain)
        if domain == "source":
            return super().predict(X, **params)
        final = self.steps[-1][1]
        Xt = self._transform_target(X, params)
        if "domain" in inspect.signature(final.predict).parameters:
            # A skdamerge estimator decides target images at its target threshold.
            params = {**params, "domain": "target"}
        return final.predict(Xt, **params)

    @available_if(_final_estimator_has("predict_proba"))
    def predict_proba(self, X: Any, *, domain: str = "source", **params: Any):
        """Transform ``X`` as images of ``domain``; return the class probabilities.

        Parameters
        ----------
        X : array-like
            Images to classify.
        domain : {"source", "target"}, default="source"
            Domain of ``X``: "target" applies each step's ``transform_target``
            where it has one (per-domain standardisation with the target
            statistics); "source" is ``Pipeline.predict_proba``.
        **params : dict
            Passed to the final estimator's ``predict_proba`` (with
            ``domain="source"`` as by ``Pipeline``).

        Returns
        -------
        y_proba : ndarray of shape (n_samples, n_classes)
            Class probabilities, columns in the order of ``classes_``.
        """
        return self._final_method("predict_proba", X, domain, params)

    @available_if(_final_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X: Any, *, domain: str = "source", **params: Any):
        """Transform ``X`` as images of ``domain``; return log-probabilities.

        Parameters
        ----------
        X : array-like
            Images to classify.
        domain : {"source", "target"}, default="source"
            Domain of ``X``, as for :meth:`predict_proba`.
        **params : dict
            Passed to the final estimator's ``predict_log_proba``.

        Returns
        -------
        y_log_proba : ndarray of shape (n_samples, n_classes)
            Logarithms of the class probabilities.
        """
        return self._final_method("predict_log_proba", X, domain, params)

    @available_if(_final_estimator_has("decision_function"))
    def decision_function(self, X: Any, *, domain: str = "source", **params: Any):
        """Transform ``X`` as images of ``domain``; return the decision function.

        Parameters
        ----------
        X : array-like
            Images to classify.
        domain : {"source", "target"}, default="source"
            Domain of ``X``, as for :meth:`predict_proba`.
        **params : dict
            Passed to the final estimator's ``decision_function``.

        Returns
        -------
        y_score : ndarray
            The final estimator's decision function.
        """
        return self._final_method("decision_function", X, domain, params)

    @available_if(_final_estimator_has("score"))
    def score(
        self,
        X: Any,
        y: Any = None,
        sample_weight: Any = None,
        *,
        domain: str = "source",
        **params: Any,
    ) -> float:
        """Transform ``X`` as images of ``domain`` and score with the estimator.

        Parameters
        ----------
        X : array-like
            Images.
        y : array-like, default=None
            Their labels.
        sample_weight : array-like, default=None
            Passed to the final estimator's ``score``.
        domain : {"source", "target"}, default="source"
            Domain of ``X``, as for :meth:`predict_proba`; scikit-learn's model
            selection scores source folds with the default.
        **params : dict
            As for ``Pipeline.score`` (with ``domain="source"`` only).

        Returns
        -------
        score : float
            The final estimator's score, such as the accuracy.
        """
        _check_domain(domain)
        if domain == "source":
            return super().score(X, y, sample_weight=sample_weight, **params)
        Xt = self._transform_target(X, params)
        score_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        return self.steps[-1][1].score(Xt, y, **score_params)

    @available_if(_can_transform)
    def transform(self, X: Any, *, domain: str = "source", **params: Any):
        """Apply every step, the final estimator included, to images of ``domain``.

        Parameters
        ----------
        X : array-like
            Images.
        domain : {"source", "target"}, default="source"
            Domain of ``X``, as for :meth:`predict_proba`.
        **params : dict
            As for ``Pipeline.transform`` (with ``domain="source"`` only).

        Returns
        -------
        Xt : ndarray
            The transformed data, such as the latent features of a skdamerge
            estimator.
        """
        _check_domain(domain)
        if domain == "source":
            return super().transform(X, **params)
        return self._transform_target(X, params, with_final=True)


# The steps (``*steps``) are not seen by ``validate_params``, which skips
# variadic arguments; the pipeline checks them when it is built.
@validate_params({"verbose": ["boolean"]}, prefer_skip_nested_validation=True)
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
