"""What the metrics read of a fitted model: attributes and per-domain predictions."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

__all__ = ["fitted_attribute", "predict_proba_in"]


def fitted_attribute(estimator: Any, name: str) -> Any:
    """Return ``name`` of the estimator or, for a pipeline, of its final step.

    None when neither has it.
    """
    value = getattr(estimator, name, None)
    if value is None and hasattr(estimator, "steps"):
        value = getattr(estimator.steps[-1][1], name, None)
    return value


def predict_proba_in(estimator: Any, X: Any, domain: str) -> np.ndarray:
    """Class probabilities of images of ``domain`` ("source" or "target").

    A model whose ``predict_proba`` takes ``domain`` (a
    :class:`~skdamerge.pipeline.DomainAdaptationPipeline` with per-domain
    standardisation) gets it, so that target images are transformed with the
    target's statistics; others are called as ``predict_proba(X)``.
    """
    method = estimator.predict_proba
    try:
        takes_domain = "domain" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        takes_domain = False
    if takes_domain:
        return np.asarray(method(X, domain=domain))
    return np.asarray(method(X))
