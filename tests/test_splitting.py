import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skdamerge.datasets import train_valid_test_split

PARTS = ("train", "valid", "test")


def make_domains(n_source=1000, n_target=500, merger_fraction=0.3, seed=0):
    rng = np.random.default_rng(seed)
    X_s = np.arange(n_source, dtype=np.float32)[:, None, None, None] * np.ones(
        (1, 2, 3, 3), np.float32
    )
    y_s = (rng.random(n_source) < merger_fraction).astype(int)
    X_t = -np.arange(n_target, dtype=np.float32)[:, None, None, None] * np.ones(
        (1, 2, 3, 3), np.float32
    )
    y_t = (rng.random(n_target) < 0.5).astype(int)
    return X_s, y_s, X_t, y_t


def test_proportions_70_10_20():
    split = train_valid_test_split(*make_domains(), random_state=0)
    assert [len(split[f"X_source_{p}"]) for p in PARTS] == [700, 100, 200]
    assert [len(split[f"y_target_{p}"]) for p in PARTS] == [350, 50, 100]
    assert split.X_source_train.shape[1:] == (2, 3, 3)


def test_parts_are_disjoint_cover_everything_and_match_indices():
    X_s, y_s, X_t, y_t = make_domains()
    split = train_valid_test_split(X_s, y_s, X_t, y_t, random_state=1)
    for domain, X, y in (("source", X_s, y_s), ("target", X_t, y_t)):
        parts = [split[f"idx_{domain}_{p}"] for p in PARTS]
        joined = np.concatenate(parts)
        assert len(joined) == len(X)
        np.testing.assert_array_equal(np.sort(joined), np.arange(len(X)))
        for part, idx in zip(PARTS, parts, strict=True):
            assert np.all(np.diff(idx) > 0)
            np.testing.assert_array_equal(split[f"X_{domain}_{part}"], X[idx])
            np.testing.assert_array_equal(split[f"y_{domain}_{part}"], y[idx])


def test_stratified_on_labels():
    X_s, y_s, X_t, y_t = make_domains(merger_fraction=0.1)
    split = train_valid_test_split(X_s, y_s, X_t, y_t, random_state=2)
    for domain, y in (("source", y_s), ("target", y_t)):
        n_mergers = y.sum()
        for part, size in zip(PARTS, (0.7, 0.1, 0.2), strict=True):
            assert abs(split[f"y_{domain}_{part}"].sum() - size * n_mergers) <= 1


def test_unstratified_proportions_drift():
    X_s, y_s, X_t, _ = make_domains(n_source=200, merger_fraction=0.5)
    deviations = [
        abs(
            train_valid_test_split(
                X_s, y_s, X_t, stratify=False, random_state=seed
            ).y_source_test.sum()
            - 0.2 * y_s.sum()
        )
        for seed in range(10)
    ]
    assert max(deviations) > 1  # stratify=False really shuffles without strata


def test_reproducible_with_random_state():
    data = make_domains()
    first = train_valid_test_split(*data, random_state=3)
    second = train_valid_test_split(*data, random_state=3)
    other = train_valid_test_split(*data, random_state=4)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first.idx_source_test, other.idx_source_test)
    assert not np.array_equal(first.idx_target_test, other.idx_target_test)


def test_unlabelled_target():
    X_s, y_s, X_t, _ = make_domains(n_target=31)
    split = train_valid_test_split(X_s, y_s, X_t, random_state=5)
    assert all(split[f"y_target_{p}"] is None for p in PARTS)
    assert [len(split[f"X_target_{p}"]) for p in PARTS] == [22, 3, 6]


def test_memmap_input(tmp_path):
    X_s, y_s, X_t, y_t = make_domains(n_source=50, n_target=20)
    np.save(tmp_path / "X_s.npy", X_s)
    X_mm = np.load(tmp_path / "X_s.npy", mmap_mode="r")
    split = train_valid_test_split(X_mm, y_s, X_t, y_t, random_state=6)
    assert type(split.X_source_train) is np.ndarray
    np.testing.assert_array_equal(split.X_source_test, X_s[split.idx_source_test])


def test_zero_validation_fraction_and_column_labels():
    X_s, y_s, X_t, y_t = make_domains(n_source=40, n_target=10)
    split = train_valid_test_split(
        X_s, y_s[:, None], X_t, y_t, sizes=(0.8, 0.0, 0.2), random_state=7
    )
    assert len(split.X_source_valid) == 0 and len(split.X_source_train) == 32
    assert split.y_source_train.ndim == 1


@pytest.mark.parametrize(
    "sizes", [(0.7, 0.1), (0.7, 0.2, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)]
)
def test_invalid_sizes(sizes):
    with pytest.raises(ValueError, match="sizes"):
        train_valid_test_split(*make_domains(n_source=10, n_target=10), sizes=sizes)


def test_label_length_mismatch():
    X_s, y_s, X_t, y_t = make_domains(n_source=10, n_target=10)
    with pytest.raises(ValueError, match="y_source"):
        train_valid_test_split(X_s, y_s[:9], X_t)
    with pytest.raises(ValueError, match="y_target"):
        train_valid_test_split(X_s, y_s, X_t, y_t[:3])


@settings(max_examples=40, deadline=None)
@given(
    class_counts=st.lists(st.integers(1, 30), min_size=1, max_size=4),
    sizes=st.sampled_from([(0.7, 0.1, 0.2), (0.6, 0.2, 0.2), (0.5, 0, 0.5), (1, 0, 0)]),
    seed=st.integers(0, 2**31 - 1),
)
def test_split_properties(class_counts, sizes, seed):
    y = np.repeat(np.arange(len(class_counts)), class_counts)
    X = np.arange(len(y))
    split = train_valid_test_split(X, y, X[:3], sizes=sizes, random_state=seed)
    parts = [split[f"idx_source_{p}"] for p in PARTS]
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), X)
    expected = np.asarray(sizes) * len(y)
    assert all(abs(len(p) - e) < 1 for p, e in zip(parts, expected, strict=True))
    for part, size in zip(parts, sizes, strict=True):
        for label, count in enumerate(class_counts):
            # per-class counts follow the fractions up to rounding
            assert abs(np.sum(y[part] == label) - size * count) < 2
