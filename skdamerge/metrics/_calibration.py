"""Expected calibration error of the merger probability."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._param_validation import LABEL, Interval, StrOptions, validate_params


def _calibration_error(
    truth: np.ndarray, p: np.ndarray, n_bins: int, strategy: str
) -> float:
    """ECE of boolean labels ``truth`` and positive-class probabilities ``p``."""
    if strategy == "quantile":
        edges = np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin k holds edges[k] <= p < edges[k + 1]; the last bin also holds p = 1
    # (the bins of sklearn.calibration.calibration_curve).
    bins = np.searchsorted(edges[1:-1], p, side="right")
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=truth.astype(np.float64), minlength=n_bins)
    # sum over bins of n_k / n * |mean(y) - mean(p)| = sum |sum_y - sum_p| / n
    return float(np.sum(np.abs(sum_y - sum_p)) / len(p))


@validate_params(
    {
        "y_true": ["array-like"],
        "y_prob": ["array-like"],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"uniform", "quantile"})],
        "pos_label": [*LABEL, None],
    },
    prefer_skip_nested_validation=True,
)
def expected_calibration_error(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: str = "uniform",
    pos_label: Any = None,
) -> float:
    r"""Return the expected calibration error (ECE) of the merger probability.

    The predicted probabilities of the positive (merger) class are grouped into
    ``n_bins`` bins :math:`B_1, \dots, B_K`; in each bin the observed fraction of
    mergers is compared with the mean predicted probability, and the gaps are
    averaged with the bins' sizes as weights:

    .. math::

        \mathrm{ECE} = \sum_{k=1}^{K} \frac{|B_k|}{n}
        \left| \frac{1}{|B_k|} \sum_{i \in B_k} y_i
        - \frac{1}{|B_k|} \sum_{i \in B_k} p_i \right|

    with :math:`y_i = 1` for a merger. This is the binary ECE of Naeini et al.
    (2015) [1]_, the weighted distance between the reliability diagram
    (:func:`sklearn.calibration.calibration_curve`) and the diagonal. Guo et al.
    (2017) [2]_ bin the *confidence* of the predicted class, :math:`\max(p,
    1 - p)`, instead; the positive-class version is kept here because it
    measures the merger probability itself, whose mean is the predicted merger
    fraction, and it is zero exactly when every bin's probability matches its
    merger fraction. Empty bins contribute nothing. 0 is perfect; the ECE is at
    most 1.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of ``pos_label`` (``predict_proba(X)[:, 1]`` for an
        skdamerge estimator with 0/1 labels).
    n_bins : int, default=15
        Number of bins (15, as in Guo et al. 2017).
    strategy : {"uniform", "quantile"}, default="uniform"
        ``"uniform"``: bins of equal width on [0, 1]; ``"quantile"``: edges at
        the quantiles of ``y_prob``, so that the bins hold about equally many
        samples (tied probabilities share a bin).
    pos_label : int, str or bool, default=None
        Label of the merger (positive) class. None means 1 when the labels are
        0/1 or -1/1 (or a subset of them); other labels need it.

    Returns
    -------
    float
        The expected calibration error, in [0, 1].

    See Also
    --------
    metric_table : the metric table, whose ``"ece"`` row is this function with
        its defaults.
    sklearn.calibration.calibration_curve : the reliability diagram.
    sklearn.calibration.CalibratedClassifierCV : temperature scaling
        (``method="temperature"``) and other calibrations.

    References
    ----------
    .. [1] Naeini, M. P., Cooper, G. F., Hauskrecht, M. (2015). "Obtaining well
       calibrated probabilities using Bayesian binning." AAAI, 2901-2907.
    .. [2] Guo, C., Pleiss, G., Sun, Y., Weinberger, K. Q. (2017). "On calibration
       of modern neural networks." ICML, PMLR 70, 1321-1330.

    Examples
    --------
    >>> from skdamerge.metrics import expected_calibration_error
    >>> y = [0, 0, 1, 1]
    >>> p = [0.1, 0.3, 0.6, 0.9]
    >>> round(expected_calibration_error(y, p, n_bins=2), 3)
    0.225
    """
    from ._table import _binary_truth, _check_probability  # _table imports this module

    labels = np.unique(np.asarray(y_true))
    if pos_label is None and len(labels) <= 2:  # more labels: _binary_truth says so
        if not np.isin(labels, [0, 1, -1]).all() or labels.dtype.kind not in "biuf":
            raise ValueError(
                f"y_true takes the values {labels.tolist()[:10]}; pass the merger "
                "label as pos_label (it is only inferred for 0/1 or -1/1 labels)."
            )
        pos_label = 1
    truth = _binary_truth(y_true, pos_label)
    p = _check_probability(y_prob, len(truth), name="y_prob")
    if len(truth) == 0:
        raise ValueError("y_true is empty.")
    return _calibration_error(truth, p, n_bins, strategy)
