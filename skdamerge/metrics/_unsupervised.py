"""Label-free quantities of target predictions used for model selection."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp, xlogy
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_array

from .._param_validation import HasMethods, Interval, validate_params

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


@validate_params({"proba": ["array-like"]}, prefer_skip_nested_validation=True)
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


@validate_params({"proba": ["array-like"]}, prefer_skip_nested_validation=True)
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


@validate_params(
    {
        "X": ["array-like"],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
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


@validate_params(
    {
        "features_source": ["array-like"],
        "features_target": ["array-like"],
        "discriminator": [HasMethods(["fit", "predict_proba"]), None],
        "cv": [Interval(Integral, 2, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
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


@validate_params(
    {"losses": ["array-like"], "weights": ["array-like"]},
    prefer_skip_nested_validation=True,
)
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
