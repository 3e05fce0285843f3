"""The sky of survey images: robust statistics, object masks, galaxy-free cutouts.

Per image and band, sigma-clipped sky level and noise; per image, a mask of its
objects from the summed signal-to-noise of the bands; and the sky of an image with
its objects replaced by sky values, the donor sky of
:func:`~skdamerge.metrics.inject_into_target_sky`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .._threads import map_on_threads

__all__: list[str] = []

# Sky estimation: sigma-clipped median and IQR-based sigma per image and band.
_CLIP_SIGMA = 3.0
_CLIP_ITERATIONS = 3
_IQR_TO_SIGMA = 1.3489795003921634
# A donor image needs this share of its pixels left as sky after masking.
_MIN_SKY_FRACTION = 0.2
_SKY_PASSES = 2  # mask, re-estimate the sky outside it, mask again
# The sky model of many images is computed in chunks of images, on threads.
_MAX_THREADS = 4
_MIN_IMAGES_PER_CHUNK = 64


def _range_quantile(ordered, low, high, q):
    """Quantile ``q`` of each row's sorted entries ``low:high`` (linear)."""
    position = low + q * np.maximum(high - low - 1, 0)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, ordered.shape[-1] - 1)
    weight = position - below
    take = np.take_along_axis
    v_below = take(ordered, below[..., None], axis=-1)[..., 0]
    v_above = take(ordered, above[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore"):
        value = np.where(weight > 0, v_below + weight * (v_above - v_below), v_below)
    return np.where(high > low, value, np.nan)


def _count_sorted(ordered: np.ndarray, bound: np.ndarray, strict: bool) -> np.ndarray:
    """Entries of each sorted float32 row below ``bound``, by binary search.

    The counts of ``(ordered < bound).sum(axis=-1)`` (``strict``) or of
    ``ordered <= bound``, compared in float64 as numpy compares float32 with
    float64, without a pass over every entry: the float64 bound is first moved
    to the float32 that separates the same entries (``x < b`` exactly when ``x``
    is below the smallest float32 not below ``b``; ``x <= b`` when ``x`` is at
    most the largest float32 not above ``b``). A NaN bound counts nothing.

    Parameters
    ----------
    ordered : ndarray of float32 of shape (..., n)
        Rows sorted in increasing order.
    bound : ndarray of float64 of shape (...)
        One bound per row.
    strict : bool
        Count the entries below (True) or at most (False) the bound.
    """
    bound32 = bound.astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        if strict:
            step = np.nextafter(bound32, np.float32(np.inf))
            bound32 = np.where(bound32 < bound, step, bound32)
        else:
            step = np.nextafter(bound32, np.float32(-np.inf))
            bound32 = np.where(bound32 > bound, step, bound32)
    rows = ordered.reshape(-1, ordered.shape[-1])
    bounds = bound32.reshape(-1)
    # Bisection on every row at once (np.searchsorted searches one row): after
    # it, ``low`` is the first entry not below (strict) or above the bound.
    low = np.zeros(len(rows), dtype=np.intp)
    high = np.full(len(rows), rows.shape[-1], dtype=np.intp)
    row_index = np.arange(len(rows))
    with np.errstate(invalid="ignore"):
        while np.any(searching := low < high):
            middle = (low + high) // 2
            value = rows[row_index, np.minimum(middle, rows.shape[-1] - 1)]
            before = (value < bounds) if strict else (value <= bounds)
            low = np.where(searching & before, middle + 1, low)
            high = np.where(searching & ~before, middle, high)
    low[np.isnan(bounds)] = 0
    return low.reshape(bound.shape)


def _sky_statistics(
    images: np.ndarray, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sigma-clipped median and robust standard deviation per image and band.

    The robust standard deviation is the interquartile range divided by 1.349
    (its value for a Gaussian); three iterations of 3-sigma clipping. The pixels
    of a row are sorted once: every clipped set is a contiguous range of them.

    Parameters
    ----------
    images : ndarray of shape (n, C, H, W)
    keep : ndarray of bool of shape (n, C, H * W), optional
        Pixels to consider (default all).

    Returns
    -------
    median, sigma : ndarrays of shape (n, C)
        NaN for an image and band without pixels to consider.
    """
    # float32 is plenty for sky statistics and sorts twice as fast
    flat = images.reshape(images.shape[0], images.shape[1], -1).astype(np.float32)
    if keep is not None:
        flat = np.where(keep, flat, np.float32(np.inf))
    ordered = np.sort(flat, axis=-1)
    low = np.zeros(ordered.shape[:-1], dtype=np.intp)
    # The pixels are finite: the left-out ones (+inf) are sorted last.
    high = _count_sorted(ordered, np.full(low.shape, np.inf), strict=True)
    for iteration in range(_CLIP_ITERATIONS + 1):
        median = _range_quantile(ordered, low, high, 0.5)
        spread = _range_quantile(ordered, low, high, 0.75) - _range_quantile(
            ordered, low, high, 0.25
        )
        sigma = np.maximum(
            spread / _IQR_TO_SIGMA, 1e-12 * np.maximum(np.abs(median), 1.0)
        )
        if iteration < _CLIP_ITERATIONS:
            with np.errstate(invalid="ignore"):
                bound_low = median - _CLIP_SIGMA * sigma
                bound_high = median + _CLIP_SIGMA * sigma
            # Every clipped set is a contiguous range of the sorted row: its
            # ends are found by binary search.
            low = _count_sorted(ordered, bound_low, strict=True)
            high = _count_sorted(ordered, bound_high, strict=False)
    return median, sigma


def _object_mask(
    images: np.ndarray, median: np.ndarray, sigma: np.ndarray, threshold, dilation
) -> np.ndarray:
    """Pixels of the objects (True) in each image, shared by all bands.

    The signal-to-noise images of the bands are summed (divided by sqrt(C)),
    smoothed by a 3x3 box, thresholded at ``threshold`` robust standard deviations
    of the smoothed image above its median, and the detections grown by
    ``dilation`` pixels (a square of side ``2 * dilation + 1``).
    """
    snr = (images - median[..., None, None]) / sigma[..., None, None]
    detection = snr.sum(axis=1) / math.sqrt(images.shape[1])
    smooth = ndimage.uniform_filter(detection, size=(1, 3, 3), mode="reflect")
    s_med, s_sigma = _sky_statistics(smooth[:, None])
    mask = smooth > (s_med + threshold * s_sigma)[:, :, None]
    if dilation > 0:
        side = 2 * int(dilation) + 1
        mask = ndimage.maximum_filter(mask, size=(1, side, side), mode="constant")
    return mask


def _sky_model(
    images: np.ndarray, threshold: float, dilation: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sky median, sky noise (per image and band) and object mask (per image).

    Every result of an image depends on that image alone, so a large set is
    split into chunks of images modelled on threads (numpy's sorts and array
    operations release the GIL); the results are those of one pass.
    """
    n_chunks = max(1, min(_MAX_THREADS, len(images) // _MIN_IMAGES_PER_CHUNK))
    # One thread per chunk (map_on_threads caps them by the CPU count).
    results = map_on_threads(
        lambda chunk: _sky_model_of_chunk(chunk, threshold, dilation),
        np.array_split(images, n_chunks),
        n_chunks,
    )
    return tuple(np.concatenate(parts) for parts in zip(*results, strict=True))


def _sky_model_of_chunk(
    images: np.ndarray, threshold: float, dilation: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_sky_model` of a set of images, in this thread.

    Two passes: statistics of all pixels give a first mask; statistics of the
    pixels outside it (no longer pulled up by the galaxy) give the final mask and
    the returned sky level and noise, measured outside the final mask.
    """
    n, n_bands = images.shape[:2]
    median, sigma = _sky_statistics(images)
    mask = _object_mask(images, median, sigma, threshold, dilation)
    for _ in range(_SKY_PASSES - 1):
        keep = np.broadcast_to(~mask.reshape(n, 1, -1), (n, n_bands, mask[0].size))
        sky_median, sky_sigma = _sky_statistics(images, keep)
        # Images without sky left keep the whole-image statistics.
        valid = np.isfinite(sky_median) & np.isfinite(sky_sigma)
        median = np.where(valid, sky_median, median)
        sigma = np.where(valid, sky_sigma, sigma)
        mask = _object_mask(images, median, sigma, threshold, dilation)
    keep = np.broadcast_to(~mask.reshape(n, 1, -1), (n, n_bands, mask[0].size))
    sky_median, sky_sigma = _sky_statistics(images, keep)
    valid = np.isfinite(sky_median) & np.isfinite(sky_sigma)
    return (
        np.where(valid, sky_median, median),
        np.where(valid, sky_sigma, sigma),
        mask,
    )


def _sky_cutouts(
    donors: np.ndarray, threshold: float, dilation: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Galaxy-free sky of each donor image, whether it had enough sky, sky noise.

    ``donors`` (float64) is overwritten: the returned sky is the same array.
    Masked pixels are filled, band by band, with ``median + s * |d|``: ``d`` drawn
    from the below-median sky pixels of the same image and band, ``s`` a random
    sign. The lower half of the sky distribution is untouched by the masking
    threshold and by faint galaxy light, and the random sign restores the
    (symmetric) upper half.
    """
    median, sigma, mask = _sky_model(donors, threshold, dilation)
    n, n_bands = donors.shape[:2]
    sky = donors
    usable = np.zeros(n, dtype=bool)
    n_pixels = mask[0].size
    for i in range(n):
        masked = mask[i]
        n_masked = int(masked.sum())
        if n_pixels - n_masked < max(_MIN_SKY_FRACTION * n_pixels, 16):
            continue
        usable[i] = True
        if n_masked == 0:
            continue
        for c in range(n_bands):
            band = donors[i, c]
            pool = band[~masked] - median[i, c]
            pool = pool[pool <= 0]
            if pool.size == 0:
                pool = np.zeros(1)
            draws = rng.choice(pool, size=n_masked)
            signs = rng.choice(np.array([-1.0, 1.0]), size=n_masked)
            sky[i, c][masked] = median[i, c] + signs * np.abs(draws)
    return sky, usable, sigma
