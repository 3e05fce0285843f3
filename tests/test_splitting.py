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


# -- copies of one galaxy stay in one part ---------------------------------------------


@pytest.fixture(scope="module")
def sim2sim_1000():
    from skdamerge.datasets import make_galaxy_mergers

    # labels do not depend on the image size; 16 pixels keep the fixture fast
    return make_galaxy_mergers(
        1000, experiment="sim2sim", image_size=16, random_state=1
    )


def test_sim2sim_twins_stay_together_by_default(sim2sim_1000):
    X_s, y_s, X_t, y_t = sim2sim_1000
    split = train_valid_test_split(
        X_s, y_s, X_t, y_t, sizes=(0.7, 0.1, 0.2), stratify=True, random_state=1
    )
    assert split.paired
    # Before: each domain was permuted on its own, and 65.5% of the target test
    # galaxies had their labelled pristine twin in the source training part.
    twins_in_train = np.isin(split.idx_target_test, split.idx_source_train).mean()
    assert twins_in_train == 0.0
    for part in PARTS:
        np.testing.assert_array_equal(
            split[f"idx_target_{part}"], split[f"idx_source_{part}"]
        )
    # row k of each target part is the noisy rendering of row k of the source part
    noise = split.X_target_test.astype(np.float64) - split.X_source_test
    assert noise.std() == pytest.approx(0.436 * 75 / 16, rel=0.05)
    np.testing.assert_array_equal(split.y_target_test, split.y_source_test)


def test_independent_split_leaks_twins(sim2sim_1000):
    X_s, y_s, X_t, y_t = sim2sim_1000
    split = train_valid_test_split(X_s, y_s, X_t, y_t, paired=False, random_state=1)
    assert not split.paired
    leaked = np.isin(split.idx_target_test, split.idx_source_train).mean()
    assert leaked == pytest.approx(0.655)  # what paired="auto" prevents


