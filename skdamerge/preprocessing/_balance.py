"""Class balancing by augmentation, as in DeepMerge II [1]_ (Sect. 4.2).

:func:`balance_classes` tops up the smaller classes with flipped and rotated
copies of their images, then with randomly rotated and zoomed ones.

References
----------
.. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
   Building robust deep learning algorithms for merging galaxy identification
   across domains." MNRAS 506, 677-691.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.utils import check_random_state

from .._param_validation import StrOptions, validate_params
from ._images import _check_images

__all__ = ["balance_classes"]


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


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "random_state": ["random_state"],
        "rotation": ["boolean"],
        "zoom": ["boolean", "array-like", None],
        "fill_mode": [StrOptions(set(_FILL_MODES))],
        "return_indices": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
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
