"""Label-free estimate of the target merger fraction, calibrated by injection.

The merger fraction of a survey is the number a user publishes, and the plain count
of ``predict`` on a shifted target is biased: it mixes the true fraction with the
classifier's error rates *on the target*. Adjusted classify-and-count (ACC) and its
probabilistic version (PACC) remove that bias given the error rates, but error rates
measured on source images are the wrong ones under covariate shift. Here they are
measured on *injected* images: labelled source galaxies placed into sky taken from
the target images themselves, the way surveys calibrate their selection functions
(the Balrog injections of the Dark Energy Survey, Everett et al. 2022).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state

from .._param_validation import LABEL, HasMethods, Interval, StrOptions, validate_params
from ._fitted import predict_proba_in
from ._injection import _THRESHOLD, _inject
from ._merger_fraction_estimate import MergerFractionEstimate
from ._report import _positive_column
from ._sky import _sky_model
from ._table import _binary_truth

__all__ = ["estimate_merger_fraction"]

# Trust checks of estimate_merger_fraction (see its Notes).
_RAW_MARGIN = 0.1  # raw estimate outside [-0.1, 1.1] before clipping
_MAX_SKY_MISMATCH = 0.2  # injected vs target robust sky noise, relative
_SKY_CHECK_SIZE = 256  # injected images whose sky noise is measured
_MIXTURE_ALPHA_C = 1.949  # Kolmogorov critical value c(alpha) at alpha = 0.001
_MIXTURE_MIN_D = 0.05  # and never flag a misfit smaller than this
_MIN_PER_CLASS = 10  # calibration images per class


def _correct(q, tpr, fpr):
    """(q - fpr) / (tpr - fpr), NaN where the denominator vanishes."""
    denominator = np.asarray(tpr - fpr, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0, (q - fpr) / denominator, np.nan)


def _mixture_distance(scores_t, scores_pos, scores_neg, p) -> float:
    """Kolmogorov distance between the target and the calibrated mixture."""
    grid = np.unique(np.concatenate([scores_t, scores_pos, scores_neg]))

    def cdf(sample):
        return np.searchsorted(np.sort(sample), grid, side="right") / len(sample)

    mixture = p * cdf(scores_pos) + (1 - p) * cdf(scores_neg)
    return float(np.max(np.abs(cdf(scores_t) - mixture)))


@validate_params(
    {
        "estimator": [HasMethods(["predict_proba"])],
        "X_target": ["array-like"],
        "X_calibration": ["array-like"],
        "y_calibration": ["array-like"],
        "method": [StrOptions({"acc", "pacc"})],
        "injection": ["boolean"],
        "n_bootstrap": [Interval(Integral, 10, None, closed="left")],
        "pos_label": [*LABEL, None],
        "min_separation": [Interval(Real, 0, 1, closed="right")],
        "max_interval_width": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def estimate_merger_fraction(
    estimator: Any,
    X_target: ArrayLike,
    X_calibration: ArrayLike,
    y_calibration: ArrayLike,
    *,
    method: str = "pacc",
    injection: bool = True,
    n_bootstrap: int = 200,
    pos_label: Any = None,
    min_separation: float = 0.2,
    max_interval_width: float = 0.3,
    random_state: int | np.random.RandomState | None = None,
) -> MergerFractionEstimate:
    """Estimate the merger fraction of an unlabelled target set, with its error.

    The fraction of target images that a classifier calls merger, ``q``, is
    ``q = tpr * p + fpr * (1 - p)`` for a true merger fraction ``p``, where
    ``tpr`` and ``fpr`` are the classifier's true- and false-positive rates *on
    the target*. Adjusted classify-and-count [1]_ inverts it::

        p = (q - fpr) / (tpr - fpr),

    clipped to [0, 1]. The probabilistic version (PACC [2]_, the default) uses
    the mean merger probability instead of the hard count in ``q``, ``tpr`` and
    ``fpr``; it is less noisy. Both assume that the target differs from the
    calibration images only in its merger fraction (prior shift). A shifted
    classifier's rates on source images are not its rates on the target, so with
    ``injection=True`` the calibration images are first put into sky cut from the
    target images (:func:`inject_into_target_sky`), which makes them target-like
    when the target differs from the source by its noise and background (the
    pristine-to-noisy shift of DeepMerge II).

    The uncertainty comes from ``n_bootstrap`` resamples of the target images
    and, class by class, of the calibration images (the predictions are made
    once; resampling reuses them).

    Parameters
    ----------
    estimator : fitted binary classifier
        Any classifier with ``predict_proba`` and ``classes_``, such as
        :class:`~skdamerge.MMDClassifier`.
    X_target : array-like
        Unlabelled target images (the survey).
    X_calibration : array-like
        Labelled source images that the estimator was **not** trained on, for
        example its validation split; images in linear flux units when
        ``injection=True``. A thousand or so is enough.
    y_calibration : array-like of shape (n_calibration,)
        Their labels; both classes, at least 10 images each.
    method : {"pacc", "acc"}, default="pacc"
        Probabilistic (mean probabilities) or hard (counts) adjusted count.
    injection : bool, default=True
        Inject ``X_calibration`` into target sky before measuring the rates.
        False uses them as they are: right when they are already target-like
        (e.g. a labelled target subset), biased otherwise.
    n_bootstrap : int, default=200
        Bootstrap resamples for the standard deviation and the intervals.
    pos_label : object, default=None
        The merger label; None takes ``estimator.classes_[1]``.
    min_separation : float, default=0.2
        Smallest trusted ``tpr - fpr``: the correction divides by it.
    max_interval_width : float, default=0.3
        Widest trusted 95% interval.
    random_state : int, RandomState instance or None, default=None
        Injection and bootstrap.

    Returns
    -------
    MergerFractionEstimate
        The estimate, its bootstrap standard deviation and 68% / 95% intervals,
        the plain count, the rates, and ``trusted`` with a ``reason``.

    Raises
    ------
    ValueError
        If the estimator is not a binary classifier, ``y_calibration`` does not
        hold both classes at least 10 times each, or the images do not fit.

    See Also
    --------
    inject_into_target_sky : The injection step.
    domain_adaptation_report : The plain predicted merger fraction per domain.

    Notes
    -----
    ``trusted`` is False, with the failed checks in ``reason``, when

    - ``tpr - fpr < min_separation``: the classifier barely separates the
      classes on the calibration images, and the correction amplifies noise;
    - the raw estimate before clipping lies outside [-0.1, 1.1]: the target
      count is not a mixture of the calibrated rates;
    - the 95% bootstrap interval is wider than ``max_interval_width``;
    - the target's merger probabilities are not a mixture of the calibration
      images' two class distributions, with the estimated weight (Kolmogorov
      distance above ``max(0.05, 1.949 * sqrt(1/n_t + p^2/n_1 + (1-p)^2/n_0))``,
      the two-sample critical value at the 0.1% level). This is the check that
      the calibration images are target-like *for the classifier*, the
      assumption that the correction needs; it does not depend on the merger
      fractions of the two sets;
    - with injection, the robust sky noise of the injected images differs from
      that of the target by more than 20% in a band (the masking failed, or the
      source images carry noise of their own).

    Passing the checks is evidence, not proof: a target whose *galaxies* differ
    from the source's (a different population, resolution or band order, as in
    sim-to-real) can mimic a prior shift. EM re-weighting of the posteriors
    (Saerens et al. [4]_) is not offered: it needs posteriors calibrated on the
    target, which a shifted network's are not (on a pristine-to-noisy test with
    true fraction 0.45 it gave 0.99 and 0.34).

    References
    ----------
    .. [1] Forman, G. (2008). "Quantifying counts and costs via classification."
       Data Mining and Knowledge Discovery 17, 164-206.
    .. [2] Bella, A., Ferri, C., Hernández-Orallo, J., Ramírez-Quintana, M. J.
       (2010). "Quantification via probability estimators." IEEE ICDM, 737-742.
    .. [3] Everett, S., Yanny, B., Kuropatkin, N., et al. (2022). "Dark Energy
       Survey Year 3 Results: Measuring the survey transfer function with Balrog."
       ApJS 258, 15.
    .. [4] Saerens, M., Latinne, P., Decaestecker, C. (2002). "Adjusting the
       outputs of a classifier to new a priori probabilities: a simple
       procedure." Neural Computation 14, 21-41.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdamerge.metrics import estimate_merger_fraction

    Features of one dimension, mergers shifted by 1; the target has 20% mergers
    (19.7% of the 3000 drawn here), the training and calibration sets 50%:

    >>> rng = np.random.default_rng(1)
    >>> y_cal = rng.integers(0, 2, 2000)
    >>> X_cal = (y_cal + rng.normal(0, 0.7, 2000))[:, None]
    >>> y_t = (rng.random(3000) < 0.2).astype(int)
    >>> X_t = (y_t + rng.normal(0, 0.7, 3000))[:, None]
    >>> clf = LogisticRegression().fit(X_cal[:1000], y_cal[:1000])
    >>> est = estimate_merger_fraction(
    ...     clf, X_t, X_cal[1000:], y_cal[1000:], injection=False, random_state=0
    ... )
    >>> round(est.fraction, 3), round(est.std, 3), est.trusted
    (0.182, 0.03, True)
    >>> round(est.count_fraction, 3)  # the plain count of predict
    0.326
    """
    return _estimate_merger_fraction(
        estimator,
        X_target,
        X_calibration,
        y_calibration,
        method=method,
        injection=injection,
        n_bootstrap=n_bootstrap,
        pos_label=pos_label,
        min_separation=min_separation,
        max_interval_width=max_interval_width,
        random_state=random_state,
    )


def _estimate_merger_fraction(
    estimator: Any,
    X_target: ArrayLike,
    X_calibration: ArrayLike,
    y_calibration: ArrayLike,
    *,
    method: str = "pacc",
    injection: bool = True,
    n_bootstrap: int = 200,
    pos_label: Any = None,
    min_separation: float = 0.2,
    max_interval_width: float = 0.3,
    random_state: int | np.random.RandomState | None = None,
    target_proba: np.ndarray | None = None,
) -> MergerFractionEstimate:
    """:func:`estimate_merger_fraction`, given the target probabilities if known.

    ``target_proba``, the estimator's ``predict_proba`` on ``X_target`` as a
    target domain, spares predicting the target images again where the caller
    has them already (the end of a fit); the result is the same. The other
    parameters are those of :func:`estimate_merger_fraction`, not validated here.
    """
    column, pos, _ = _positive_column(estimator, pos_label)
    is_pos = _binary_truth(y_calibration, pos, "y_calibration")
    if len(is_pos) != len(X_calibration):
        raise ValueError(
            f"X_calibration has {len(X_calibration)} images but y_calibration "
            f"{len(is_pos)} labels; pass one label per image."
        )
    n_pos, n_neg = int(is_pos.sum()), int((~is_pos).sum())
    if min(n_pos, n_neg) < _MIN_PER_CLASS:
        raise ValueError(
            f"y_calibration holds {n_pos} mergers and {n_neg} non-mergers; the "
            f"rates need at least {_MIN_PER_CLASS} of each: pass more labelled "
            "calibration images."
        )
    rng = check_random_state(random_state)
    checks: dict[str, Any] = {}
    if injection:
        injected, _, donor_sigma = _inject(
            X_calibration,
            X_target,
            _THRESHOLD,
            None,
            np.random.default_rng(rng.randint(2**32)),
        )
        dtype = np.asarray(X_calibration).dtype
        X_cal = injected.reshape(np.shape(X_calibration)).astype(
            np.float32 if dtype == np.float32 else np.float64
        )
    else:
        X_cal = X_calibration

    def merger_scores(X):
        # Target and injected images are both target-like: a per-domain pipeline
        # transforms them with the target's statistics.
        proba = np.asarray(predict_proba_in(estimator, X, "target"), dtype=np.float64)
        return proba[:, column], proba.argmax(axis=1) == column

    if target_proba is None:
        prob_t, hard_t = merger_scores(X_target)
    else:
        proba_t = np.asarray(target_proba, dtype=np.float64)
        prob_t, hard_t = proba_t[:, column], proba_t.argmax(axis=1) == column
    prob_c, hard_c = merger_scores(X_cal)
    n_target = len(prob_t)
    count = float(hard_t.mean())
    if method == "acc":
        score_t, score_c = hard_t.astype(np.float64), hard_c.astype(np.float64)
    else:
        score_t, score_c = prob_t, prob_c
    score_pos, score_neg = score_c[is_pos], score_c[~is_pos]
    tpr, fpr = float(score_pos.mean()), float(score_neg.mean())
    raw = float(_correct(score_t.mean(), tpr, fpr))
    fraction = float(np.clip(raw, 0.0, 1.0)) if np.isfinite(raw) else float("nan")

    # Bootstrap on the arrays: target images, and calibration images per class.
    boot = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        boot[b] = _correct(
            score_t[rng.randint(0, n_target, n_target)].mean(),
            score_pos[rng.randint(0, n_pos, n_pos)].mean(),
            score_neg[rng.randint(0, n_neg, n_neg)].mean(),
        )
    boot = np.clip(boot[np.isfinite(boot)], 0.0, 1.0)
    if boot.size >= 2:
        std = float(boot.std(ddof=1))
        interval = tuple(float(v) for v in np.percentile(boot, [15.865, 84.135]))
        interval_95 = tuple(float(v) for v in np.percentile(boot, [2.5, 97.5]))
    else:
        std, interval, interval_95 = math.nan, (math.nan,) * 2, (math.nan,) * 2

    reasons = []
    separation = tpr - fpr
    checks["separation"] = separation
    if not separation >= min_separation:
        reasons.append(
            f"the classifier barely separates the classes on the calibration "
            f"images (tpr - fpr = {separation:.2f} < {min_separation}), and the "
            "correction divides by it"
        )
    if np.isfinite(raw) and not (-_RAW_MARGIN <= raw <= 1 + _RAW_MARGIN):
        reasons.append(
            f"the raw estimate {raw:.2f} lies far outside [0, 1]: the target "
            "count is not a mixture of the calibrated rates"
        )
    width = interval_95[1] - interval_95[0]
    checks["interval_95_width"] = width
    if np.isfinite(width) and width > max_interval_width:
        reasons.append(
            f"the 95% interval is {width:.2f} wide (> {max_interval_width}): "
            "too few images or too weak a classifier"
        )
    if np.isfinite(fraction):
        # On the probabilities whatever the method: the hard decisions hide
        # most of the distribution.
        p = fraction
        distance = _mixture_distance(prob_t, prob_c[is_pos], prob_c[~is_pos], p)
        limit = max(
            _MIXTURE_MIN_D,
            _MIXTURE_ALPHA_C
            * math.sqrt(1 / n_target + p**2 / n_pos + (1 - p) ** 2 / n_neg),
        )
        checks["mixture_distance"] = distance
        checks["mixture_distance_limit"] = limit
        if distance > limit:
            reasons.append(
                "the calibration images are not target-like for the classifier: "
                "its merger probabilities on the target are not a mixture of "
                f"those on the two calibration classes (Kolmogorov distance "
                f"{distance:.3f} > {limit:.3f})"
            )
    if injection:
        dilation = max(1, round(min(injected.shape[2:]) / 8))
        some = rng.choice(len(injected), min(len(injected), _SKY_CHECK_SIZE), False)
        _, injected_sigma, _ = _sky_model(injected[some], _THRESHOLD, dilation)
        ratio = np.nanmedian(injected_sigma, axis=0) / np.median(donor_sigma, axis=0)
        checks["sky_noise_ratio"] = [float(r) for r in ratio]
        if np.any(np.abs(ratio - 1) > _MAX_SKY_MISMATCH):
            reasons.append(
                "the injected images' sky noise differs from the target's by more "
                f"than {100 * _MAX_SKY_MISMATCH:.0f}% (ratio per band "
                f"{np.round(ratio, 2).tolist()})"
            )
    return MergerFractionEstimate(
        fraction=fraction,
        std=std,
        interval=interval,
        interval_95=interval_95,
        count_fraction=count,
        raw_fraction=raw,
        tpr=tpr,
        fpr=fpr,
        method=method,
        injection=bool(injection),
        trusted=not reasons,
        reason="; ".join(reasons),
        n_target=n_target,
        n_calibration=n_pos + n_neg,
        checks=checks,
    )
