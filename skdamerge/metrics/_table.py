"""The DeepMerge II metric table and Table B1 confusion matrices on arrays."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from .._param_validation import LABEL, Interval, validate_params
from ._calibration import _calibration_error

#: Row names of the metric table, in the order of the paper's Table 1, followed by
#: the label-free quantities that :func:`domain_adaptation_report` adds.
METRIC_LABELS: dict[str, str] = {
    "auc": "AUC",
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1 score",
    "brier": "Brier score",
    "ece": "ECE",
    "merger_fraction": "Predicted merger fraction",
    "estimated_merger_fraction": "Estimated merger fraction",
    "merger_fraction_at_estimate": "Merger fraction at est.",
    "accuracy_at_estimate": "Accuracy at est. fraction",
    "entropy": "Mean entropy",
}

_SUPERVISED = ("auc", "accuracy", "precision", "recall", "f1", "brier", "ece")
_UNSUPERVISED = (
    "merger_fraction",
    "estimated_merger_fraction",
    "merger_fraction_at_estimate",
    "accuracy_at_estimate",
    "entropy",
)
_DOMAINS = ("source", "target")
_MISSING = "-"


# ---------------------------------------------------------------------------
# Metric table on arrays
# ---------------------------------------------------------------------------


def _binary_truth(y_true, pos_label, name: str = "y_true") -> np.ndarray:
    """Return ``y_true == pos_label`` after checking that the labels are binary."""
    y_true = np.asarray(y_true)
    if y_true.ndim == 2 and y_true.shape[1] == 1:
        y_true = y_true.ravel()
    if y_true.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y_true.shape}.")
    labels = np.unique(y_true)
    if len(labels) > 2:
        raise ValueError(
            f"{name} must hold binary labels, got {len(labels)} classes: "
            f"{labels.tolist()[:10]}."
        )
    is_positive = y_true == pos_label
    if len(labels) == 2 and not is_positive.any():
        raise ValueError(
            f"pos_label={pos_label!r} is not one of the labels of {name} "
            f"{labels.tolist()}; pass the merger label as pos_label."
        )
    return np.asarray(is_positive, dtype=bool)


def _check_probability(p, n: int, name: str = "p_merger") -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p.ravel()
    if p.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (the probability of the merger class), got shape "
            f"{p.shape}; for predict_proba output take the merger column."
        )
    if len(p) != n:
        raise ValueError(f"y_true and {name} have different lengths: {n}, {len(p)}.")
    if not np.all(np.isfinite(p)) or p.min(initial=0.0) < 0 or p.max(initial=0) > 1:
        raise ValueError(f"{name} must hold probabilities in [0, 1].")
    return p


@validate_params(
    {
        "y_true": ["array-like"],
        "p_merger": ["array-like"],
        "pos_label": LABEL,
        "threshold": [Interval(Real, 0, 1, closed="both")],
    },
    prefer_skip_nested_validation=True,
)
def metric_table(
    y_true: ArrayLike,
    p_merger: ArrayLike,
    *,
    pos_label: Any = 1,
    threshold: float = 0.5,
) -> dict[str, float]:
    """AUC, accuracy, precision, recall, F1, Brier score and ECE of the merger class.

    The six metrics of DeepMerge II Sect. 6 (Table 1), with mergers as the positive
    class: precision (purity) TP / (TP + FP), recall (completeness) TP / (TP + FN),
    F1 their harmonic mean, the area under the ROC curve, and the Brier score, the
    mean squared difference between the merger probability and the true label;
    followed by the expected calibration error of the merger probability
    (:func:`expected_calibration_error`, 15 equal-width bins).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    p_merger : array-like of shape (n_samples,)
        Predicted probability of ``pos_label`` (``predict_proba(X)[:, 1]`` for an
        skdamerge estimator with 0/1 labels).
    pos_label : int, str or bool, default=1
        Label of the merger (positive) class.
    threshold : float, default=0.5
        A sample is predicted a merger when ``p_merger > threshold``. At 0.5 this is
        the estimators' ``predict`` (the larger probability wins, ties go to the
        negative class).

    Returns
    -------
    dict of str to float
        Keys ``"auc"``, ``"accuracy"``, ``"precision"``, ``"recall"``, ``"f1"``,
        ``"brier"``, ``"ece"`` (greater is better, except the Brier score and
        the ECE). The AUC is NaN
        when ``y_true`` holds a single class; precision is 0 when no sample is
        predicted a merger (and recall when there is no merger).

    See Also
    --------
    normalized_confusion_matrix : the Table B1 matrix.
    expected_calibration_error : the ECE with other bins.
    domain_adaptation_report : both domains of a fitted estimator.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691,
       Sect. 6 and Table 1.
    .. [2] Brier, G. W. (1950). "Verification of forecasts expressed in terms of
       probability." Monthly Weather Review 78(1), 1-3.

    Examples
    --------
    >>> from skdamerge.metrics import metric_table
    >>> table = metric_table([1, 1, 0, 0], [0.9, 0.4, 0.3, 0.2])
    >>> table["accuracy"], table["recall"], round(table["brier"], 3)
    (0.75, 0.5, 0.125)
    """
    truth = _binary_truth(y_true, pos_label)
    p = _check_probability(p_merger, len(truth))
    if len(truth) == 0:
        raise ValueError("y_true is empty.")
    predicted = p > threshold
    both = truth.any() and not truth.all()
    return {
        "auc": float(roc_auc_score(truth, p)) if both else math.nan,
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision": float(precision_score(truth, predicted, zero_division=0.0)),
        "recall": float(recall_score(truth, predicted, zero_division=0.0)),
        "f1": float(f1_score(truth, predicted, zero_division=0.0)),
        "brier": float(brier_score_loss(truth, p, pos_label=True)),
        "ece": _calibration_error(truth, p, 15, "uniform"),
    }


@validate_params(
    {"y_true": ["array-like"], "y_pred": ["array-like"], "pos_label": LABEL},
    prefer_skip_nested_validation=True,
)
def normalized_confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, *, pos_label: Any = 1
) -> np.ndarray:
    """Confusion matrix normalised per true class, oriented as in Table B1.

    Columns are the true label and rows the predicted label, both in the order
    merger (``pos_label``), non-merger; each column sums to 1::

                       true M   true NM
        predicted M    TP/P     FP/N
        predicted NM   FN/P     TN/N

    so the diagonal holds the recall of mergers (top left) and of non-mergers
    (bottom right). This is the transpose of scikit-learn's
    ``confusion_matrix(..., normalize="true")`` with the positive class first.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    pos_label : int, str or bool, default=1
        Label of the merger class; every other label counts as non-merger.

    Returns
    -------
    ndarray of shape (2, 2)
        ``C[i, j]``: fraction of the samples of true class ``j`` predicted as class
        ``i`` (0 = merger, 1 = non-merger). A column whose class is absent from
        ``y_true`` is NaN.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691,
       Appendix B, Table B1.

    Examples
    --------
    >>> from skdamerge.metrics import normalized_confusion_matrix
    >>> normalized_confusion_matrix([1, 1, 0, 0], [1, 0, 0, 0])
    array([[0.5, 0. ],
           [0.5, 1. ]])
    """
    truth = _binary_truth(y_true, pos_label)
    y_pred = np.asarray(y_pred)
    if y_pred.shape != truth.shape:
        raise ValueError(
            f"y_true and y_pred have different shapes: {truth.shape}, {y_pred.shape}."
        )
    predicted = np.asarray(y_pred == pos_label, dtype=bool)
    counts = confusion_matrix(truth, predicted, labels=[True, False]).T
    totals = counts.sum(axis=0, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / totals, np.nan)
