"""Geometric image transformers, which learn nothing.

:class:`ResizeImages` resamples the images to a given size, :class:`CenterCrop`
cuts out their central pixels.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .._param_validation import Interval, check_parameters
from ._images import _check_images

__all__ = ["CenterCrop", "ResizeImages"]


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
        check_parameters(self)
        _size_pair(self.size, "size")
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

    # A pair (height, width) is checked for two positive integers as well.
    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "antialias": ["boolean"],
    }

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

    # A pair (height, width) is checked for two positive integers as well.
    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left"), "array-like"],
    }

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
