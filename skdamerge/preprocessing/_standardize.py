"""Standardisation of images with the statistics of the training images.

:class:`ChannelStandardizer` learns each channel's mean and standard deviation on
the source training images and applies them unchanged to any other data.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._param_validation import check_parameters
from ._images import _check_channels, _check_images, _per_channel
from ._statistics import _mean_var_scale

__all__ = ["ChannelStandardizer"]


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

    _parameter_constraints: dict = {}

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
        check_parameters(self)
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
