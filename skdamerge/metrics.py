"""Evaluation of domain-adaptation classifiers: the paper's metric table and scorers.

Two kinds of tools live here.

**The DeepMerge II metric table** (paper [1]_ Sect. 6, Tables 1, B1): AUC, accuracy,
precision, recall, F1 and Brier score of the merger class on the source and target
test sets, and the normalised confusion matrices.

- :func:`metric_table` computes the six metrics from labels and merger
  probabilities; :func:`normalized_confusion_matrix` the Table B1 matrix.
- :func:`domain_adaptation_report` evaluates a fitted estimator on both domains and
  returns a :class:`DomainAdaptationReport`, printable as a table and convertible
  to a dict, Markdown and CSV.
- :func:`compare_reports` puts several reports side by side (no DA / MMD / DANN),
  one column group per method, as a :class:`ReportComparison`.

**Scorers for model selection** (``scoring=`` of
:class:`~sklearn.model_selection.GridSearchCV`,
:func:`~sklearn.model_selection.cross_validate`, ...). A scorer is called as
``scorer(estimator, X, y)`` with the fitted estimator and the held-out *source*
fold; greater is better. Scikit-learn never hands the target domain to a scorer,
so the scorers that need it are built by factories that keep the target data:
``make_*_scorer(X_target, ...)``. Pass the same ``X_target`` to the search's
``fit`` (``search.fit(X, y, X_target=X_target)``) so that every candidate adapts
to, and is judged on, the same target set.

- :func:`make_target_scorer`: a supervised metric on a labelled target set
  (benchmarks only: in a real application the target labels are unknown).
- :func:`make_entropy_scorer`: negative mean entropy of the target predictions.
- :func:`make_im_scorer`: information maximisation, the mutual information between
  target samples and predicted classes (confident *and* diverse predictions).
- :func:`make_snd_scorer`: soft neighbourhood density of the target outputs
  (Saito et al. 2021 [2]_).
- :func:`make_dev_scorer`: deep embedded validation, an importance-weighted source
  validation risk (You et al. 2019 [3]_), negated.
- :func:`source_accuracy_scorer`: accuracy on the source fold itself.

The pure functions behind the scorers, :func:`prediction_entropy`,
:func:`information_maximization`, :func:`soft_neighborhood_density`,
:func:`density_ratio_weights` and :func:`deep_embedded_validation`, work on arrays.

No unsupervised criterion is safe on its own. Entropy and soft neighbourhood density
reward confident, tightly clustered target outputs, so a model that puts the whole
target domain into one class with certainty scores best of all, and a source-only
network on a strongly shifted target often does just that [4]_. Information
maximisation penalises such a collapse but assumes roughly balanced classes; deep
embedded validation is anchored to the source labels but is noisy when the two
domains are easy to tell apart. Read them together, and with the predicted merger
fraction on the target (in :class:`DomainAdaptationReport`), which exposes a
collapse at a glance.

References
----------
.. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
   Building robust deep learning algorithms for merging galaxy identification
   across domains." MNRAS 506, 677-691.
.. [2] Saito, K., Kim, D., Teterwak, P., Sclaroff, S., Darrell, T., Saenko, K.
   (2021). "Tune it the right way: Unsupervised validation of domain adaptation
   via soft neighborhood density." ICCV, 9184-9193.
.. [3] You, K., Wang, X., Long, M., Jordan, M. I. (2019). "Towards accurate model
   selection in deep unsupervised domain adaptation." ICML, PMLR 97, 7124-7133.
.. [4] Musgrave, K., Belongie, S., Lim, S.-N. (2022). "Benchmarking validation
   methods for unsupervised domain adaptation." arXiv:2208.07360.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp, xlogy
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    get_scorer,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = [
    "METRIC_LABELS",
    "DomainAdaptationReport",
    "ReportComparison",
    "compare_reports",
    "deep_embedded_validation",
    "density_ratio_weights",
    "domain_adaptation_report",
    "information_maximization",
    "make_dev_scorer",
    "make_entropy_scorer",
    "make_im_scorer",
    "make_snd_scorer",
    "make_target_scorer",
    "metric_table",
    "normalized_confusion_matrix",
    "prediction_entropy",
    "soft_neighborhood_density",
    "source_accuracy_scorer",
]

#: Row names of the metric table, in the order of the paper's Table 1, followed by
#: the label-free quantities that :func:`domain_adaptation_report` adds.
METRIC_LABELS: dict[str, str] = {
    "auc": "AUC",
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1 score",
    "brier": "Brier score",
    "merger_fraction": "Predicted merger fraction",
    "entropy": "Mean entropy",
}

_SUPERVISED = ("auc", "accuracy", "precision", "recall", "f1", "brier")
_UNSUPERVISED = ("merger_fraction", "entropy")
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


def metric_table(
    y_true: ArrayLike,
    p_merger: ArrayLike,
    *,
    pos_label: Any = 1,
    threshold: float = 0.5,
) -> dict[str, float]:
    """AUC, accuracy, precision, recall, F1 and Brier score of the merger class.

    The six metrics of DeepMerge II Sect. 6 (Table 1), with mergers as the positive
    class: precision (purity) TP / (TP + FP), recall (completeness) TP / (TP + FN),
    F1 their harmonic mean, the area under the ROC curve, and the Brier score, the
    mean squared difference between the merger probability and the true label.

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
        ``"brier"`` (greater is better, except the Brier score). The AUC is NaN
        when ``y_true`` holds a single class; precision is 0 when no sample is
        predicted a merger (and recall when there is no merger).

    See Also
    --------
    normalized_confusion_matrix : the Table B1 matrix.
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
    }


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


