"""Per-channel image statistics: mean and standard deviation, median and MAD sigma.

The mean and variance are float64 statistics of float32 images computed in
chunks of samples; the robust noise level is 1.4826 times the median absolute
deviation, with a fallback for noise-free images.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []

_MAD_TO_SIGMA = 1.4826  # standard deviation / median absolute deviation, Gaussian
_CHUNK = 256  # samples per chunk where a float64 copy of the data is needed


def _mean_var_scale(X: np.ndarray):
    """Per-channel mean, variance and divisor (the std, or 1 where it is ~0).

    Float64 statistics of float32 images ``(n, c, h, w)``, the squares summed in
    chunks of samples so that no float64 copy of all images is made.
    """
    mean = X.mean(axis=(0, 2, 3), dtype=np.float64)
    squares = np.zeros_like(mean)
    for start in range(0, X.shape[0], _CHUNK):
        centred = X[start : start + _CHUNK] - mean[:, None, None]
        squares += np.einsum("nchw,nchw->c", centred, centred)
    var = squares / (X.shape[0] * X.shape[2] * X.shape[3])
    std = np.sqrt(var)
    tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    return mean, var, np.where(std <= tiny, 1.0, std)


def _median_and_robust_sigma(values: np.ndarray) -> tuple[float, float]:
    """Median of pixel values and their noise level, 1.4826 x the MAD.

    When more than half of the pixels equal the median (noise-free images on a
    flat background) the median absolute deviation is 0; the same estimate is
    then taken over the pixels that differ from the median, and 1 if there are
    none (constant images).
    """
    median = np.median(values)
    deviations = np.abs(values - median)
    sigma = _MAD_TO_SIGMA * float(np.median(deviations))
    if sigma == 0.0:
        nonzero = deviations[deviations > 0]
        sigma = _MAD_TO_SIGMA * float(np.median(nonzero)) if nonzero.size else 1.0
    return float(median), sigma


def _robust_sigma(values: np.ndarray) -> float:
    """Noise level of pixel values: 1.4826 x median absolute deviation.

    See :func:`_median_and_robust_sigma` for images without noise.
    """
    return _median_and_robust_sigma(values)[1]
