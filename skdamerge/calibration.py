r"""Temperature scaling of a fitted classifier on labelled source validation images.

A network trained with a cross-entropy loss is often over-confident: its merger
probabilities are closer to 0 and 1 than its accuracy justifies, and more so on a
shifted target domain. Temperature scaling (Guo et al. 2017 [1]_) divides the
logits by one number T fitted on held-out labelled data, minimising the log loss
of ``softmax(logits / T)``. For two classes the merger probability becomes

.. math::

    p_T = \sigma\left(\frac{z}{T}\right),
    \qquad z = \log \frac{p}{1 - p} = \text{logit}_1 - \text{logit}_0,

so T > 1 softens the probabilities and T < 1 sharpens them. The sign of
:math:`z` and the order of the images are unchanged: the predicted classes, the
AUC and every decision at a threshold (mapped to :math:`\sigma(\text{logit}(t) /
T)`) stay the same; only the probabilities move.

scikit-learn (1.8 and later) has temperature scaling built in:
``CalibratedClassifierCV(FrozenEstimator(estimator), method="temperature")``
fitted on the validation images. :func:`temperature_scaling` builds exactly that
after checking what scikit-learn does not (a fitted binary classifier, validation
labels that are its classes, both present), and :func:`fitted_temperature` reads
T back. skdamerge estimators have no ``decision_function``, so the calibration
works on the log-odds of ``predict_proba``, which are their logit differences
exactly.

The temperature is fitted on the *source* domain, the only one with labels. It
corrects the over-confidence of the network on source-like images; whether the
target's probabilities are then calibrated too has to be measured on a labelled
target set (:func:`skdamerge.metrics.expected_calibration_error`, the ``"ece"``
row of :func:`skdamerge.metrics.domain_adaptation_report`).

References
----------
.. [1] Guo, C., Pleiss, G., Sun, Y., Weinberger, K. Q. (2017). "On calibration of
   modern neural networks." ICML, PMLR 70, 1321-1330.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from ._param_validation import HasMethods, validate_params

__all__ = ["fitted_temperature", "temperature_scaling"]


@validate_params(
    {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "X": ["array-like"],
        "y": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def temperature_scaling(estimator: Any, X: ArrayLike, y: ArrayLike):
    """Calibrate a fitted binary classifier with one temperature fitted on (X, y).

    Returns ``CalibratedClassifierCV(FrozenEstimator(estimator),
    method="temperature")`` fitted on ``(X, y)``: the estimator is not refitted,
    and T minimises the log loss of the rescaled probabilities on ``(X, y)``.

    Parameters
    ----------
    estimator : fitted classifier
        A binary classifier with ``predict_proba`` and ``classes_``, such as a
        fitted :class:`~skdamerge.MMDClassifier`.
    X : array-like of shape (n_samples, ...)
        Labelled *source* validation images, held out from the estimator's
        training (for instance the ``validation_data`` passed to ``fit``, or the
        images at ``validation_index_``).
    y : array-like of shape (n_samples,)
        Their labels, from the estimator's ``classes_``; both classes, at least
        two images of each.

    Returns
    -------
    sklearn.calibration.CalibratedClassifierCV
        The fitted calibrated classifier: ``predict_proba`` gives the scaled
        probabilities, ``predict`` the estimator's own classes.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    ValueError
        If the estimator is not binary, ``y`` is not 1-D or not as long as ``X``,
        holds a label that is not one of the estimator's classes, or lacks one
        of them.

    See Also
    --------
    fitted_temperature : the fitted T.
    skdamerge.metrics.expected_calibration_error : calibration on a labelled set.

    References
    ----------
    .. [1] Guo, C., Pleiss, G., Sun, Y., Weinberger, K. Q. (2017). "On
       calibration of modern neural networks." ICML, PMLR 70, 1321-1330.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdamerge.calibration import fitted_temperature, temperature_scaling
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2)); y = (X[:, 0] + rng.normal(size=400) > 0)
    >>> clf = LogisticRegression(C=1e4).fit(10 * X[:200], y[:200])  # over-confident
    >>> calibrated = temperature_scaling(clf, 10 * X[200:300], y[200:300])
    >>> fitted_temperature(calibrated) > 1
    True
    """
    check_is_fitted(estimator)
    classes = np.asarray(getattr(estimator, "classes_", []))
    if len(classes) != 2:
        raise ValueError(
            "temperature_scaling needs a binary classifier; the estimator has "
            f"classes {classes.tolist()}."
        )
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}.")
    if len(y) != len(X):
        raise ValueError(
            f"X and y have different numbers of samples: {len(X)}, {len(y)}."
        )
    labels, counts = np.unique(y, return_counts=True)
    unknown = [label for label in labels.tolist() if label not in classes.tolist()]
    if unknown:
        raise ValueError(
            f"y holds labels {unknown[:10]} that are not the estimator's classes "
            f"{classes.tolist()}."
        )
    if len(labels) < 2 or counts.min() < 2:
        raise ValueError(
            "The validation labels must hold at least two images of each class "
            f"{classes.tolist()}; got counts "
            f"{dict(zip(labels.tolist(), counts.tolist(), strict=True))}."
        )
    # The estimator is frozen: the folds of the calibration's cross-validation
    # only split the predictions, so 2 folds give the same T as any other number.
    calibrated = CalibratedClassifierCV(
        FrozenEstimator(estimator), method="temperature", cv=2
    )
    return calibrated.fit(X, y)


@validate_params(
    {"calibrated": [CalibratedClassifierCV]},
    prefer_skip_nested_validation=True,
)
def fitted_temperature(calibrated: CalibratedClassifierCV) -> float:
    r"""Return the temperature T of a binary temperature-scaled classifier.

    T divides the log-odds :math:`z = \log(p / (1 - p))` of the classifier's
    merger probability: the calibrated probability is :math:`\sigma(z / T)`.
    For a classifier with ``decision_function`` (scikit-learn's linear models)
    :math:`z` is the decision value, which is the log-odds of a logistic
    regression.

    Parameters
    ----------
    calibrated : sklearn.calibration.CalibratedClassifierCV
        Fitted with ``method="temperature"`` on a binary problem, with one
        calibrated classifier (a :class:`~sklearn.frozen.FrozenEstimator` or
        ``ensemble=False``), as :func:`temperature_scaling` returns.

    Returns
    -------
    float
        The temperature, > 0; > 1 means the classifier was over-confident on
        the calibration set.

    Raises
    ------
    ValueError
        If ``calibrated`` used another method, is not binary, or holds one
        calibration per fold (``ensemble=True``).

    References
    ----------
    .. [1] Guo, C., Pleiss, G., Sun, Y., Weinberger, K. Q. (2017). "On
       calibration of modern neural networks." ICML, PMLR 70, 1321-1330.
    """
    check_is_fitted(calibrated, "calibrated_classifiers_")
    if calibrated.method != "temperature":
        raise ValueError(
            f"calibrated was fitted with method={calibrated.method!r}; a temperature "
            "needs method='temperature'."
        )
    if len(calibrated.classes_) != 2:
        raise ValueError(
            f"fitted_temperature is for binary classifiers; got classes "
            f"{calibrated.classes_.tolist()}."
        )
    if len(calibrated.calibrated_classifiers_) != 1:
        raise ValueError(
            f"calibrated holds {len(calibrated.calibrated_classifiers_)} "
            "calibrations, one per fold (ensemble=True); fit it on a "
            "FrozenEstimator or with ensemble=False to get one temperature."
        )
    (pipeline,) = calibrated.calibrated_classifiers_
    beta = float(pipeline.calibrators[0].beta_)
    # scikit-learn scales log-probabilities by beta: for predict_proba the two
    # columns (log(1 - p), log p) differ by z, so the scaled log-odds are beta * z;
    # a binary decision value d becomes the logits (-d, d), that is 2 * beta * d.
    estimator = pipeline.estimator
    uses_decision = hasattr(estimator, "decision_function")
    return 1.0 / (2.0 * beta) if uses_decision else 1.0 / beta
