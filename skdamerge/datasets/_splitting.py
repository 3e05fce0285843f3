"""Train/validation/test split of a source and a target domain.

Copies of one galaxy never straddle two parts: the two renderings of a galaxy in a
paired data set (row ``i`` of the source and row ``i`` of the target, as in the
simulation-to-simulation experiment) land in the same part, and so do the rows that
share a group id (e.g. augmented copies of one image).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .._param_validation import StrOptions, validate_params

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


def _check_groups(groups, n_samples: int, name: str, X_name: str) -> np.ndarray:
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != n_samples:
        raise ValueError(
            f"{name} must be 1-D with one group id per row of {X_name} "
            f"({n_samples}); got shape {groups.shape}. Pass e.g. the `origin` "
            "returned by skdamerge.preprocessing.balance_classes(..., "
            "return_indices=True), or None."
        )
    return groups


def _split_groups(
    groups: np.ndarray,
    y,
    sizes: np.ndarray,
    stratify: bool,
    rng: np.random.RandomState,
) -> list[np.ndarray]:
    """Sorted train, valid and test indices that keep each group in one part.

    The rows of each part are apportioned as in :func:`_split_indices` (per class
    when stratifying, a group counting in the class of most of its rows). Groups
    are then taken in random order and each goes to a part drawn with probability
    proportional to the rows that part still lacks, so that with groups of one
    row the counts are met exactly; a part never receives a group while it lacks
    no rows, so it exceeds its count of a class by less than the class's largest
    group (and falls short by less than twice that).
    """
    n_samples = len(groups)
    _, codes = np.unique(groups, return_inverse=True)
    codes = codes.reshape(-1)
    n_groups = int(codes.max()) + 1
    group_size = np.bincount(codes, minlength=n_groups)
    counts = _apportion(n_samples, sizes)
    if stratify and y is not None:
        _, y_codes = np.unique(y, return_inverse=True)
        y_codes = y_codes.reshape(-1)
        table = np.zeros((n_groups, int(y_codes.max()) + 1), dtype=np.int64)
        np.add.at(table, (codes, y_codes), 1)
        stratum = np.argmax(table, axis=1)  # the most frequent label; ties: lowest
    else:
        stratum = np.zeros(n_groups, dtype=np.int64)
    stratum_rows = np.bincount(stratum, weights=group_size).astype(np.int64)
    test = _apportion(int(counts[2]), stratum_rows.astype(np.float64))
    left = stratum_rows - test
    valid = (
        _apportion(int(counts[1]), left.astype(np.float64))
        if left.sum()
        else np.zeros_like(left)
    )
    open_part = sizes > 0  # a part of size 0 never receives a group
    part_of_group = np.empty(n_groups, dtype=np.int64)
    for k in range(len(stratum_rows)):
        missing = np.array([left[k] - valid[k], valid[k], test[k]], dtype=np.float64)
        for g in rng.permutation(np.flatnonzero(stratum == k)):
            # The missing rows add up to the rows of the groups left (> 0), so
            # some open part always lacks rows.
            weights = np.where(open_part, np.maximum(missing, 0.0), 0.0)
            part = int(rng.choice(3, p=weights / weights.sum()))
            part_of_group[g] = part
            missing[part] -= group_size[g]
    row_part = part_of_group[codes]
    return [np.flatnonzero(row_part == p) for p in range(3)]


def _resolve_paired(paired, y_source, y_target, n_source, n_target, groups) -> bool:
    """Whether row i of the source and row i of the target are one object."""
    groups_source, groups_target = groups
    if isinstance(paired, str):
        if paired != "auto":
            raise ValueError(
                f"paired must be 'auto', True or False; got {paired!r}. Use "
                "paired=True when row i of X_source and row i of X_target show the "
                "same object."
            )
        return (
            n_source == n_target
            and y_target is not None
            and bool(np.array_equal(y_source, y_target))
            and (
                groups_source is None
                or groups_target is None
                or bool(np.array_equal(groups_source, groups_target))
            )
        )
    if not isinstance(paired, bool | np.bool_):
        raise ValueError(f"paired must be 'auto', True or False; got {paired!r}.")
    if not paired:
        return False
    if n_source != n_target:
        raise ValueError(
            f"paired=True needs one target row per source row, but X_source has "
            f"{n_source} rows and X_target {n_target}. Pass paired=False for "
            "domains of different galaxies."
        )
    if y_target is not None and not np.array_equal(y_source, y_target):
        raise ValueError(
            "paired=True but y_target differs from y_source row by row: the two "
            "renderings of one galaxy must have the same label. Check that row i of "
            "X_target is the galaxy of row i of X_source, or pass paired=False."
        )
    if (
        groups_source is not None
        and groups_target is not None
        and not np.array_equal(groups_source, groups_target)
    ):
        raise ValueError(
            "paired=True but groups_target differs from groups_source: paired rows "
            "share their groups. Pass only groups_source (it then applies to both "
            "domains) or paired=False."
        )
    return True


@validate_params(
    {
        "X_source": ["array-like"],
        "y_source": ["array-like"],
        "X_target": ["array-like"],
        "y_target": ["array-like", None],
        # The three fractions are checked together by the function, which names
        # the rule they break (three numbers in [0, 1] summing to 1).
        "sizes": ["array-like"],
        "stratify": ["boolean"],
        "paired": ["boolean", StrOptions({"auto"})],
        "groups_source": ["array-like", None],
        "groups_target": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def train_valid_test_split(
    X_source,
    y_source,
    X_target,
    y_target=None,
    *,
    sizes: Sequence[float] = (0.7, 0.1, 0.2),
    stratify: bool = True,
    paired: bool | str = "auto",
    groups_source=None,
    groups_target=None,
    random_state: int | np.random.RandomState | None = None,
) -> Bunch:
    """Split source and target data into training, validation and test parts.

    By default 70% / 10% / 20% as in DeepMerge II [1]_, stratified on the labels
    where a domain has labels, and **without letting copies of one galaxy straddle
    two parts**:

    * **paired domains** (``paired``): when row ``i`` of ``X_source`` and row ``i``
      of ``X_target`` are two renderings of the same galaxy, as in the paper's
      simulation-to-simulation experiment (pristine and noisy images) and in
      :func:`~skdamerge.datasets.make_galaxy_mergers` with
      ``experiment="sim2sim"``, one permutation of the galaxies splits both
      domains: row ``i`` of the source and row ``i`` of the target land in the
      same part, so no target test galaxy has its labelled twin in the source
      training part. Splitting the two domains independently would put about 70%
      of the target test galaxies' twins into the source training data and
      inflate every target metric.
    * **groups** (``groups_source``, ``groups_target``): rows with the same group
      id stay in one part, e.g. augmented copies of one image (the ``origin``
      returned by :func:`skdamerge.preprocessing.balance_classes` with
      ``return_indices=True``) or several cut-outs of one galaxy.
    * otherwise each domain is split on its own.

    The split is computed on row indices only: images are read only for the rows
    of each part, so memory-mapped arrays (``load_deepmerge(..., mmap=True)``)
    are not loaded whole before splitting, and rows of each part keep their
    original relative order (sequential reads from a memory map).

    Split before any augmentation such as
    :func:`skdamerge.preprocessing.balance_classes` where you can; where the data
    come augmented, pass the groups.

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
        without stratification (unless it is paired with the source) and the
        ``y_target_*`` entries are ``None``.
    sizes : sequence of three floats, default=(0.7, 0.1, 0.2)
        Fractions of each domain that go to training, validation and test. They
        must sum to 1; the validation or test fraction may be 0. Counts are
        rounded so that they add up to the number of samples (the test and
        validation counts of each class likewise, when stratifying). With
        groups, the rows of a class in a part may miss their count by less than
        twice the size of the class's largest group.
    stratify : bool, default=True
        Keep the class proportions of each labelled domain in every part. Paired
        domains are stratified on ``y_source``; with groups, a group counts in the
        class of most of its rows.
    paired : "auto", True or False, default="auto"
        Whether row ``i`` of the source and row ``i`` of the target are the same
        galaxy, split together.

        * ``"auto"``: paired when both domains have the same number of rows,
          ``y_target`` is given and equals ``y_source`` row by row (and the group
          arrays, if both are given, are equal). The built-in ``"sim2sim"``
          simulation and the published ``SimSim`` files satisfy this. Unrelated
          domains that happen to meet the test are merely split by one
          permutation, which is still a valid random split of each.
        * ``True``: paired; the domains must have the same number of rows and, if
          ``y_target`` is given, the same labels. Use it for an unlabelled paired
          target.
        * ``False``: the domains are split independently.

        The resolved value is returned as ``split.paired``.
    groups_source : array-like of shape (n_source,), optional
        Group id of each source row; rows of one group stay in one part. When the
        domains are paired, it applies to both domains.
    groups_target : array-like of shape (n_target,), optional
        Group id of each target row. When the domains are paired it must equal
        ``groups_source`` (or be left out).
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
          every row; for paired domains ``idx_target_{part}`` equals
          ``idx_source_{part}``;

        and ``paired`` (bool): whether the domains were split as pairs.

    Raises
    ------
    ValueError
        If ``sizes`` are not three fractions summing to 1, labels or groups do not
        have one entry per row, or ``paired=True`` is given for domains of
        different lengths or labels; the message names the argument.

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

    Pristine and noisy renderings of the same galaxies stay together:

    >>> from skdamerge.datasets import make_galaxy_mergers
    >>> Xs, ys, Xt, yt = make_galaxy_mergers(100, image_size=16, random_state=0)
    >>> split = train_valid_test_split(Xs, ys, Xt, yt, random_state=0)
    >>> split.paired, bool(np.all(split.idx_target_test == split.idx_source_test))
    (True, True)
    """
    sizes = _check_sizes(sizes)
    if y_source is None:
        raise ValueError("y_source is required (the source domain is labelled).")
    if not isinstance(stratify, bool | np.bool_):
        raise ValueError(
            f"stratify must be True or False; got {stratify!r}. The labels "
            "y_source and y_target are the strata."
        )
    rng = check_random_state(random_state)
    data = {"source": X_source, "target": X_target}
    labels = {"source": y_source, "target": y_target}
    groups = {"source": groups_source, "target": groups_target}
    n_rows = {}
    for domain in ("source", "target"):
        X = data[domain]
        if not hasattr(X, "shape"):
            X = data[domain] = np.asarray(X)
        n_rows[domain] = n_samples = X.shape[0]
        if n_samples < 1:
            raise ValueError(f"X_{domain} has no samples.")
        if labels[domain] is not None:
            labels[domain] = _check_labels(
                labels[domain], n_samples, f"y_{domain}", f"X_{domain}"
            )
        if groups[domain] is not None:
            groups[domain] = _check_groups(
                groups[domain], n_samples, f"groups_{domain}", f"X_{domain}"
            )
    is_paired = _resolve_paired(
        paired,
        labels["source"],
        labels["target"],
        n_rows["source"],
        n_rows["target"],
        (groups["source"], groups["target"]),
    )

    def split_domain(domain: str, group_ids) -> list[np.ndarray]:
        y = labels["source" if is_paired else domain]
        if group_ids is None:
            return _split_indices(n_rows[domain], y, sizes, stratify, rng)
        return _split_groups(group_ids, y, sizes, stratify, rng)

    if is_paired:
        shared = groups["source"] if groups["source"] is not None else groups["target"]
        source_parts = split_domain("source", shared)
        all_parts = {"source": source_parts, "target": source_parts}
    else:
        all_parts = {d: split_domain(d, groups[d]) for d in ("source", "target")}

    result = Bunch()
    for domain in ("source", "target"):
        X, y = data[domain], labels[domain]
        for part, idx in zip(_PARTS, all_parts[domain], strict=True):
            result[f"idx_{domain}_{part}"] = idx
            result[f"X_{domain}_{part}"] = np.asarray(X[idx])
            result[f"y_{domain}_{part}"] = None if y is None else y[idx]
    result["paired"] = is_paired
    return result