# ---------------------------------------------------------------------------
# Unsupervised quantities
# ---------------------------------------------------------------------------


def _as_proba(proba) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise ValueError(
            "proba must have shape (n_samples, n_classes) with n_classes >= 2, or "
            "(n_samples,) for the positive class of a binary problem; got "
            f"{proba.shape}."
        )
    if not np.all(np.isfinite(proba)) or proba.min(initial=0.0) < 0:
        raise ValueError("proba must hold finite, non-negative probabilities.")
    return proba


def prediction_entropy(proba: ArrayLike) -> float:
    """Mean Shannon entropy (in nats) of predicted class distributions.

    ``-mean_i sum_k p_ik log p_ik`` with ``0 log 0 = 0``: 0 for fully confident
    predictions, ``log(n_classes)`` (0.693 for two classes) for uniform ones.
    Entropy minimisation (Grandvalet & Bengio 2005; DeepMerge II eq. 11) drives it
    down on the target domain; as a model-selection criterion, low target entropy
    means confident target predictions, which is not the same as correct ones.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Class probabilities (rows summing to 1), or the positive-class probability
        of a binary problem.

    Returns
    -------
    float
        Mean entropy per sample, in nats.

    References
    ----------
    .. [1] Grandvalet, Y., Bengio, Y. (2005). "Semi-supervised learning by entropy
       minimization." NeurIPS 17, 529-536.
    .. [2] Morerio, P., Cavazza, J., Murino, V. (2018). "Minimal-entropy correlation
       alignment for unsupervised deep domain adaptation." ICLR.

    Examples
    --------
    >>> from skdamerge.metrics import prediction_entropy
    >>> round(prediction_entropy([[0.5, 0.5], [1.0, 0.0]]), 4)
    0.3466
    """
    proba = _as_proba(proba)
    return float(np.mean(-xlogy(proba, proba).sum(axis=1)))


def information_maximization(proba: ArrayLike) -> float:
    """Information maximisation (IM): confident and diverse predictions.

    The mutual information between a sample and its predicted class, estimated from
    the predictions: the entropy of the mean prediction minus the mean entropy of
    the predictions, ``H(mean_i p_i) - mean_i H(p_i)``. The second term rewards
    confident predictions, the first a spread of the predicted classes, so a model
    that assigns every sample to one class scores 0 however confident it is. The
    maximum, ``log(n_classes)``, needs certain predictions in equally frequent
    classes: with a merger fraction far from one half on the target, IM also
    penalises the true class balance.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Class probabilities, or the positive-class probability of a binary problem.

    Returns
    -------
    float
        Mutual information in nats, between 0 and ``log(n_classes)``; greater is
        better.

    References
    ----------
    .. [1] Gomes, R., Krause, A., Perona, P. (2010). "Discriminative clustering by
       regularized information maximization." NeurIPS 23, 775-783.
    .. [2] Liang, J., Hu, D., Feng, J. (2020). "Do we really need to access the
       source data? Source hypothesis transfer for unsupervised domain
       adaptation." ICML, PMLR 119, 6028-6039.
    .. [3] Musgrave, K., Belongie, S., Lim, S.-N. (2022). "Benchmarking validation
       methods for unsupervised domain adaptation." arXiv:2208.07360.

    Examples
    --------
    >>> from skdamerge.metrics import information_maximization
    >>> information_maximization([[1.0, 0.0], [0.0, 1.0]])  # log 2
    0.6931471805599453
    >>> information_maximization([[1.0, 0.0], [1.0, 0.0]])  # collapsed
    0.0
    """
    proba = _as_proba(proba)
    mean = proba.mean(axis=0)
    information = -xlogy(mean, mean).sum() - prediction_entropy(proba)
    return float(information) if information > 0 else 0.0  # >= 0, clip rounding


