"""Astronomical intensity stretches applied pixel by pixel, ``f(x / scale)``.

:class:`ArcsinhStretch` (asinh magnitudes) and :class:`LogStretch`, with a fixed
softening scale or one estimated from the noise level of the training images.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._param_validation import Interval, StrOptions, check_parameters
from ._images import _check_channels, _check_images, _per_channel
from ._statistics import _robust_sigma

__all__ = ["ArcsinhStretch", "LogStretch"]


class _IntensityStretch(TransformerMixin, BaseEstimator):
    """Shared machinery of the pixel-wise stretches ``f(x / scale)``."""

    # An array-like scale (one number per channel) is checked against the
    # channels of X when the transformer is fitted.
    _parameter_constraints: dict = {
        "scale": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
            "array-like",
        ],
        "per_channel": ["boolean"],
    }

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
        check_parameters(self)
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
