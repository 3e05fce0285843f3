"""Train/validation/test split of a source and a target domain."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["train_valid_test_split"]

_PARTS = ("train", "valid", "test")


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Split the integer ``total`` in proportion to ``weights`` (largest remainder).

    Ties between equal remainders go to the earlier entry, so the result is
    deterministic.
    """
    quotas = total * weights / weights.sum()
    counts = np.floor(quotas).astype(np.int64)
    remainders = quotas - counts
    order = np.argsort(-remainders, kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def _check_sizes(sizes: Sequence[float]) -> np.ndarray:
    sizes = np.asarray(sizes, dtype=np.float64)
    if (
        sizes.shape != (3,)
        or not np.all(np.isfinite(sizes))
        or np.any(sizes < 0)
        or not np.isclose(sizes.sum(), 1.0)
        or sizes[0] == 0
    ):
        raise ValueError(
            f"sizes must be three non-negative fractions (train, valid, test) that "
            f"sum to 1 with a non-zero train fraction, e.g. (0.7, 0.1, 0.2); got "
            f"{sizes.tolist()}."
        )
    return sizes


def _check_labels(y, n_samples: int, name: str, X_name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(
            f"{name} must be 1-D with one label per row of {X_name} ({n_samples}); "
            f"got shape {y.shape}."
        )
    return y


def _split_indices(
    n_samples: int, y, sizes: np.ndarray, stratify: bool, rng: np.random.RandomState
) -> list[np.ndarray]:
    """Sorted train, valid and test indices of ``n_samples`` rows."""
    counts = _apportion(n_samples, sizes)
    if not stratify or y is None:
        perm = rng.permutation(n_samples)
        bounds = np.cumsum(counts)[:-1]
        return [np.sort(part) for part in np.split(perm, bounds)]

    classes, y_codes = np.unique(y, return_inverse=True)
    class_counts = np.bincount(y_codes, minlength=len(classes))
    # Apportion the test part over the classes, then the valid part over what is
    # left of each class; train takes the rest.
    test = _apportion(int(counts[2]), class_counts.astype(np.float64))
    left = class_counts - test
    valid = (
        _apportion(int(counts[1]), left.astype(np.float64))
        if left.sum()
        else np.zeros_like(left)
    )
    parts: list[list[np.ndarray]] = [[], [], []]
    for k in range(len(classes)):
        members = rng.permutation(np.flatnonzero(y_codes == k))
        n_test, n_valid = test[k], valid[k]
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_valid])
        parts[0].append(members[n_test + n_valid :])
    return [np.sort(np.concatenate(p)) for p in parts]


def train_valid_test_split(
    X_source,
    y_source,
    X_target,
    y_target=None,
    *,
    sizes: Sequence[float] = (0.7, 0.1, 0.2),
    stratify: bool = True,
    random_state: int | np.random.RandomState | None = None,
) -> Bunch:
    """Split source and target data into training, validation and test parts.

    Each domain is split on its own, by default 70% / 10% / 20% as in DeepMerge
    II [1]_, stratified on the labels where the domain has labels. The split is
    computed on row indices only: images are read only for the rows of each part,
    so memory-mapped arrays (``load_deepmerge(..., mmap=True)``) are not loaded
    whole before splitting, and rows of each part keep their original relative
    order (sequential reads from a memory map).

    Split before any augmentation such as
    :func:`skdamerge.preprocessing.balance_classes`: augmenting first would put
    copies of one galaxy in several parts.

    Parameters
    ----------
    X_source : array-like of shape (n_source, ...)
        Source images (any array that supports integer-array indexing along the
        first axis, e.g. a :class:`numpy.memmap`).
    y_source : array-like of shape (n_source,)
        Source labels.
    X_target : array-like of shape (n_target, ...)
        Target images.
    y_target : array-like of shape (n_target,), optional
        Target labels. ``None`` for an unlabelled target: the target is split
        without stratification and the ``y_target_*`` entries are ``None``.
    sizes : sequence of three floats, default=(0.7, 0.1, 0.2)
        Fractions of each domain that go to training, validation and test. They
        must sum to 1; the validation or test fraction may be 0. Counts are
        rounded so that they add up to the number of samples (the test and
        validation counts of each class likewise, when stratifying).
    stratify : bool, default=True
        Keep the class proportions of each labelled domain in every part.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling, for reproducible splits.

    Returns
    -------
    split : :class:`~sklearn.utils.Bunch`
        With, for ``domain`` in ``source``, ``target`` and ``part`` in
        ``train``, ``valid``, ``test``:

        * ``X_{domain}_{part}``: the images of the part, as an in-memory array;
        * ``y_{domain}_{part}``: their labels (``None`` for an unlabelled target);
        * ``idx_{domain}_{part}``: the sorted row indices of the part into the
          input arrays. The three index arrays of a domain are disjoint and cover
          every row.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.datasets import train_valid_test_split
    >>> X_s, y_s = np.zeros((100, 3, 8, 8)), np.repeat([0, 1], 50)
    >>> X_t = np.ones((50, 3, 8, 8))
    >>> split = train_valid_test_split(X_s, y_s, X_t, random_state=0)
    >>> split.X_source_train.shape, split.X_target_test.shape
    ((70, 3, 8, 8), (10, 3, 8, 8))
    >>> int(split.y_source_valid.sum())
    5
    """
    sizes = _check_sizes(sizes)
    if y_source is None:
        raise ValueError("y_source is required (the source domain is labelled).")
    rng = check_random_state(random_state)
    result = Bunch()
    domains = (("source", X_source, y_source), ("target", X_target, y_target))
    for domain, X, y in domains:
        if not hasattr(X, "shape"):
            X = np.asarray(X)
        n_samples = X.shape[0]
        if n_samples < 1:
            raise ValueError(f"X_{domain} has no samples.")
        if y is not None:
            y = _check_labels(y, n_samples, f"y_{domain}", f"X_{domain}")
        parts = _split_indices(n_samples, y, sizes, stratify, rng)
        for part, idx in zip(_PARTS, parts, strict=True):
            result[f"idx_{domain}_{part}"] = idx
            result[f"X_{domain}_{part}"] = np.asarray(X[idx])
            result[f"y_{domain}_{part}"] = None if y is None else y[idx]
    return result