def soft_neighborhood_density(
    X: ArrayLike, temperature: float = 0.05, *, chunk_size: int = 1024
) -> float:
    """Soft neighbourhood density (SND) of target outputs (Saito et al. 2021).

    Each row of ``X`` (a softmax output or a feature vector of one target sample) is
    L2-normalised; the cosine similarities between samples, divided by
    ``temperature``, pass through a softmax over the other samples (self
    excluded), giving each sample a soft neighbour distribution. SND is the mean
    entropy of these distributions: it is high when every sample has many close
    neighbours, i.e. when the target outputs form dense clusters.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_dims)
        Softmax outputs (``predict_proba``, the paper's default) or latent features
        (``transform``) of the target samples; at least two samples.
    temperature : float, default=0.05
        Softmax temperature; Saito et al. use 0.05.
    chunk_size : int, default=1024
        Rows of the similarity matrix computed at a time, to bound memory
        (``chunk_size * n_samples`` floats).

    Returns
    -------
    float
        Mean neighbour entropy in nats, between 0 and ``log(n_samples - 1)``;
        greater means denser.

    Notes
    -----
    The maximum, ``log(n_samples - 1)``, is reached when all outputs point the
    same way, e.g. a model that predicts one class for the whole target domain.
    For a binary classifier's softmax outputs a collapsed model therefore beats
    any model that separates two classes; Saito et al. argue that training on
    labelled source data makes such collapse rare, but on a strongly shifted
    target it is the typical failure. Compare SND across hyperparameters of one
    method rather than across models that may have collapsed.

    References
    ----------
    .. [1] Saito, K., Kim, D., Teterwak, P., Sclaroff, S., Darrell, T., Saenko, K.
       (2021). "Tune it the right way: Unsupervised validation of domain
       adaptation via soft neighborhood density." ICCV, 9184-9193.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.metrics import soft_neighborhood_density
    >>> proba = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> # the first two are each other's nearest neighbour (entropy ~0); the third
    >>> # has two equally far neighbours (entropy log 2): SND = log(2) / 3
    >>> round(soft_neighborhood_density(proba), 4)
    0.231
    """
    X = check_array(X, dtype=np.float64, ensure_min_samples=2, input_name="X")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}.")
    chunk_size = max(1, int(chunk_size))
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    X = X / np.where(norms > 0, norms, 1.0)
    n = len(X)
    total = 0.0
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        logits = X[start:stop] @ X.T / temperature
        rows = np.arange(stop - start)
        logits[rows, start + rows] = -np.inf
        log_p = logits - logsumexp(logits, axis=1, keepdims=True)
        p = np.exp(log_p)
        total += float(-np.sum(xlogy(p, p)))
    return total / n


def density_ratio_weights(
    features_source: ArrayLike,
    features_target: ArrayLike,
    *,
    discriminator: Any = None,
    cv: int | None = 5,
    random_state: int | None = 0,
) -> np.ndarray:
    """Estimate importance weights ``p_target(x) / p_source(x)`` of source samples.

    A probabilistic domain discriminator learns source (0) against target (1) on
    the stacked features; for each source sample with discriminator output
    ``d = P(target | x)``, the density ratio is
    ``w = d / (1 - d) * n_source / n_target`` (You et al. 2019, Algorithm 1).
    With ``cv``, the discriminator output of each sample comes from a model that
    did not see it (cross-fitting), as DEV requires weights of held-out samples.

    Parameters
    ----------
    features_source : array-like of shape (n_source, n_features)
        Features of the labelled source samples to weight (e.g. a validation fold).
    features_target : array-like of shape (n_target, n_features)
        Features of the target samples.
    discriminator : classifier or None, default=None
        Any scikit-learn classifier with ``predict_proba``; None is a
        ``StandardScaler`` + L2-regularised ``LogisticRegression``.
    cv : int or None, default=5
        Number of stratified cross-fitting folds; None fits once on all samples
        (in-sample outputs, which overfit when the features are many).
    random_state : int or None, default=0
        Shuffling of the cross-fitting folds.

    Returns
    -------
    ndarray of shape (n_source,)
        Non-negative weights; their mean is near 1 when the discriminator is well
        calibrated.

    References
    ----------
    .. [1] You, K., Wang, X., Long, M., Jordan, M. I. (2019). "Towards accurate
       model selection in deep unsupervised domain adaptation." ICML, PMLR 97,
       7124-7133.
    .. [2] Sugiyama, M., Krauledat, M., Müller, K.-R. (2007). "Covariate shift
       adaptation by importance weighted cross validation." JMLR 8, 985-1005.
    """
    source = check_array(features_source, dtype=np.float64, input_name="features")
    target = check_array(features_target, dtype=np.float64, input_name="features")
    if source.shape[1] != target.shape[1]:
        raise ValueError(
            f"Source and target features differ in dimension: {source.shape[1]} "
            f"and {target.shape[1]}."
        )
    if discriminator is None:
        discriminator = make_pipeline(
            StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)
        )
    n_source, n_target = len(source), len(target)
    Z = np.vstack([source, target])
    domain = np.r_[np.zeros(n_source, dtype=int), np.ones(n_target, dtype=int)]
    if cv:
        folds = StratifiedKFold(int(cv), shuffle=True, random_state=random_state)
        proba = cross_val_predict(
            discriminator, Z, domain, cv=folds, method="predict_proba"
        )
    else:
        proba = discriminator.fit(Z, domain).predict_proba(Z)
    p_target = np.clip(proba[:n_source, 1], 1e-6, 1 - 1e-6)
    return p_target / (1 - p_target) * (n_source / n_target)


