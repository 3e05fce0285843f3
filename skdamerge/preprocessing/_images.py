"""Validation of image arrays ``(n_samples, channels, height, width)``.

Shared by every transformer of :mod:`skdamerge.preprocessing`: real, finite,
4-D input as float32, the channel count of the fitted data, and per-channel
values shaped to broadcast against the images.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


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
