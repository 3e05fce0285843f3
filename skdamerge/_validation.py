"""Input validation shared by the estimators."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_array, column_or_1d

__all__ = [
    "check_binary_labels",
    "check_image_shape",
    "check_images",
    "check_same_sample_shape",
    "check_target_size",
    "looks_channels_last",
    "resolve_positive_class",
    "warn_large_values",
]

#: Absolute pixel values above this trigger a warning suggesting standardisation.
LARGE_VALUE = 1e6


def check_images(X, name: str = "X") -> np.ndarray:
    """Validate images or flat features and return them as ``float32``.

    Parameters
    ----------
    X : array-like
        ``(n_samples, channels, height, width)`` images (channels first),
        ``(n_samples, height, width)`` single-band images (a channel axis is added),
        or ``(n_samples, n_features)`` flat features. Boolean, integer (e.g. uint8
        cutouts, kept as 0-255 values: no rescaling) and float64 input is converted
        to float32; complex, string or object arrays, NaN and infinite values
        (including float64 values too large for float32) are rejected.
    name : str, default="X"
        Argument name used in error messages.

    Returns
    -------
    ndarray of float32
        2-D or 4-D array.
    """
    try:
        X = check_array(
            X,
            dtype=np.float32,
            allow_nd=True,
            ensure_all_finite=True,
            ensure_min_samples=1,
            input_name=name,
        )
    except (TypeError, ValueError) as error:
        if name in str(error):
            raise
        # Name the argument in scikit-learn's messages that do not.
        raise type(error)(f"{name}: {error}") from error
    check_image_shape(X.shape, name)
    if X.ndim == 3:
        X = X[:, np.newaxis]
    if X.size:
        # max(|x|) without an array of |x| (the values are finite).
        warn_large_values(name, float(max(X.max(), -X.min())))
    return X


def looks_channels_last(shape: tuple[int, ...]) -> bool:
    """Return whether a 4-D image ``shape`` looks channels-last.

    Parameters
    ----------
    shape : tuple of int
        Array shape.

    Returns
    -------
    bool
        True for ``(n, height, width, channels)`` with 1, 3, 4 or 5 channels and
        more than 5 rows: images are ``(n, channels, height, width)``.
    """
    return len(shape) == 4 and shape[-1] in (1, 3, 4, 5) and shape[1] > 5


def check_image_shape(shape: tuple[int, ...], name: str = "X") -> None:
    """Raise unless ``shape`` is that of images or flat features.

    Parameters
    ----------
    shape : tuple of int
        Shape of an in-memory, on-disk or dask array.
    name : str, default="X"
        Argument name used in error messages.

    Raises
    ------
    ValueError
        Unless the shape is ``(n_samples, n_features)``,
        ``(n_samples, height, width)`` or channels-first
        ``(n_samples, channels, height, width)``.
    """
    shape = tuple(shape)
    if len(shape) not in (2, 3, 4):
        raise ValueError(
            f"{name} must be images of shape (n_samples, channels, height, width) "
            f"or flat features (n_samples, n_features); got {len(shape)} "
            f"dimensions with shape {shape}."
        )
    if looks_channels_last(shape):
        raise ValueError(
            f"{name} looks channels-last with shape {shape}; images must be "
            f"channels-first (n_samples, channels, height, width). Convert with "
            f"np.moveaxis({name}, -1, 1)."
        )


def warn_large_values(
    name: str, largest: float, *, limit: float = LARGE_VALUE, stacklevel: int = 3
) -> None:
    """Warn when pixel values reach magnitudes that networks train badly on.

    Parameters
    ----------
    name : str
        Argument name used in the warning.
    largest : float
        Largest absolute value of the images.
    limit : float, default=LARGE_VALUE
        Warn when ``largest`` exceeds it.
    stacklevel : int, default=3
        As for :func:`warnings.warn` called in place of this function: the
        default names the caller of the function that calls this one.
    """
    if largest > limit:
        warnings.warn(
            f"{name} has values up to {largest:.3g}; networks train badly on such "
            "magnitudes and the loss may overflow. Standardise the images "
            "(skdamerge.preprocessing.ChannelStandardizer) or apply an arcsinh "
            "stretch first.",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def check_target_size(X_target: np.ndarray, batch_size: int) -> None:
    """Reject a target domain too small to train on; warn when below a batch."""
    if len(X_target) < 2:
        raise ValueError(
            f"X_target has {len(X_target)} image(s); domain adaptation needs at "
            "least 2 (and ideally thousands). Pass more target images, or fit "
            "without X_target to train on the source alone."
        )
    if len(X_target) < batch_size:
        warnings.warn(
            f"X_target has {len(X_target)} images, fewer than batch_size="
            f"{batch_size}: each batch repeats target images. Pass more target "
            "images or lower batch_size.",
            UserWarning,
            stacklevel=3,
        )


def check_same_sample_shape(
    expected: tuple[int, ...], X: np.ndarray, name: str, reference: str
) -> None:
    """Raise if the samples of ``X`` do not have the shape ``expected``.

    ``reference`` names what ``X`` is compared with (an estimator or an argument).
    """
    if tuple(X.shape[1:]) != tuple(expected):
        if len(expected) == 1 and X.ndim == 2:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but {reference} is expecting "
                f"{expected[0]} features as input."
            )
        raise ValueError(
            f"{name} has samples of shape {tuple(X.shape[1:])}, but {reference} "
            f"expects samples of shape {tuple(expected)}; resize or crop them to "
            "match (see skdamerge.preprocessing)."
        )


def check_binary_labels(
    y, n_samples: int, estimator_name: str = "This estimator"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate binary class labels and encode them as 0/1.

    A column vector ``(n, 1)`` is accepted with a ``DataConversionWarning``.

    Returns
    -------
    classes : ndarray
        The two sorted class labels; ``classes[1]`` is the positive class (merger
        when labels are 0/1).
    y_encoded : ndarray of int64
        Index of each label in ``classes``.
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None; "
            "pass the source labels (1 = merger, 0 = non-merger)."
        )
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of class labels, got shape {y.shape}.")
    if len(y) != n_samples:
        raise ValueError(
            f"X and y have different numbers of samples: {n_samples} and {len(y)}."
        )
    try:
        check_classification_targets(y)
        classes, y_encoded = np.unique(y, return_inverse=True)
    except TypeError as error:
        raise ValueError(
            f"y mixes label types ({error}); use labels of one type, e.g. 1 for "
            "merger and 0 for non-merger."
        ) from error
    if len(classes) > 2:
        raise ValueError(
            f"Only binary classification is supported. y must contain exactly two "
            f"classes (merger = positive, non-merger), got {len(classes)} classes: "
            f"{classes.tolist()[:10]} (type of target: {type_of_target(y)})."
        )
    if len(classes) < 2:
        raise ValueError(
            f"y must contain exactly two classes (merger = positive, non-merger), "
            f"got 1 class: {classes.tolist()}; training needs examples of both."
        )
    return classes, y_encoded.astype(np.int64)


def resolve_positive_class(
    classes, pos_label: Any = None, *, name: str = "pos_label"
) -> tuple[int, Any, Any]:
    """Find the positive (merger) class among a binary classifier's classes.

    Parameters
    ----------
    classes : array-like of two labels
        The classifier's ``classes_``, in the order of the ``predict_proba``
        columns.
    pos_label : label or None, default=None
        The positive class; None takes ``classes[1]`` (1, merger, for 0/1 labels).
    name : str, default="pos_label"
        Argument name used in error messages.

    Returns
    -------
    index : int
        Column of the positive class in ``predict_proba``.
    positive : label
        The positive class.
    negative : label
        The other class.

    Raises
    ------
    ValueError
        If there are not exactly two classes, or ``pos_label`` is not one of them.
    """
    classes = list(classes)
    if len(classes) != 2:
        raise ValueError(
            f"The estimator must be a binary classifier, it has classes {classes}."
        )
    if pos_label is None:
        pos_label = classes[1]
    if pos_label not in classes:
        raise ValueError(
            f"{name}={pos_label!r} is not one of the estimator's classes {classes}."
        )
    index = classes.index(pos_label)
    return index, classes[index], classes[1 - index]