def deep_embedded_validation(losses: ArrayLike, weights: ArrayLike) -> float:
    """Deep embedded validation (DEV) risk with the control-variate correction.

    With per-sample losses ``l`` on labelled source validation samples and their
    importance weights ``w`` (:func:`density_ratio_weights`), the weighted losses
    ``L = w * l`` estimate the target risk without bias but with a large variance.
    DEV subtracts the control variate ``w`` (whose mean is 1)::

        eta  = -Cov(L, w) / Var(w)
        risk = mean(L) + eta * mean(w) - eta

    with sample (co)variances (``ddof=1``), as in the authors' code. ``eta`` is 0
    when the weights are all equal.

    Parameters
    ----------
    losses : array-like of shape (n_samples,)
        Per-sample losses on source validation data (e.g. cross-entropy, or 0/1
        errors).
    weights : array-like of shape (n_samples,)
        Importance weights ``p_target(x) / p_source(x)`` of the same samples.

    Returns
    -------
    float
        Estimated target risk; lower is better.

    References
    ----------
    .. [1] You, K., Wang, X., Long, M., Jordan, M. I. (2019). "Towards accurate
       model selection in deep unsupervised domain adaptation." ICML, PMLR 97,
       7124-7133, Algorithm 2.

    Examples
    --------
    >>> from skdamerge.metrics import deep_embedded_validation
    >>> deep_embedded_validation([1.0, 0.0], [1.5, 0.5])
    0.75
    """
    losses = np.asarray(losses, dtype=np.float64).ravel()
    weights = np.asarray(weights, dtype=np.float64).ravel()
    if losses.shape != weights.shape:
        raise ValueError(
            f"losses and weights have different lengths: {losses.size}, {weights.size}."
        )
    if losses.size < 2:
        raise ValueError("deep_embedded_validation needs at least two samples.")
    weighted = weights * losses
    variance = np.var(weights, ddof=1)
    eta = -np.cov(weighted, weights)[0, 1] / variance if variance > 0 else 0.0
    return float(np.mean(weighted) + eta * np.mean(weights) - eta)


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


def _label_names(labels: tuple[Any, Any]) -> tuple[str, str]:
    pos, neg = labels
    if _is_number(pos) and _is_number(neg) and pos == 1 and neg == 0:
        return "M", "NM"
    return str(pos), str(neg)


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating | bool | np.bool_)


