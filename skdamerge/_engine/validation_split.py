"""The source validation split of a fit: by rows, by groups, or given explicitly."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from .._outofcore import LazyImages
from .net import TrainingData

__all__ = [
    "check_groups",
    "group_validation_index",
    "training_data",
    "validation_index",
]


def check_groups(groups, n_samples: int) -> np.ndarray:
    """Return ``groups`` as an array of one group label per sample."""
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != n_samples:
        raise ValueError(
            f"groups must hold one group label per sample of X ({n_samples}); got "
            f"shape {groups.shape}."
        )
    return groups


def group_validation_index(y, groups, fraction: float, seed: int) -> np.ndarray:
    """Return validation indices drawn by whole groups, stratified on their labels.

    Each group goes to validation or training as a whole; groups are stratified
    on their first member's label, and about ``fraction`` of the groups (and so,
    for groups of similar sizes, of the samples) go to validation.
    """
    unique, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    if len(unique) < 4:
        raise ValueError(
            f"groups has {len(unique)} distinct groups; the validation split needs "
            "at least 4. Pass more groups, validation_data, or "
            "validation_fraction=None."
        )
    labels = y[first]
    n_valid = max(1, int(round(fraction * len(unique))))
    stratify = labels if np.bincount(labels).min() >= 2 and n_valid >= 2 else None
    _, valid_groups = train_test_split(
        np.arange(len(unique)), test_size=n_valid, stratify=stratify, random_state=seed
    )
    return np.flatnonzero(np.isin(inverse, valid_groups))


def training_data(X, y, X_target, valid_index, validation_data) -> TrainingData:
    """Cut the training and validation parts of ``X`` (views for on-disk arrays)."""
    if validation_data is not None:
        return TrainingData(X, y, X_target, *validation_data)
    if valid_index is None:
        return TrainingData(X, y, X_target, None, None)
    if len(valid_index) and int(valid_index.max()) >= len(y):
        raise ValueError(
            "The validation split stored in resume_from does not fit X: resume "
            "with the same training data."
        )
    train_index = np.setdiff1d(np.arange(len(y)), valid_index, assume_unique=True)
    if isinstance(X, LazyImages):
        # Split by indices: the training and validation sets stay views of the file.
        return TrainingData(
            X.subset(train_index),
            y[train_index],
            X_target,
            X.subset(np.sort(valid_index)),
            y[np.sort(valid_index)],
        )
    return TrainingData(
        X[train_index], y[train_index], X_target, X[valid_index], y[valid_index]
    )


def validation_index(y, groups, fraction: float | None, seed: int) -> np.ndarray | None:
    """Return the source rows held out for validation (None: no split).

    Stratified on the labels; with ``groups``, whole groups are held out
    (:func:`group_validation_index`).
    """
    if not fraction:
        return None
    n_samples = len(y)
    n_valid = int(np.ceil(fraction * n_samples))
    if n_valid < 2 or n_samples - n_valid < 2:
        raise ValueError(
            f"validation_fraction={fraction} leaves too few samples of the "
            f"{n_samples} in X for training and validation; pass more data or "
            "validation_fraction=None."
        )
    if groups is not None:
        return group_validation_index(y, groups, fraction, seed)
    stratify = y if np.bincount(y).min() >= 2 and n_valid >= 2 else None
    _, valid = train_test_split(
        np.arange(n_samples), test_size=n_valid, stratify=stratify, random_state=seed
    )
    return valid