def test_paired_split_is_stratified(sim2sim_1000):
    X_s, y_s, X_t, y_t = sim2sim_1000
    y_s = y_s.copy()
    y_s[: len(y_s) // 2] = 0  # an imbalanced sample: 25% mergers
    split = train_valid_test_split(X_s, y_s, X_t, y_s, random_state=2)
    assert split.paired
    for domain in ("source", "target"):
        for part, size in zip(PARTS, (0.7, 0.1, 0.2), strict=True):
            y_part = split[f"y_{domain}_{part}"]
            assert len(y_part) == round(size * len(y_s))
            for label in (0, 1):
                expected = size * np.sum(y_s == label)
                assert abs(np.sum(y_part == label) - expected) <= 1


def test_paired_equals_the_source_split():
    X_s, y_s, X_t, _ = make_domains(n_source=300, n_target=300)
    # an unlabelled paired target: the source split, used for both domains
    paired = train_valid_test_split(X_s, y_s, X_t, paired=True, random_state=3)
    alone = train_valid_test_split(X_s, y_s, X_t, paired=False, random_state=3)
    assert paired.paired and not alone.paired
    for part in PARTS:
        np.testing.assert_array_equal(
            paired[f"idx_source_{part}"], alone[f"idx_source_{part}"]
        )
        np.testing.assert_array_equal(
            paired[f"idx_target_{part}"], paired[f"idx_source_{part}"]
        )
        np.testing.assert_array_equal(
            paired[f"X_target_{part}"], X_t[paired[f"idx_source_{part}"]]
        )
        assert paired[f"y_target_{part}"] is None


@pytest.mark.parametrize(
    "case", ["different_lengths", "unlabelled_target", "different_labels", "groups"]
)
def test_auto_pairs_only_what_looks_paired(case):
    X_s, y_s, X_t, _ = make_domains(n_source=200, n_target=200)
    y_t, kwargs = y_s.copy(), {}
    if case == "different_lengths":
        X_t, y_t = X_t[:199], y_t[:199]
    elif case == "unlabelled_target":
        y_t = None
    elif case == "different_labels":
        y_t[0] = 1 - y_t[0]
    else:
        kwargs = {"groups_source": np.arange(200), "groups_target": -np.arange(200)}
    split = train_valid_test_split(X_s, y_s, X_t, y_t, random_state=4, **kwargs)
    assert not split.paired
    assert not np.array_equal(split.idx_source_test, split.idx_target_test)


def _part_of_each_row(split, domain, n_rows):
    part_of = np.full(n_rows, -1)
    for k, part in enumerate(PARTS):
        part_of[split[f"idx_{domain}_{part}"]] = k
    assert np.all(part_of >= 0)  # every row in exactly one part
    return part_of


def test_groups_keep_augmented_copies_together():
    from skdamerge.preprocessing import balance_classes

    rng = np.random.default_rng(0)
    y = np.array([0] * 270 + [1] * 30)
    X = rng.random((300, 1, 8, 8)).astype(np.float32)
    X_bal, y_bal, origin = balance_classes(X, y, random_state=0, return_indices=True)
    assert len(y_bal) == 540  # 30 mergers with 9 copies each
    X_t, _, _, _ = make_domains(n_source=50)
    split = train_valid_test_split(
        X_bal, y_bal, X_t, groups_source=origin, random_state=5
    )
    part_of = _part_of_each_row(split, "source", len(y_bal))
    for g in np.unique(origin):
        assert len(np.unique(part_of[origin == g])) == 1
    # stratified where possible: each class within one group of its share
    for label in (0, 1):
        largest = np.bincount(origin[y_bal == label]).max()
        for k, size in enumerate((0.7, 0.1, 0.2)):
            count = np.sum((part_of == k) & (y_bal == label))
            assert abs(count - size * 270) < largest
    np.testing.assert_array_equal(split.X_source_test, X_bal[split.idx_source_test])


def test_singleton_groups_meet_the_counts_exactly():
    X_s, y_s, X_t, y_t = make_domains(merger_fraction=0.1)
    split = train_valid_test_split(
        X_s,
        y_s,
        X_t,
        y_t,
        groups_source=np.arange(len(y_s)) * 7,
        groups_target=np.arange(len(y_t)).astype(str),
        random_state=6,
    )
    for domain, y in (("source", y_s), ("target", y_t)):
        for part, size in zip(PARTS, (0.7, 0.1, 0.2), strict=True):
            y_part = split[f"y_{domain}_{part}"]
            assert len(y_part) == round(size * len(y))
            assert abs(y_part.sum() - size * y.sum()) <= 1


def test_groups_of_paired_domains_apply_to_both(sim2sim_1000):
    X_s, y_s, X_t, y_t = sim2sim_1000
    groups = np.arange(len(y_s)) // 4  # e.g. four cut-outs of each of 250 systems
    split = train_valid_test_split(
        X_s, y_s, X_t, y_t, groups_source=groups, random_state=7
    )
    assert split.paired
    part_of = _part_of_each_row(split, "source", len(y_s))
    np.testing.assert_array_equal(part_of, _part_of_each_row(split, "target", len(y_s)))
    for g in np.unique(groups):
        assert len(np.unique(part_of[groups == g])) == 1
    # each of the two classes may miss its count by less than two groups of four
    assert abs(len(split.idx_source_test) - 200) <= 2 * 2 * 3


def test_groups_never_fill_a_part_of_size_zero():
    X_s, y_s, X_t, _ = make_domains(n_source=120, n_target=10)
    groups = np.repeat(np.arange(20), 6)  # groups larger than the rounding slack
    for seed in range(5):
        split = train_valid_test_split(
            X_s,
            y_s,
            X_t,
            sizes=(0.8, 0.0, 0.2),
            groups_source=groups,
            random_state=seed,
        )
        assert len(split.idx_source_valid) == 0
        assert len(split.idx_source_test) > 0


@settings(max_examples=40, deadline=None)
@given(
    group_sizes=st.lists(st.integers(1, 6), min_size=1, max_size=40),
    sizes=st.sampled_from([(0.7, 0.1, 0.2), (0.6, 0.2, 0.2), (0.5, 0, 0.5), (1, 0, 0)]),
    stratify=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_grouped_split_properties(group_sizes, sizes, stratify, seed):
    groups = np.repeat(np.arange(len(group_sizes)), group_sizes)
    y = np.random.default_rng(seed).integers(0, 2, len(group_sizes))[groups]
    X = np.arange(len(groups))
    split = train_valid_test_split(
        X,
        y,
        X[:3],
        sizes=sizes,
        stratify=stratify,
        groups_source=groups,
        random_state=seed,
    )
    part_of = _part_of_each_row(split, "source", len(X))
    for g in range(len(group_sizes)):
        assert len(np.unique(part_of[groups == g])) == 1
    for k, size in enumerate(sizes):
        if size == 0:
            assert np.sum(part_of == k) == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"groups_source": np.arange(9)}, "groups_source"),
        ({"groups_source": np.zeros((10, 2))}, "groups_source"),
        ({"groups_target": np.arange(11)}, "groups_target"),
        ({"paired": True, "n_target": 12}, "paired=True"),
        ({"paired": True, "flip_target_label": True}, "y_target"),
        (
            {
                "paired": True,
                "groups_source": np.arange(10),
                "groups_target": -np.arange(10),
            },
            "groups_target",
        ),
        ({"paired": "yes"}, "paired"),
        ({"paired": None}, "paired"),
        ({"stratify": "yes"}, "stratify"),
    ],
)
def test_grouping_errors_name_the_argument(kwargs, name):
    kwargs = dict(kwargs)
    n_target = kwargs.pop("n_target", 10)
    flip = kwargs.pop("flip_target_label", False)
    X_s, y_s, _, _ = make_domains(n_source=10, n_target=10)
    X_t = make_domains(n_source=n_target)[0]
    y_t = np.resize(y_s, n_target)  # equal labels row by row where rows overlap
    if flip:
        y_t[0] = 1 - y_t[0]
    with pytest.raises(ValueError, match=name):
        train_valid_test_split(X_s, y_s, X_t, y_t, random_state=0, **kwargs)