def _python(value):
    """Numpy scalars to Python scalars, for dicts that ``json.dumps`` accepts."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True, eq=False)
class DomainAdaptationReport:
    """The DeepMerge II evaluation of one model on the source and target domains.

    Built by :func:`domain_adaptation_report`. Printing gives a Table 1-style
    layout (rows = metrics, columns = source / target) followed by the Table B1
    normalised confusion matrices.

    Parameters
    ----------
    source : dict of str to float
        Source-domain values: the keys of :func:`metric_table` and the label-free
        ``"merger_fraction"`` (fraction predicted merger) and ``"entropy"`` (mean
        prediction entropy in nats).
    target : dict of str to float
        Target-domain values; without target labels only the label-free keys (and
        none at all without target data).
    source_confusion : ndarray of shape (2, 2)
        :func:`normalized_confusion_matrix` of the source: columns = true label,
        rows = predicted label, order merger, non-merger; each column sums to 1.
    target_confusion : ndarray of shape (2, 2) or None
        Same for the target; None without target labels.
    labels : tuple
        ``(merger label, non-merger label)``, the order of the confusion matrices.
    n_source, n_target : int
        Number of samples evaluated in each domain.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691,
       Table 1 and Table B1.
    """

    source: dict[str, float]
    target: dict[str, float]
    source_confusion: np.ndarray
    target_confusion: np.ndarray | None
    labels: tuple[Any, Any]
    n_source: int
    n_target: int = 0

    @property
    def has_target_labels(self) -> bool:
        """Whether the supervised target metrics are present."""
        return self.target_confusion is not None

    def to_dict(self) -> dict[str, Any]:
        """Return the report as nested plain Python objects (JSON-serialisable).

        Returns
        -------
        dict
            ``{"source": {...}, "target": {...}, "confusion": {"source": [[...]],
            "target": [[...]] or None}, "labels": [merger, non-merger],
            "n_source": int, "n_target": int}``. Quantities that could not be
            computed (target metrics without target labels) are absent keys; an
            AUC on a single-class set is NaN.
        """
        target_cm = self.target_confusion
        return {
            "source": dict(self.source),
            "target": dict(self.target),
            "confusion": {
                "source": self.source_confusion.tolist(),
                "target": None if target_cm is None else target_cm.tolist(),
            },
            "labels": [_python(label) for label in self.labels],
            "n_source": int(self.n_source),
            "n_target": int(self.n_target),
        }

    def _as_comparison(self) -> ReportComparison:
        return ReportComparison({"": self})

    def to_string(self, decimals: int = 2) -> str:
        """Render the metric table and the confusion matrices as plain text.

        Parameters
        ----------
        decimals : int, default=2
            Digits after the decimal point (the paper uses 2).

        Returns
        -------
        str
            Rows = metrics, columns = Source / Target, then the normalised
            confusion matrices (columns = true label, rows = predicted label).
            Values that need target labels show as ``-`` without them.
        """
        return self._as_comparison().to_string(decimals)

    def to_markdown(self, decimals: int = 2) -> str:
        """Render the report as two GitHub-flavoured Markdown tables.

        Parameters
        ----------
        decimals : int, default=2
            Digits after the decimal point.

        Returns
        -------
        str
            The metric table, a blank line, and the confusion matrix table.
        """
        return self._as_comparison().to_markdown(decimals)

    def to_csv(self, decimals: int | None = None) -> str:
        """Render the report as CSV text (no pandas needed).

        Parameters
        ----------
        decimals : int or None, default=None
            Round the values; None writes full precision.

        Returns
        -------
        str
            Header ``quantity,source,target``, one row per metric, then one row per
            confusion-matrix entry (e.g. ``confusion: predicted M | true NM``), the
            source matrix in the source column and the target one in the target
            column.
            Missing values are empty fields.
        """
        return self._as_comparison().to_csv(decimals)

    def __str__(self) -> str:
        return self.to_string()


@dataclass(frozen=True, eq=False)
class ReportComparison:
    """Several :class:`DomainAdaptationReport` side by side, one column group each.

    Built by :func:`compare_reports`. Rows are the metrics, as in the paper's
    Table 1; each method contributes a Source and a Target column. The confusion
    matrices follow in the Table B1 layout: a column pair (true M, true NM) per
    method, source rows above target rows.

    Parameters
    ----------
    reports : dict of str to DomainAdaptationReport
        Reports keyed by method name, in display order.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691,
       Table 1 and Table B1.
    """

    reports: Mapping[str, DomainAdaptationReport]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return ``{method: report.to_dict()}``.

        Returns
        -------
        dict
            One :meth:`DomainAdaptationReport.to_dict` per method.
        """
        return {name: report.to_dict() for name, report in self.reports.items()}

    # -- table construction ------------------------------------------------------
    def _keys(self) -> list[str]:
        keys = _SUPERVISED + _UNSUPERVISED
        present = set()
        for report in self.reports.values():
            present.update(report.source)
            present.update(report.target)
        return [k for k in keys if k in present]

    def _metric_rows(self) -> list[tuple[str, list[float | None]]]:
        rows = []
        for key in self._keys():
            values: list[float | None] = []
            for report in self.reports.values():
                values.append(report.source.get(key))
                values.append(report.target.get(key))
            rows.append((METRIC_LABELS[key], values))
        return rows

    def _names(self) -> tuple[str, str]:
        names = {_label_names(r.labels) for r in self.reports.values()}
        return names.pop() if len(names) == 1 else ("positive", "negative")

    def _confusion_rows(self) -> list[tuple[str, str, list[float | None]]]:
        pos, neg = self._names()
        rows = []
        for domain in _DOMAINS:
            for i, predicted in enumerate((pos, neg)):
                values: list[float | None] = []
                for report in self.reports.values():
                    cm = getattr(report, f"{domain}_confusion")
                    values.extend([None, None] if cm is None else list(cm[i]))
                rows.append((domain.capitalize(), predicted, values))
        return rows

    @staticmethod
    def _format(value: float | None, decimals: int | None) -> str:
        if value is None:
            return _MISSING
        if math.isnan(value):
            return "nan"
        return repr(float(value)) if decimals is None else f"{value:.{decimals}f}"

    # -- renderers ---------------------------------------------------------------
    def to_string(self, decimals: int = 2) -> str:
        """Render the comparison as plain text.

        Parameters
        ----------
        decimals : int, default=2
            Digits after the decimal point.

        Returns
        -------
        str
            The metric table (a Source/Target column pair per method) and the
            normalised confusion matrices (columns = true label, normalised per
            true class; rows = predicted label).
        """
        names = list(self.reports)
        grouped = any(names)
        metric_rows = self._metric_rows()
        header = ["Metric"] + ["Source", "Target"] * len(names)
        body = [
            [label] + [self._format(v, decimals) for v in values]
            for label, values in metric_rows
        ]
        pos, neg = self._names()
        cm_header = ["True label"] + [pos, neg] * len(names)
        cm_body = [
            [f"{domain} predicted {predicted}"]
            + [self._format(v, decimals) for v in values]
            for domain, predicted, values in self._confusion_rows()
        ]
        rows = [header, cm_header, *body, *cm_body]
        width = max(len(row[0]) for row in rows)
        col = max(6, *(len(cell) for row in rows for cell in row[1:]))
        # a method name spans its two columns
        col = max(col, *(math.ceil((len(name) - 2) / 2) for name in names))

        def line(row: Sequence[str]) -> str:
            return row[0].ljust(width) + "".join(c.rjust(col + 2) for c in row[1:])

        def group_line() -> str:
            parts = [" " * width]
            for name in names:
                parts.append(name.center(2 * (col + 2)))
            return "".join(parts).rstrip()

        out = []
        if grouped:
            out.append(group_line())
        out += [line(header), *map(line, body), ""]
        out.append(
            "Normalised confusion matrices (columns: true label, each summing to 1; "
            "rows: predicted label)"
        )
        if grouped:
            out.append(group_line())
        out += [line(cm_header), *map(line, cm_body)]
        return "\n".join(out)

    def _flat_header(self, first: str, parts: Sequence[str]) -> list[str]:
        header = [first]
        for name in self.reports:
            header += [f"{name} {p}".strip() for p in parts]
        return header

    def to_markdown(self, decimals: int = 2) -> str:
        """Render the comparison as two GitHub-flavoured Markdown tables.

        Parameters
        ----------
        decimals : int, default=2
            Digits after the decimal point.

        Returns
        -------
        str
            The metric table (columns ``"<method> source"``, ``"<method> target"``)
            and the confusion matrix table (columns ``"<method> true M"``, ...).
        """
        pos, neg = self._names()

        def table(header: list[str], rows: list[list[str]]) -> list[str]:
            lines = ["| " + " | ".join(header) + " |"]
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            return lines

        metrics = table(
            self._flat_header("Metric", ["source", "target"]),
            [
                [label] + [self._format(v, decimals) for v in values]
                for label, values in self._metric_rows()
            ],
        )
        confusion = table(
            self._flat_header("Predicted label", [f"true {pos}", f"true {neg}"]),
            [
                [f"{domain}, predicted {predicted}"]
                + [self._format(v, decimals) for v in values]
                for domain, predicted, values in self._confusion_rows()
            ],
        )
        return "\n".join(metrics + [""] + confusion) + "\n"

    def to_csv(self, decimals: int | None = None) -> str:
        """Render the comparison as CSV text (no pandas needed).

        Parameters
        ----------
        decimals : int or None, default=None
            Round the values; None writes full precision.

        Returns
        -------
        str
            Header ``quantity,<method> source,<method> target,...``; one row per
            metric, then one per confusion-matrix entry, named
            ``"confusion: predicted <p> | true <t>"`` (the source matrix in the
            source columns, the target matrix in the target columns). Missing
            values are empty fields.
        """
        pos, neg = self._names()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self._flat_header("quantity", ["source", "target"]))

        def cell(value):
            return "" if value is None else self._format(value, decimals)

        for label, values in self._metric_rows():
            writer.writerow([label] + [cell(v) for v in values])
        for i, predicted in enumerate((pos, neg)):
            for j, true in enumerate((pos, neg)):
                row = [f"confusion: predicted {predicted} | true {true}"]
                for report in self.reports.values():
                    for domain in _DOMAINS:
                        cm = getattr(report, f"{domain}_confusion")
                        row.append(cell(None if cm is None else cm[i, j]))
                writer.writerow(row)
        return buffer.getvalue()

    def __str__(self) -> str:
        return self.to_string()


