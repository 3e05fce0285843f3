"""The result of a merger-fraction estimate: :class:`MergerFractionEstimate`.

The estimate with its bootstrap uncertainty, the plain count, the calibrated
rates and the verdict of the trust checks of
:func:`~skdamerge.metrics.estimate_merger_fraction`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MergerFractionEstimate", "trusted_fraction"]


@dataclass(frozen=True, eq=False)
class MergerFractionEstimate:
    """A merger-fraction estimate with its uncertainty and a verdict on its trust.

    Built by :func:`estimate_merger_fraction`; print it for one readable line.
    The parameters are also its (read-only) attributes.

    Parameters
    ----------
    fraction : float
        The estimated merger fraction of the target, clipped to [0, 1].
    std : float
        Bootstrap standard deviation of the (clipped) estimate.
    interval : tuple of float
        Central 68% bootstrap interval ``(low, high)``.
    interval_95 : tuple of float
        Central 95% bootstrap interval.
    count_fraction : float
        The plain count: fraction of target images that ``predict`` calls merger.
    raw_fraction : float
        The corrected estimate before clipping to [0, 1].
    tpr, fpr : float
        The classifier's rates on the calibration images: for ``"acc"`` the
        fractions of mergers and of non-mergers predicted merger, for ``"pacc"``
        the mean merger probabilities of the two classes.
    method : {"acc", "pacc"}
        Which correction.
    injection : bool
        Whether the calibration images were injected into target sky.
    trusted : bool
        False when a check failed; then do not publish ``fraction``.
    reason : str
        Why it is not trusted (the failed checks, separated by "; "); empty when
        trusted.
    n_target, n_calibration : int
        Number of target and calibration images.
    checks : dict
        The quantities behind the verdict: ``separation`` (``tpr - fpr``),
        ``interval_95_width``, ``mixture_distance`` and
        ``mixture_distance_limit`` (Kolmogorov distance between the target's
        merger probabilities and the calibrated two-class mixture, and the value
        that fails), ``sky_noise_ratio`` (robust sky noise of injected over target
        images, per band; absent without injection).

    References
    ----------
    .. [1] Forman, G. (2008). "Quantifying counts and costs via classification."
       Data Mining and Knowledge Discovery 17, 164-206.
    .. [2] Bella, A., Ferri, C., Hernández-Orallo, J., Ramírez-Quintana, M. J.
       (2010). "Quantification via probability estimators." IEEE ICDM, 737-742.
    """

    fraction: float
    std: float
    interval: tuple[float, float]
    interval_95: tuple[float, float]
    count_fraction: float
    raw_fraction: float
    tpr: float
    fpr: float
    method: str
    injection: bool
    trusted: bool
    reason: str
    n_target: int
    n_calibration: int
    checks: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        low, high = self.interval
        text = (
            f"merger fraction {self.fraction:.3f} +/- {self.std:.3f} "
            f"(68%: {low:.3f}-{high:.3f}; {self.method.upper()}"
            f"{' with injection' if self.injection else ''}, "
            f"tpr {self.tpr:.2f}, fpr {self.fpr:.2f}; plain count "
            f"{self.count_fraction:.3f})"
        )
        if not self.trusted:
            text += f" NOT TRUSTED: {self.reason}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return the estimate as plain Python objects (JSON-serialisable).

        Returns
        -------
        dict
            Every attribute; tuples become lists, numpy values Python ones.
        """

        def plain(value):
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, tuple | list | np.ndarray):
                return [plain(v) for v in value]
            if isinstance(value, np.generic):
                return value.item()
            return value

        return {
            name: plain(getattr(self, name))
            for name in self.__dataclass_fields__  # keeps the declaration order
        }


def trusted_fraction(estimate) -> float | None:
    """Return the estimate's merger fraction where it is trusted, else None.

    ``estimate`` is a :class:`MergerFractionEstimate` or None (no estimate was
    made). Everything that acts on a fitted model's estimate (the decision
    threshold of ``predict(X, domain="target")``, the collapse verdict, the
    report) asks this one question.
    """
    if estimate is None or not estimate.trusted:
        return None
    return float(estimate.fraction)
