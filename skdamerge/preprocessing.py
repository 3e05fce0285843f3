"""Preprocessing of galaxy images ``(n_samples, channels, height, width)``.

Scikit-learn transformers for standardisation (with the source statistics, or of
each domain with its own), astronomical intensity stretches, resizing and
cropping, :func:`pixel_units_differ`, which tells whether two domains need
per-domain standardisation, and :func:`balance_classes`, the class-balancing
augmentation of DeepMerge II. All accept float32 or float64 arrays (any real
numbers) and return float32 arrays; none changes its input in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._target import unwrap_target

__all__ = [
    "ArcsinhStretch",
    "CenterCrop",
    "ChannelStandardizer",
    "DomainStandardizer",
    "LogStretch",
    "ResizeImages",
    "balance_classes",
    "pixel_units_differ",
]

_MAD_TO_SIGMA = 1.4826  # standard deviation / median absolute deviation, Gaussian
_CHUNK = 256  # samples per chunk where a float64 copy of the data is needed


def _check_images(X, name: str = "X") -> np.ndarray:
    """Validate a 4-D image array and return it as float32 (not necessarily a copy)."""
    X = np.asarray(X)
    if (
        X.dtype == object
        or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool)
        or np.iscomplexobj(X)
    ):
        raise ValueError(
            f"{name} must hold real numbers; got dtype {X.dtype}. Convert it with "
            f"np.asarray({name}, dtype=np.float32)."
        )
    if X.ndim != 4:
        raise ValueError(
            f"{name} must be a 4-D array (n_samples, channels, height, width); got "
            f"shape {X.shape}. Use {name}[None] for one image, {name}[:, None] for "
            f"single-band images, np.moveaxis({name}, -1, 1) for channels-last data."
        )
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        raise ValueError(
            f"{name} contains NaN or infinite values; replace them first, e.g. with "
            f"np.nan_to_num({name}) or by masking those pixels to the background."
        )
    return X


def _check_channels(X: np.ndarray, n_channels: int, name: str, owner: str) -> None:
    if X.shape[1] != n_channels:
        raise ValueError(
            f"{name} has {X.shape[1]} channels, but {owner} was fitted on images "
            f"with {n_channels}."
        )


def _per_channel(values: np.ndarray) -> np.ndarray:
    """Reshape per-channel values (c,) to broadcast against (n, c, h, w)."""
    return np.asarray(values, dtype=np.float32)[:, None, None]


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


def _size_pair(size, name: str) -> tuple[int, int]:
    pair = (size, size) if np.ndim(size) == 0 else tuple(size)
    if len(pair) != 2 or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
        for s in pair
    ):
        raise ValueError(
            f"{name} must be a positive integer or a pair (height, width) of them; "
            f"got {size!r}."
        )
    return int(pair[0]), int(pair[1])


class ChannelStandardizer(TransformerMixin, BaseEstimator):
    """Standardise each channel to zero mean and unit variance.

    The mean and standard deviation of every channel are computed over all
    samples and pixels of the data given to :meth:`fit` (the training images)
    and applied unchanged to any other data. The reference code of DeepMerge II
    [1]_ computed the normalisation statistics on the whole data set, test
    images included, which leaks test-set information into training; fit this
    transformer on the training part only (it is what a pipeline does).

    A channel with zero variance is only centred (its scale is 1).

    Attributes
    ----------
    mean_ : ndarray of shape (n_channels,)
        Per-channel mean of the training images (float64).
    var_ : ndarray of shape (n_channels,)
        Per-channel variance of the training images (float64).
    scale_ : ndarray of shape (n_channels,)
        Per-channel divisor: the standard deviation, or 1 where it is zero.
    n_channels_in_ : int
        Number of channels seen in :meth:`fit`.
    n_samples_seen_ : int
        Number of images seen in :meth:`fit`.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.preprocessing import ChannelStandardizer
    >>> X_train = np.random.default_rng(0).normal(5.0, 2.0, size=(20, 3, 8, 8))
    >>> scaler = ChannelStandardizer().fit(X_train)
    >>> Z = scaler.transform(X_train)
    >>> bool(np.allclose(Z.mean(axis=(0, 2, 3)), 0, atol=1e-5))
    True
    """

    def fit(self, X, y=None):
        """Compute the per-channel mean and standard deviation of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Training images.
        y : None
            Ignored.

        Returns
        -------
        self : ChannelStandardizer
            The fitted transformer.
        """
        X = _check_images(X)
        if X.shape[0] == 0:
            raise ValueError("X has no samples; ChannelStandardizer needs at least 1.")
        self.mean_, self.var_, self.scale_ = _mean_var_scale(X)
        self.n_channels_in_ = X.shape[1]
        self.n_samples_seen_ = X.shape[0]
        return self

    def transform(self, X) -> np.ndarray:
        """Standardise ``X`` with the statistics learnt in :meth:`fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Images with as many channels as the training images.

        Returns
        -------
        X_new : ndarray of shape (n_samples, channels, height, width), float32
            ``(X - mean_) / scale_`` per channel.
        """
        check_is_fitted(self)
        X = _check_images(X)
        _check_channels(X, self.n_channels_in_, "X", type(self).__name__)
        out = X - _per_channel(self.mean_)
        out /= _per_channel(self.scale_)
        return out

    def inverse_transform(self, X) -> np.ndarray:
        """Undo :meth:`transform`.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Standardised images.

        Returns
        -------
        X_original : ndarray of shape (n_samples, channels, height, width), float32
            ``X * scale_ + mean_`` per channel.
        """
        check_is_fitted(self)
        X = _check_images(X)
        _check_channels(X, self.n_channels_in_, "X", type(self).__name__)
        out = X * _per_channel(self.scale_)
        out += _per_channel(self.mean_)
        return out


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


def _ndim(X) -> int:
    """Return the number of dimensions of an array-like without copying arrays."""
    ndim = getattr(X, "ndim", None)
    return np.asarray(X).ndim if ndim is None else int(ndim)


def _images_or_table(X, name: str) -> tuple[np.ndarray, bool]:
    """Validate images ``(n, c, h, w)`` or a table ``(n, f)``.

    Returns float32 images (a table as ``(n, f, 1, 1)``) and whether ``X`` was a
    table. Tables (and 1-D input, which is rejected with scikit-learn's message)
    go through :func:`sklearn.utils.validation.check_array`, images through
    :func:`_check_images`.
    """
    ndim = _ndim(X)
    if ndim in (1, 2):
        table = check_array(X, dtype=[np.float64, np.float32], input_name=name)
        return _check_images(table[:, :, None, None], name), True
    if ndim != 4:
        raise ValueError(
            f"{name} must be a 4-D array of images (n_samples, channels, height, "
            f"width) or a 2-D table (n_samples, n_features); got shape "
            f"{np.shape(X)}. Use "
            f"{name}[:, None] for single-band images, np.moveaxis({name}, -1, 1) "
            "for channels-last data."
        )
    images = _check_images(X, name)
    if images.shape[0] == 0:
        raise ValueError(f"{name} has no samples; at least 1 is needed.")
    return images, False


class DomainStandardizer(TransformerMixin, BaseEstimator):
    """Standardise each domain with its own per-channel statistics.

    :meth:`fit` learns the centre and scale of every channel twice: from the
    labelled source images ``X`` and from the unlabelled target images
    ``X_target``, both training data. :meth:`transform` applies the source
    statistics, :meth:`transform_target` the target statistics, so that each
    domain reaches zero mean and unit standard deviation per channel whatever
    its pixel units. The reference code of DeepMerge II [1]_ normalised each
    domain with its own statistics: its simulated source had a mean and standard
    deviation of about 0.61 and 1.85, the SDSS target about 25.8 and 35.1, so
    with the source statistics (:class:`ChannelStandardizer`) the real images
    land tens of standard deviations off the scale the network was trained on.
    Normalising each domain with its own statistics is also the idea of
    adaptive batch normalisation [2]_, at the input instead of inside the network.

    Which statistics apply is decided by the caller, never guessed from the
    data: ``transform`` is for source images (and behaves like
    :class:`ChannelStandardizer`), ``transform_target`` for target images, such
    as new images of the survey to classify. In a
    :class:`~skdamerge.pipeline.DomainAdaptationPipeline` fitted with
    ``X_target``, the target reaches the estimator through ``transform_target``,
    and ``pipe.predict_proba(X, domain="target")`` predicts on new target images
    with the target statistics (the default ``domain="source"`` uses the source
    statistics, as scikit-learn's model selection needs on source folds).

    Use it when the domains' pixel units differ (:func:`pixel_units_differ`);
    when they are the same (the paper's pristine and noisy simulated images),
    the source statistics keep differences that matter, such as the extra noise
    of the target, and :class:`ChannelStandardizer` is the safer choice. A
    per-domain standardisation assumes that both domains hold similar galaxy
    populations: it removes any real difference in mean brightness too.

    Parameters
    ----------
    robust : bool, default=False
        False: centre on the mean and divide by the standard deviation, as the
        reference code [1]_. True: centre on the median and divide by 1.4826
        times the median absolute deviation (MAD), a standard deviation for
        Gaussian noise that a few bright pixels (stars, cosmic rays, saturated
        cores) do not move [3]_; if more than half of a channel's pixels equal
        its median (noise-free images), the MAD of the pixels that differ from
        the median. It measures the sky noise, not the galaxy light: do not use
        it on noise-free images, whose galaxies it blows up to huge values.

    Attributes
    ----------
    mean_ : ndarray of shape (n_channels,)
        Per-channel centre of the source images: the mean, or with
        ``robust=True`` the median (float64).
    scale_ : ndarray of shape (n_channels,)
        Per-channel divisor for the source images: the standard deviation (or
        robust sigma), 1 where it is zero.
    target_mean_ : ndarray of shape (n_channels,)
        Per-channel centre of the target images. Only set when :meth:`fit` was
        given ``X_target``.
    target_scale_ : ndarray of shape (n_channels,)
        Per-channel divisor for the target images. Only set when :meth:`fit`
        was given ``X_target``.
    n_features_in_ : int
        Number of channels (of features, for a 2-D table) seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape ``(n_features_in_,)``
        Column names of a table given as a DataFrame to :meth:`fit`.
    n_samples_seen_ : int
        Number of source samples seen in :meth:`fit`.
    n_target_samples_seen_ : int
        Number of target samples seen in :meth:`fit` (only set with
        ``X_target``).

    See Also
    --------
    ChannelStandardizer : both domains standardised with the source statistics.
    pixel_units_differ : whether two domains need per-domain standardisation.
    skdamerge.pipeline.DomainAdaptationPipeline : fits it with ``X_target``.

    Notes
    -----
    A 2-D table ``(n_samples, n_features)``, for instance morphology parameters,
    is standardised per feature the same way.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.
    .. [2] Li, Y., Wang, N., Shi, J., Hou, X., Liu, J. (2018). "Adaptive batch
       normalization for practical domain adaptation." Pattern Recognition 80,
       109-117.
    .. [3] Rousseeuw, P. J., Croux, C. (1993). "Alternatives to the median
       absolute deviation." Journal of the American Statistical Association 88,
       1273-1283.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.preprocessing import DomainStandardizer
    >>> rng = np.random.default_rng(0)
    >>> X_sim = rng.normal(0.6, 1.9, size=(50, 3, 8, 8))  # simulated fluxes
    >>> X_sdss = rng.normal(26.0, 35.0, size=(40, 3, 8, 8))  # image counts
    >>> scaler = DomainStandardizer().fit(X_sim, X_target=X_sdss)
    >>> Z_sim, Z_sdss = scaler.transform(X_sim), scaler.transform_target(X_sdss)
    >>> [round(float(Z.std()), 3) for Z in (Z_sim, Z_sdss)]
    [1.0, 1.0]
    """

    _parameter_constraints: dict = {"robust": ["boolean"]}

    def __init__(self, robust: bool = False):
        self.robust = robust

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _validate_X(self, X, *, reset: bool) -> tuple[np.ndarray, bool]:
        """Return ``X`` as float32 images and whether it came as a 2-D table."""
        if _ndim(X) in (1, 2):
            # scikit-learn's validation: n_features_in_, feature names, messages.
            table = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
            return _check_images(table[:, :, None, None]), True
        images, _ = _images_or_table(X, "X")
        if reset:
            validate_data(self, images, reset=True, skip_check_array=True)
        else:
            _check_channels(images, self.n_features_in_, "X", type(self).__name__)
        return images, False

    def _statistics(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.robust:
            pairs = np.array(
                [
                    _median_and_robust_sigma(images[:, c].ravel())
                    for c in range(images.shape[1])
                ],
                dtype=np.float64,
            )
            return pairs[:, 0], pairs[:, 1]
        mean, _, scale = _mean_var_scale(images)
        return mean, scale

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, X_target=None):
        """Learn the per-channel statistics of each domain.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Source training images (or a table ``(n_samples, n_features)``).
        y : None
            Ignored.
        X_target : array-like of shape (n_target, channels, height, width), \
TargetDomain or None, default=None
            Unlabelled target training images, with the same channels in the
            same order as ``X`` (any image size). None learns the source
            statistics only; :meth:`transform_target` then raises.

        Returns
        -------
        self : DomainStandardizer
            The fitted transformer.
        """
        images, table = self._validate_X(X, reset=True)
        self.mean_, self.scale_ = self._statistics(images)
        self.n_samples_seen_ = images.shape[0]
        for name in ("target_mean_", "target_scale_", "n_target_samples_seen_"):
            self.__dict__.pop(name, None)  # from an earlier fit with a target
        X_target = unwrap_target(X_target)
        if X_target is None:
            return self
        target, target_table = _images_or_table(X_target, "X_target")
        if target_table != table:
            raise ValueError(
                f"X_target must have the layout of X: X is "
                f"{'a 2-D table' if table else '4-D images'} but X_target "
                f"{'a 2-D table' if target_table else '4-D images'} of shape "
                f"{np.shape(X_target)}."
            )
        if target.shape[1] != images.shape[1]:
            kind = "features" if table else "channels"
            raise ValueError(
                f"X_target has {target.shape[1]} {kind} but X has "
                f"{images.shape[1]}; both domains need the same {kind} in the same "
                f"order (select or reorder them first, e.g. X_target[:, [2, 1, 0]])."
            )
        self.target_mean_, self.target_scale_ = self._statistics(target)
        self.n_target_samples_seen_ = target.shape[0]
        return self

    @staticmethod
    def _apply(images, table, center, scale, inverse=False) -> np.ndarray:
        if inverse:
            out = images * _per_channel(scale)
            out += _per_channel(center)
        else:
            out = images - _per_channel(center)
            out /= _per_channel(scale)
        return out.reshape(out.shape[0], -1) if table else out

    def transform(self, X) -> np.ndarray:
        """Standardise source images with the source statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Source images (or a table), with the channels of the training images.

        Returns
        -------
        X_new : ndarray of shape (n_samples, channels, height, width), float32
            ``(X - mean_) / scale_`` per channel.
        """
        check_is_fitted(self)
        images, table = self._validate_X(X, reset=False)
        return self._apply(images, table, self.mean_, self.scale_)

    def transform_target(self, X) -> np.ndarray:
        """Standardise target images with the target statistics.

        Use it for every target image: the unlabelled training images and new
        images of the same survey or instrument to classify.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Target images (or a table), with the channels of the training images.

        Returns
        -------
        X_new : ndarray of shape (n_samples, channels, height, width), float32
            ``(X - target_mean_) / target_scale_`` per channel.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the transformer is not fitted, or was fitted without ``X_target``.
        """
        check_is_fitted(self)
        if not hasattr(self, "target_mean_"):
            raise NotFittedError(
                f"This {type(self).__name__} was fitted without X_target, so it has "
                "no target statistics: fit it with fit(X, X_target=target_images) "
                "(a DomainAdaptationPipeline does so when fitted with X_target), "
                "or standardise source images with transform(X)."
            )
        images, table = self._validate_X(X, reset=False)
        return self._apply(images, table, self.target_mean_, self.target_scale_)

    def inverse_transform(self, X) -> np.ndarray:
        """Undo :meth:`transform` (source statistics).

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Standardised source images (or a table).

        Returns
        -------
        X_original : ndarray of shape (n_samples, channels, height, width), float32
            ``X * scale_ + mean_`` per channel.
        """
        check_is_fitted(self)
        images, table = self._validate_X(X, reset=False)
        return self._apply(images, table, self.mean_, self.scale_, inverse=True)


def _level_and_spread(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel median and 99th percentile minus median, float64."""
    levels, spreads = [], []
    for c in range(images.shape[1]):
        p50, p99 = np.percentile(images[:, c], [50.0, 99.0])
        levels.append(p50)
        spreads.append(p99 - p50)
    return np.asarray(levels, dtype=np.float64), np.asarray(spreads, dtype=np.float64)


@validate_params(
    {
        "X_source": ["array-like"],
        "X_target": ["array-like"],
        "factor": [Interval(Real, 1, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def pixel_units_differ(X_source, X_target, *, factor: float = 3.0) -> bool:
    """Whether two domains' images are in different pixel units.

    For every channel, each domain's pixels give a *level*, the median (the sky
    background of a cutout), and a *spread*, the 99th percentile minus the
    median (how far the brighter galaxy light rises above the sky). The units
    differ when, in any channel,

    - one domain's spread is more than ``factor`` times the other's, or
    - the levels differ by more than the smaller spread (a target whose sky
      sits where the source's galaxy light is).

    Then standardising the target with the source statistics
    (:class:`ChannelStandardizer`) puts it off the scale the network learnt,
    and :class:`DomainStandardizer` is needed. DeepMerge II [1]_ recorded such a
    pair: simulated fluxes (mean 0.61, standard deviation 1.85) and SDSS image
    counts (25.8, 35.1).

    Both statistics are chosen to ignore what domain adaptation must handle
    itself. Sky noise added to the same galaxies (the paper's pristine and
    noisy simulations) changes a noise-level statistic such as the median
    absolute deviation by a factor of hundreds, but hardly moves the 99th
    percentile, which the galaxies dominate (ratios 0.98-1.15 on
    :func:`~skdamerge.datasets.make_galaxy_mergers` ``sim2sim`` data); a few
    bright outliers (< 1 % of the pixels) move neither statistic. The rule needs
    cutouts in which the galaxies fill more than 1 % of the pixels.

    Parameters
    ----------
    X_source : array-like of shape (n_source, channels, height, width)
        Source images.
    X_target : array-like of shape (n_target, channels, height, width)
        Target images, with the same channels in the same order (any size).
    factor : float, default=3.0
        Largest ratio of the spreads that still counts as the same units; > 1.

    Returns
    -------
    bool
        True if the pixel units differ in at least one channel.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.preprocessing import pixel_units_differ
    >>> rng = np.random.default_rng(0)
    >>> X_sim = rng.gamma(0.5, 2.0, size=(20, 3, 16, 16))
    >>> pixel_units_differ(X_sim, 1.1 * X_sim[::-1])
    False
    >>> pixel_units_differ(X_sim, 25.0 + 19.0 * X_sim)  # image counts
    True
    """
    source = _check_images(X_source, "X_source")
    target = _check_images(X_target, "X_target")
    for images, name in ((source, "X_source"), (target, "X_target")):
        if images.shape[0] == 0:
            raise ValueError(f"{name} has no samples; at least 1 is needed.")
    if target.shape[1] != source.shape[1]:
        raise ValueError(
            f"X_target has {target.shape[1]} channels but X_source has "
            f"{source.shape[1]}; both domains need the same bands in the same order."
        )
    level_s, spread_s = _level_and_spread(source)
    level_t, spread_t = _level_and_spread(target)
    eps = np.finfo(np.float32).eps
    for ls, lt, ss, st in zip(level_s, level_t, spread_s, spread_t, strict=True):
        magnitude = max(abs(ls), abs(lt), ss, st)
        if magnitude == 0.0:  # both channels all zero
            continue
        # Spreads of constant channels are 0: floor them at float32 precision.
        tiny = 8 * eps * magnitude
        small, large = sorted((max(ss, tiny), max(st, tiny)))
        if large > factor * small or abs(lt - ls) > small:
            return True
    return False


class _IntensityStretch(TransformerMixin, BaseEstimator):
    """Shared machinery of the pixel-wise stretches ``f(x / scale)``."""

    def __init__(
        self, scale: float | Sequence[float] | str = 1.0, per_channel: bool = True
    ):
        self.scale = scale
        self.per_channel = per_channel

    @staticmethod
    def _forward(u: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _inverse(v: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = isinstance(self.scale, str)
        return tags

    def _fixed_scale(self, n_channels: int) -> np.ndarray:
        scale = np.asarray(self.scale, dtype=np.float64)
        if scale.ndim == 0:
            scale = np.full(n_channels, float(scale))
        if (
            scale.shape != (n_channels,)
            or not np.all(np.isfinite(scale))
            or np.any(scale <= 0)
        ):
            raise ValueError(
                f"scale must be 'auto', a positive number or one positive number "
                f"per channel ({n_channels}); got {self.scale!r}."
            )
        return scale

    def _scale_for(self, X: np.ndarray) -> np.ndarray:
        if isinstance(self.scale, str):
            if self.scale != "auto":
                raise ValueError(
                    f"scale must be 'auto' or a positive number; got {self.scale!r}."
                )
            check_is_fitted(self, "scale_")
            _check_channels(X, self.n_channels_in_, "X", type(self).__name__)
            return self.scale_
        return self._fixed_scale(X.shape[1])

    def fit(self, X, y=None):
        """Set the scale; with ``scale="auto"`` estimate it from ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Training images.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        X = _check_images(X)
        if isinstance(self.scale, str) and self.scale == "auto":
            if X.shape[0] == 0:
                raise ValueError("X has no samples; scale='auto' needs at least 1.")
            if self.per_channel:
                scale = [_robust_sigma(X[:, c].ravel()) for c in range(X.shape[1])]
            else:
                scale = [_robust_sigma(X.ravel())] * X.shape[1]
            self.scale_ = np.asarray(scale, dtype=np.float64)
        else:
            self.scale_ = self._scale_for(X)
        self.n_channels_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """Apply the stretch pixel by pixel.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Images.

        Returns
        -------
        X_new : ndarray of shape (n_samples, channels, height, width), float32
            The stretched images.
        """
        X = _check_images(X)
        return self._forward(X / _per_channel(self._scale_for(X)))

    def inverse_transform(self, X) -> np.ndarray:
        """Undo the stretch.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Stretched images.

        Returns
        -------
        X_original : ndarray of shape (n_samples, channels, height, width), float32
            The images before the stretch (up to any clipping it does).
        """
        X = _check_images(X)
        return self._inverse(X) * _per_channel(self._scale_for(X))


class ArcsinhStretch(_IntensityStretch):
    """Inverse hyperbolic sine stretch, ``arcsinh(x / scale)``.

    Linear for ``|x| << scale`` (noise keeps its Gaussian shape, negative sky
    values stay negative) and logarithmic for ``x >> scale``, which brings out
    faint tidal features next to bright galaxy cores: the "asinh magnitudes" of
    Lupton, Gunn & Szalay [1]_ used for colour images by Lupton et al. [2]_.
    Choose ``scale`` near the noise level (``scale="auto"``).

    Parameters
    ----------
    scale : float, sequence of float or "auto", default=1.0
        Softening scale, in the units of the images: one number for every channel,
        one per channel, or ``"auto"`` to estimate it in :meth:`fit` as the noise
        level of the training images, 1.4826 times the median absolute deviation
        of their pixels from the median (for noise-free images on an exactly flat
        background, of the pixels that differ from it). With a number the
        transformer is stateless and :meth:`transform` may be called without
        :meth:`fit`.
    per_channel : bool, default=True
        With ``scale="auto"``, estimate one scale per channel (True) or one for
        all channels together (False). Ignored for a numeric ``scale``.

    Attributes
    ----------
    scale_ : ndarray of shape (n_channels,)
        Scale of each channel, set by :meth:`fit`.
    n_channels_in_ : int
        Number of channels seen in :meth:`fit`.

    References
    ----------
    .. [1] Lupton, R. H., Gunn, J. E., Szalay, A. S. (1999). "A modified magnitude
       system that produces well-behaved magnitudes, colors, and errors even for
       low signal-to-noise ratio measurements." AJ 118, 1406-1410.
    .. [2] Lupton, R., Blanton, M. R., Fekete, G., et al. (2004). "Preparing
       red-green-blue images from CCD data." PASP 116, 133-137.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.preprocessing import ArcsinhStretch
    >>> X = np.full((1, 1, 2, 2), 3.0)
    >>> float(ArcsinhStretch(scale=2.0).fit_transform(X)[0, 0, 0, 0])  # arcsinh(1.5)
    1.19476318359375
    """

    _forward = staticmethod(np.arcsinh)
    _inverse = staticmethod(np.sinh)


def _clipped_log1p(u: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(u, 0))


class LogStretch(_IntensityStretch):
    """Logarithmic stretch, ``log(1 + max(x, 0) / scale)``.

    The logarithmic colour mapping used to show the DeepMerge II images [1]_.
    The logarithm is not defined for ``x / scale <= -1``, so negative pixel
    values (sky noise below the background) are clipped to 0 first and all map
    to 0; :meth:`inverse_transform` cannot bring them back. Prefer
    :class:`ArcsinhStretch` for background-subtracted noisy images.

    Parameters
    ----------
    scale : float, sequence of float or "auto", default=1.0
        Softening scale, in the units of the images: one number for every channel,
        one per channel, or ``"auto"`` to estimate it in :meth:`fit` as the noise
        level of the training images, 1.4826 times the median absolute deviation
        of their pixels from the median (for noise-free images on an exactly flat
        background, of the pixels that differ from it). With a number the
        transformer is stateless and :meth:`transform` may be called without
        :meth:`fit`.
    per_channel : bool, default=True
        With ``scale="auto"``, estimate one scale per channel (True) or one for
        all channels together (False). Ignored for a numeric ``scale``.

    Attributes
    ----------
    scale_ : ndarray of shape (n_channels,)
        Scale of each channel, set by :meth:`fit`.
    n_channels_in_ : int
        Number of channels seen in :meth:`fit`.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.preprocessing import LogStretch
    >>> X = np.array([-1.0, 0.0, 1.0, 3.0]).reshape(1, 1, 2, 2)
    >>> LogStretch(scale=1.0).fit_transform(X).ravel()  # log(1 + [0, 0, 1, 3])
    array([0.       , 0.       , 0.6931472, 1.3862944], dtype=float32)
    """

    _forward = staticmethod(_clipped_log1p)
    _inverse = staticmethod(np.expm1)


class _StatelessImageTransformer(TransformerMixin, BaseEstimator):
    """A transformer that learns nothing: ``fit`` only validates ``X``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def fit(self, X, y=None):
        """Validate ``X``; nothing is learnt.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Images.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The transformer.
        """
        _check_images(X)
        return self


class ResizeImages(_StatelessImageTransformer):
    """Resize images to ``size`` with bilinear interpolation.

    Uses :func:`torch.nn.functional.interpolate` (``align_corners=False``, so the
    image centre stays the centre) with antialiasing, which low-pass filters the
    image before shrinking it so that downsampling does not alias noise and fine
    structure; upsampling is plain bilinear interpolation. DeepMerge II [1]_
    brings all images to 75 x 75 pixels.

    Parameters
    ----------
    size : int or (int, int), default=75
        Output ``height = width = size``, or ``(height, width)``.
    antialias : bool, default=True
        Filter before downsampling.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.preprocessing import ResizeImages
    >>> ResizeImages(size=75).fit_transform(np.zeros((2, 3, 150, 150))).shape
    (2, 3, 75, 75)
    """

    def __init__(self, size: int | tuple[int, int] = 75, antialias: bool = True):
        self.size = size
        self.antialias = antialias

    def transform(self, X) -> np.ndarray:
        """Resize the images.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Images.

        Returns
        -------
        X_new : ndarray of shape (n_samples, channels, size[0], size[1]), float32
            Resized images.
        """
        import torch
        from torch.nn import functional as F

        height, width = _size_pair(self.size, "size")
        X = _check_images(X)
        if X.shape[2:] == (height, width):
            return X.copy()
        with torch.no_grad():
            out = F.interpolate(
                torch.from_numpy(np.ascontiguousarray(X)),
                size=(height, width),
                mode="bilinear",
                align_corners=False,
                antialias=bool(self.antialias),
            )
        return out.numpy()


class CenterCrop(_StatelessImageTransformer):
    """Crop the central ``size`` pixels of each image.

    The crop starts at row ``(height - size[0]) // 2`` and column
    ``(width - size[1]) // 2``: when the image and crop sizes differ by an odd
    number of pixels, the crop is half a pixel closer to the top left.

    Parameters
    ----------
    size : int or (int, int)
        Crop ``height = width = size``, or ``(height, width)``; at most the image
        size.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.preprocessing import CenterCrop
    >>> CenterCrop(size=64).fit_transform(np.zeros((2, 3, 75, 75))).shape
    (2, 3, 64, 64)
    """

    def __init__(self, size: int | tuple[int, int]):
        self.size = size

    def transform(self, X) -> np.ndarray:
        """Crop the images around their centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width)
            Images at least as large as ``size``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, channels, size[0], size[1]), float32
            Cropped images.
        """
        height, width = _size_pair(self.size, "size")
        X = _check_images(X)
        H, W = X.shape[2:]
        if height > H or width > W:
            raise ValueError(
                f"CenterCrop size ({height}, {width}) is larger than the images "
                f"({H}, {W}); choose a smaller size or enlarge the images first "
                "with ResizeImages."
            )
        top, left = (H - height) // 2, (W - width) // 2
        return X[:, :, top : top + height, left : left + width].copy()


# Exact augmentations of balance_classes, in the order their copies are returned.
_EXACT_TRANSFORMS = {
    "flip_horizontal": lambda X: X[..., ::-1],
    "flip_vertical": lambda X: X[..., ::-1, :],
    "rotate_90": lambda X: np.rot90(X, 1, axes=(-2, -1)),
    "rotate_180": lambda X: np.rot90(X, 2, axes=(-2, -1)),
    "rotate_270": lambda X: np.rot90(X, 3, axes=(-2, -1)),
}
_FILL_MODES = ("reflect", "grid-mirror", "mirror", "nearest", "constant", "wrap")


def _rotate_zoom(image: np.ndarray, angle: float, zoom: float, mode: str):
    """Rotate ``image`` (c, h, w) by ``angle`` degrees and magnify it by ``zoom``."""
    cos, sin = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
    # affine_transform maps output to input coordinates: inverse rotation / zoom
    # about the image centre.
    matrix = np.array([[cos, sin], [-sin, cos]]) / zoom
    centre = (np.asarray(image.shape[1:], dtype=np.float64) - 1) / 2
    offset = centre - matrix @ centre
    out = np.empty_like(image)
    for c in range(image.shape[0]):
        ndimage.affine_transform(
            image[c], matrix, offset=offset, output=out[c], order=1, mode=mode
        )
    return out


def _zoom_range(zoom) -> tuple[float, float] | None:
    if zoom is True:
        return (0.8, 1.2)
    if zoom is False or zoom is None:
        return None
    low, high = (float(z) for z in zoom)
    if not 0 < low <= high:
        raise ValueError(
            f"zoom must be a bool or a range (low, high) with 0 < low <= high; got "
            f"{zoom!r}."
        )
    return low, high


def balance_classes(
    X,
    y,
    *,
    random_state: int | np.random.RandomState | None = None,
    rotation: bool = True,
    zoom: bool | tuple[float, float] = True,
    fill_mode: str = "reflect",
    return_indices: bool = False,
):
    """Balance classes by augmenting the smaller classes with transformed copies.

    The augmentation of DeepMerge II [1]_ (Sect. 4.2), which turned 44 simulated
    post-mergers into a balanced training set. Every class smaller than the
    largest one is topped up to its size with

    1. exact copies: horizontal and vertical mirror images and rotations by 90,
       180 and 270 degrees of its images (only the flips and the 180-degree
       rotation for non-square images), each used at most once per image and
       drawn at random when fewer are needed;
    2. if more are needed, random copies: an image drawn from the class's images
       and their exact copies (cycling through them evenly), rotated by a random
       angle in [0, 360) degrees (``rotation``) and magnified by a random factor
       (``zoom``), with bilinear interpolation about the image centre.

    Balance only the training part, after splitting (see
    :func:`skdamerge.datasets.train_valid_test_split`): augmenting first puts
    copies of one galaxy in training and test data.

    Parameters
    ----------
    X : array-like of shape (n_samples, channels, height, width)
        Images.
    y : array-like of shape (n_samples,)
        Class labels (1 = merger, 0 = non-merger; any number of classes).
    random_state : int, RandomState instance or None, default=None
        Seed for the choice of copies, angles and zoom factors.
    rotation : bool, default=True
        Rotate random copies by a random angle.
    zoom : bool or (float, float), default=True
        Magnify random copies by a factor drawn uniformly from ``(0.8, 1.2)``
        (``True``) or from the given range; factors above 1 zoom in.
    fill_mode : str, default="reflect"
        How pixels rotated or zoomed in from outside the image are filled (a
        :func:`scipy.ndimage.affine_transform` mode); ``"reflect"`` continues
        the sky noise, ``"constant"`` fills with 0.
    return_indices : bool, default=False
        Also return, for every output image, the index in ``X`` of the image it
        is (a copy of), e.g. as groups for :class:`sklearn.model_selection.GroupKFold`.

    Returns
    -------
    X_bal : ndarray of shape (n_balanced, channels, height, width), float32
        The ``n_samples`` original images first, in their order, then for each
        smaller class (in sorted label order) its exact copies (grouped by
        transform in the order listed above, then by image) and its random copies.
    y_bal : ndarray of shape (n_balanced,)
        Labels of ``X_bal``; every class has as many as the largest class of ``y``.
    origin : ndarray of shape (n_balanced,), int
        Returned when ``return_indices=True``: index in ``X`` of each image's
        original.

    Raises
    ------
    ValueError
        If a class needs random copies but ``rotation`` and ``zoom`` are both off.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.preprocessing import balance_classes
    >>> X = np.random.default_rng(0).random((12, 3, 8, 8))
    >>> y = np.array([0] * 10 + [1] * 2)
    >>> X_bal, y_bal = balance_classes(X, y, random_state=0)
    >>> np.bincount(y_bal).tolist()
    [10, 10]
    """
    X = _check_images(X)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != X.shape[0]:
        raise ValueError(
            f"y must be 1-D with one label per image of X ({X.shape[0]}); got shape "
            f"{y.shape}."
        )
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"fill_mode must be one of {_FILL_MODES}; got {fill_mode!r}.")
    zoom_range = _zoom_range(zoom)
    rng = check_random_state(random_state)
    transforms = list(_EXACT_TRANSFORMS.values())
    if X.shape[2] != X.shape[3]:
        square_only = ("rotate_90", "rotate_270")
        transforms = [f for k, f in _EXACT_TRANSFORMS.items() if k not in square_only]

    classes, counts = np.unique(y, return_counts=True)
    images, labels, origins = [X], [y], [np.arange(len(y))]
    for label, count in zip(classes, counts, strict=True):
        needed = counts.max() - count
        if needed == 0:
            continue
        members = np.flatnonzero(y == label)
        n_exact = min(needed, len(transforms) * count)
        picks = np.sort(rng.choice(len(transforms) * count, n_exact, replace=False))
        which, idx = np.divmod(picks, count)
        exact = [transforms[t](X[members[i]]) for t, i in zip(which, idx, strict=True)]
        copies, sources = list(exact), list(members[idx])

        n_random = needed - n_exact
        if n_random:
            if not rotation and zoom_range is None:
                raise ValueError(
                    f"Class {label!r} has {count} images and needs {needed} more, but "
                    f"exact flips and rotations give at most {len(transforms)} per "
                    "image. Enable rotation or zoom for random copies."
                )
            pool = [X[m] for m in members] + exact
            pool_origin = list(members) + list(members[idx])
            repeats = -(-n_random // len(pool))
            draws = np.concatenate([rng.permutation(len(pool)) for _ in range(repeats)])
            for j in draws[:n_random]:
                angle = rng.uniform(0.0, 360.0) if rotation else 0.0
                factor = rng.uniform(*zoom_range) if zoom_range else 1.0
                copies.append(_rotate_zoom(pool[j], angle, factor, fill_mode))
                sources.append(pool_origin[j])
        images.append(np.stack(copies))
        labels.append(np.full(needed, label, dtype=y.dtype))
        origins.append(np.asarray(sources, dtype=np.intp))

    X_bal = np.concatenate(images).astype(np.float32, copy=False)
    y_bal = np.concatenate(labels)
    if return_indices:
        return X_bal, y_bal, np.concatenate(origins)
    return X_bal, y_bal