def _positive_column(estimator, pos_label) -> tuple[int, Any, Any]:
    """Index of the merger column of ``predict_proba`` and the two labels."""
    check_is_fitted(estimator)
    classes = list(getattr(estimator, "classes_", [0, 1]))
    if len(classes) != 2:
        raise ValueError(
            f"The estimator must be a binary classifier, it has classes {classes}."
        )
    if pos_label is None:
        pos_label = classes[1]
    if pos_label not in classes:
        raise ValueError(
            f"pos_label={pos_label!r} is not one of the estimator's classes {classes}."
        )
    index = classes.index(pos_label)
    return index, classes[index], classes[1 - index]


def domain_adaptation_report(
    estimator: Any,
    X_source: ArrayLike,
    y_source: ArrayLike,
    X_target: ArrayLike | None = None,
    y_target: ArrayLike | None = None,
    *,
    pos_label: Any = None,
) -> DomainAdaptationReport:
    """Evaluate a fitted classifier on source and target test sets, as in the paper.

    Computes :func:`metric_table` (AUC, accuracy, precision, recall, F1, Brier
    score; merger = positive class) and :func:`normalized_confusion_matrix` in each
    domain, plus two label-free quantities per domain: the fraction of samples
    predicted merger and the mean prediction entropy. Without target labels
    (the real use case: telescope images) the target column holds only the
    label-free quantities.

    Parameters
    ----------
    estimator : fitted classifier
        Any binary classifier with ``predict_proba`` and ``classes_``, such as
        :class:`~skdamerge.MMDClassifier`. A sample counts as predicted merger when
        its merger probability exceeds 0.5 (the estimators' ``predict``).
    X_source, y_source : array-like
        Labelled source test data.
    X_target : array-like or None, default=None
        Target test data.
    y_target : array-like or None, default=None
        Target labels, when known (benchmarks such as simulated noisy images).
    pos_label : object, default=None
        Merger label; None takes ``estimator.classes_[1]`` (1 for 0/1 labels, the
        second in sorted order otherwise).

    Returns
    -------
    DomainAdaptationReport
        Printable (``print(report)``), with :meth:`~DomainAdaptationReport.to_dict`,
        :meth:`~DomainAdaptationReport.to_markdown` and
        :meth:`~DomainAdaptationReport.to_csv`.

    See Also
    --------
    compare_reports : several models side by side.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691,
       Sect. 6, Table 1, Table B1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdamerge.metrics import domain_adaptation_report
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(200, 4)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = Xs + 0.5  # a shifted target domain with the same labels
    >>> clf = LogisticRegression().fit(Xs, ys)
    >>> report = domain_adaptation_report(clf, Xs, ys, Xt, ys)
    >>> round(report.target["accuracy"], 2), round(report.target["recall"], 2)
    (0.82, 1.0)
    >>> print(report.to_markdown())  # doctest: +ELLIPSIS
    | Metric | source | target |
    |---|---:|---:|
    | AUC | 1.00 | 1.00 |
    ...
    """
    if y_target is not None and X_target is None:
        raise ValueError("y_target was given without X_target.")
    column, pos, neg = _positive_column(estimator, pos_label)
    source, source_cm = _evaluate(estimator, X_source, y_source, column, pos)
    target: dict[str, float] = {}
    target_cm = None
    n_target = 0
    if X_target is not None:
        target, target_cm = _evaluate(estimator, X_target, y_target, column, pos)
        n_target = len(X_target)
    return DomainAdaptationReport(
        source=source,
        target=target,
        source_confusion=source_cm,
        target_confusion=target_cm,
        labels=(pos, neg),
        n_source=len(X_source),
        n_target=n_target,
    )


def _evaluate(estimator, X, y, column: int, pos_label):
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    p = proba[:, column]
    values: dict[str, float] = {}
    confusion = None
    if y is not None:
        values.update(metric_table(y, p, pos_label=pos_label))
        truth = _binary_truth(y, pos_label)
        confusion = normalized_confusion_matrix(truth, p > 0.5, pos_label=True)
    values["merger_fraction"] = float(np.mean(p > 0.5))
    values["entropy"] = prediction_entropy(proba)
    return values, confusion


def compare_reports(
    reports: Mapping[str, DomainAdaptationReport],
) -> ReportComparison:
    """Put several reports side by side, one column group per method.

    Parameters
    ----------
    reports : mapping of str to DomainAdaptationReport
        E.g. ``{"noDA": ..., "MMD": ..., "DANN": ...}``, in display order.

    Returns
    -------
    ReportComparison
        Printable like Table 1 of the paper (rows = metrics, a Source/Target
        column pair per method) with the confusion matrices as in Table B1;
        ``to_dict``, ``to_markdown`` and ``to_csv`` as for a single report.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691,
       Table 1 and Table B1.
    """
    reports = dict(reports)
    if not reports:
        raise ValueError("compare_reports needs at least one report.")
    for name, report in reports.items():
        if not isinstance(report, DomainAdaptationReport):
            raise TypeError(
                f"reports[{name!r}] is a {type(report).__name__}, not a "
                "DomainAdaptationReport; build it with domain_adaptation_report."
            )
    return ReportComparison(reports)


# ---------------------------------------------------------------------------
# Scorers
# ---------------------------------------------------------------------------


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
            p = np.asarray(estimator.predict_proba(self.X_target))[:, column]
            table = metric_table(self.y_target, p, pos_label=pos)
            if metric == "neg_brier_score":
                return -table["brier"]
            return table[_TABLE_METRICS[metric]]
        scorer = get_scorer(metric) if isinstance(metric, str) else metric
        return scorer(estimator, self.X_target, self.y_target)


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


class _EntropyScorer(_Scorer):
    _factory = "make_entropy_scorer"

    def _score(self, estimator, X, y):
        return -prediction_entropy(estimator.predict_proba(self.X_target))


def make_entropy_scorer(X_target: ArrayLike) -> Callable[..., float]:
    """Scorer: negative mean entropy of the predictions on the target domain.

    ``-prediction_entropy(estimator.predict_proba(X_target))``; greater (closer to
    0) means more confident target predictions. The fold's ``X, y`` are ignored.
    Confidence is not accuracy: a model that assigns the whole target domain to
    one class with certainty gets the best possible score, so check the predicted
    merger fraction (:func:`domain_adaptation_report`), or use
    :func:`make_im_scorer` or :func:`make_dev_scorer` alongside.

    Parameters
    ----------
    X_target : array-like
        Unlabelled target samples, typically the ``X_target`` passed to ``fit``.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float`` in ``[-log(n_classes), 0]``.

    References
    ----------
    .. [1] Morerio, P., Cavazza, J., Murino, V. (2018). "Minimal-entropy correlation
       alignment for unsupervised deep domain adaptation." ICLR (target entropy
       as a validation criterion).
    .. [2] Saito, K., et al. (2021). "Tune it the right way: Unsupervised
       validation of domain adaptation via soft neighborhood density." ICCV,
       9184-9193.
    """
    return _EntropyScorer(X_target)


class _IMScorer(_Scorer):
    _factory = "make_im_scorer"

    def _score(self, estimator, X, y):
        return information_maximization(estimator.predict_proba(self.X_target))


def make_im_scorer(X_target: ArrayLike) -> Callable[..., float]:
    """Scorer: information maximisation of the predictions on the target domain.

    :func:`information_maximization` of ``estimator.predict_proba(X_target)``:
    high for confident predictions spread over both classes, 0 for a model that
    puts the whole target domain into one class. The fold's ``X, y`` are ignored.

    Parameters
    ----------
    X_target : array-like
        Unlabelled target samples, typically the ``X_target`` passed to ``fit``.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float`` in ``[0, log(n_classes)]``.

    References
    ----------
    .. [1] Liang, J., Hu, D., Feng, J. (2020). "Do we really need to access the
       source data? Source hypothesis transfer for unsupervised domain
       adaptation." ICML, PMLR 119, 6028-6039.
    .. [2] Musgrave, K., Belongie, S., Lim, S.-N. (2022). "Benchmarking validation
       methods for unsupervised domain adaptation." arXiv:2208.07360.
    """
    return _IMScorer(X_target)


class _SNDScorer(_Scorer):
    _factory = "make_snd_scorer"

    def __init__(self, X_target, temperature, on):
        super().__init__(X_target, temperature=temperature, on=on)
        self.temperature = temperature
        self.on = on

    def _score(self, estimator, X, y):
        if self.on == "features":
            outputs = estimator.transform(self.X_target)
        else:
            outputs = estimator.predict_proba(self.X_target)
        return soft_neighborhood_density(outputs, self.temperature)


def make_snd_scorer(
    X_target: ArrayLike, temperature: float = 0.05, *, on: str = "proba"
) -> Callable[..., float]:
    """Scorer: soft neighbourhood density of the target outputs (Saito et al. 2021).

    :func:`soft_neighborhood_density` of ``predict_proba(X_target)`` (default) or of
    ``transform(X_target)``; greater is better. The fold's ``X, y`` are ignored.
    See the Notes of :func:`soft_neighborhood_density`: a model whose target
    outputs collapse onto one class scores highest.

    Parameters
    ----------
    X_target : array-like
        Unlabelled target samples, typically the ``X_target`` passed to ``fit``.
    temperature : float, default=0.05
        Softmax temperature of the neighbour distribution.
    on : {"proba", "features"}, default="proba"
        Softmax outputs (Saito et al.'s choice) or the estimator's latent features.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float`` in ``[0, log(n_target - 1)]``.

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
    return _SNDScorer(X_target, temperature, on)


class _DEVScorer(_Scorer):
    _factory = "make_dev_scorer"

    def __init__(self, X_target, loss, discriminator, cv, random_state):
        super().__init__(
            X_target,
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

    def _score(self, estimator, X, y):
        if X is None or y is None:
            raise ValueError(
                "The DEV scorer needs the labelled source validation fold: call it "
                "as scorer(estimator, X_valid, y_valid)."
            )
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
        weights = density_ratio_weights(
            self._features(estimator, X),
            self._features(estimator, self.X_target),
            discriminator=self.discriminator,
            cv=self.cv,
            random_state=self.random_state,
        )
        return -deep_embedded_validation(losses, weights)


def make_dev_scorer(
    X_target: ArrayLike,
    *,
    loss: str = "log_loss",
    discriminator: Any = None,
    cv: int | None = 5,
    random_state: int | None = 0,
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

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``, the negative estimated target risk.

    References
    ----------
    .. [1] You, K., Wang, X., Long, M., Jordan, M. I. (2019). "Towards accurate
       model selection in deep unsupervised domain adaptation." ICML, PMLR 97,
       7124-7133.
    """
    if loss not in ("log_loss", "error"):
        raise ValueError(f"loss must be 'log_loss' or 'error', got {loss!r}.")
    return _DEVScorer(X_target, loss, discriminator, cv, random_state)


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
