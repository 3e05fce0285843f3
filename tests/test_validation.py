import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skdamerge import MMDClassifier
from skdamerge._validation import (
    check_binary_labels,
    check_image_shape,
    check_images,
    looks_channels_last,
    resolve_positive_class,
    warn_large_values,
)

DTYPES = [
    np.bool_,
    np.uint8,
    np.int16,
    np.int32,
    np.int64,
    np.float16,
    np.float32,
    np.float64,
    np.complex64,
]


def _images_problem(array):
    """The documented reason to reject ``array``, or None when it is valid."""
    if np.iscomplexobj(array):
        return "complex"
    if array.ndim not in (2, 3, 4):
        return "dimensions"
    if len(array) == 0:
        return "sample"
    if array.ndim == 2 and array.shape[1] == 0:
        return "feature"
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.all(np.isfinite(array.astype(np.float32))):
            return "NaN or infinity"
    if array.ndim == 4 and array.shape[-1] in (1, 3, 4, 5) and array.shape[1] > 5:
        return "channels-last"
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    array=hnp.arrays(
        dtype=st.sampled_from(DTYPES),
        shape=hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=6),
        elements={"allow_nan": True, "allow_infinity": True},
    )
)
def test_check_images_accepts_exactly_the_valid_arrays(array):
    """Any shape, dtype and values: rejected, naming X, exactly when invalid."""
    problem = _images_problem(array)
    if problem is not None:
        with pytest.raises((ValueError, TypeError), match="X_target"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                check_images(array, "X_target")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = check_images(array, "X_target")
    assert out.dtype == np.float32
    # single-band images gain a channel axis; nothing else changes shape
    expected_shape = (
        (len(array), 1, *array.shape[1:]) if array.ndim == 3 else array.shape
    )
    assert out.shape == expected_shape
    # Values are converted, not rescaled.
    np.testing.assert_array_equal(
        out.reshape(array.shape), array.astype(np.float32).reshape(array.shape)
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((0, 3, 8, 8)), "0 sample"),
        (np.zeros(5), "X"),
        (np.zeros((2, 2, 2, 2, 2)), "5 dimensions"),
        (np.full((3, 3, 8, 8), np.nan), "NaN"),
        (np.full((3, 3, 8, 8), np.inf), "infinity"),
        (np.full((3, 3, 8, 8), 1e300), "infinity"),
        (np.zeros((4, 16, 16, 3)), "np.moveaxis"),
        (np.array([["a", "b"]], dtype=object), "X"),
    ],
)
def test_bad_images_get_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        check_images(bad, "X")


def test_large_magnitudes_warn_with_the_fix():
    with pytest.warns(UserWarning, match="ChannelStandardizer"):
        check_images(np.full((2, 3, 8, 8), 1e9), "X")


def test_conversions_are_documented_not_rescaling():
    cutouts = np.full((2, 3, 8, 8), 200, dtype=np.uint8)
    assert check_images(cutouts).max() == 200.0
    single_band = np.ones((4, 8, 8))
    assert check_images(single_band).shape == (4, 1, 8, 8)


@settings(max_examples=60, deadline=None)
@given(
    labels=st.one_of(
        st.lists(st.sampled_from([0, 1, 2]), max_size=8),
        st.lists(st.sampled_from(["merger", "nonmerger", "spiral"]), max_size=8),
    ),
    n_samples=st.integers(0, 8),
)
def test_labels_accepted_exactly_when_binary_and_aligned(labels, n_samples):
    classes = sorted(set(labels))
    y = np.asarray(labels)
    if len(labels) != n_samples:
        with pytest.raises(ValueError, match="different numbers of samples"):
            check_binary_labels(y, n_samples)
    elif len(classes) > 2:
        with pytest.raises(ValueError, match="Only binary classification"):
            check_binary_labels(y, n_samples)
    elif len(classes) < 2:
        with pytest.raises(ValueError, match="exactly two classes"):
            check_binary_labels(y, n_samples)
    else:
        found, encoded = check_binary_labels(y, n_samples)
        assert found.tolist() == classes
        assert encoded.tolist() == [classes.index(label) for label in labels]


def test_target_too_small(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    clf = MMDClassifier(max_epochs=1, batch_size=32, random_state=0)
    with pytest.raises(ValueError, match="X_target has 1 image"):
        clf.fit(Xs, ys, X_target=Xt[:1])
    with pytest.raises(ValueError, match="X_target"):
        clf.fit(Xs, ys, X_target=Xt[:0])
    with pytest.warns(UserWarning, match="fewer than batch_size=32"):
        clf.fit(Xs, ys, X_target=Xt[:10])
    assert clf.n_target_samples_ == 10


@pytest.mark.parametrize(
    ("classes", "pos_label", "expected"),
    [
        ([0, 1], None, (1, 1, 0)),
        ([0, 1], 0, (0, 0, 1)),
        (np.array(["merger", "non-merger"]), None, (1, "non-merger", "merger")),
        (np.array(["merger", "non-merger"]), "merger", (0, "merger", "non-merger")),
        ([False, True], True, (1, True, False)),
    ],
)
def test_resolve_positive_class(classes, pos_label, expected):
    assert resolve_positive_class(classes, pos_label) == expected


def test_resolve_positive_class_rejects_unknown_labels_and_more_classes():
    with pytest.raises(
        ValueError, match=r"target_class=2 is not one of the .*\[0, 1\]"
    ):
        resolve_positive_class([0, 1], 2, name="target_class")
    with pytest.raises(ValueError, match="must be a binary classifier"):
        resolve_positive_class([0, 1, 2])


def test_displays_report_and_gradcam_agree_on_the_positive_class(tiny_shift):
    from skdamerge.inspection import GradCAMDisplay
    from skdamerge.inspection._utils import positive_scores
    from skdamerge.metrics._report import _positive_column

    Xs, ys, _, _ = tiny_shift
    labels = np.where(ys == 1, "merger", "a-non-merger")
    clf = MMDClassifier(max_epochs=1, random_state=0).fit(Xs, labels)
    assert list(clf.classes_) == ["a-non-merger", "merger"]
    score, label = positive_scores(clf, Xs[:4])
    assert label == "merger"
    np.testing.assert_allclose(score, clf.predict_proba(Xs[:4])[:, 1])
    assert _positive_column(clf, None) == (1, "merger", "a-non-merger")
    assert _positive_column(clf, "a-non-merger") == (0, "a-non-merger", "merger")
    assert GradCAMDisplay.from_estimator(clf, Xs[:2]).target_class == "merger"
    with pytest.raises(ValueError, match="target_class='star'"):
        GradCAMDisplay.from_estimator(clf, Xs[:2], target_class="star")


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((4, 16, 16, 3), True),
        ((4, 75, 75, 5), True),
        ((4, 3, 16, 16), False),
        ((4, 5, 16, 3), False),  # five bands, three columns: channels-first
        ((4, 16, 16, 7), False),
        ((4, 16, 3), False),
    ],
)
def test_looks_channels_last(shape, expected):
    assert looks_channels_last(shape) is expected


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((3, 1, 1, 1, 1, 1), r"got 6 dimensions with shape \(3, 1, 1, 1, 1, 1\)"),
        ((2, 2, 2, 2, 2), "got 5 dimensions"),
        ((4, 16, 16, 3), r"Xs looks channels-last .*np.moveaxis\(Xs, -1, 1\)"),
    ],
)
def test_in_memory_and_on_disk_images_share_the_shape_rules(tmp_path, shape, message):
    from skdamerge._outofcore import check_lazy_images

    with pytest.raises(ValueError, match=message):
        check_image_shape(shape, "Xs")
    with pytest.raises(ValueError, match=message):
        check_images(np.zeros(shape), "Xs")
    on_disk = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=shape
    )
    with pytest.raises(ValueError, match=message):
        check_lazy_images(on_disk, "Xs")
    for good in ((4, 7), (4, 16, 16), (4, 3, 16, 16)):
        check_image_shape(good, "Xs")


def test_large_value_warning_names_the_callers_caller(tmp_path):
    from skdamerge._outofcore import check_lazy_images

    def fit_like(X):
        return check_images(X, "X")

    with pytest.warns(UserWarning, match="ChannelStandardizer") as caught:
        fit_like(np.full((2, 3, 8, 8), 1e9))
    assert caught[0].filename == __file__
    on_disk = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=(2, 3, 8, 8)
    )
    on_disk[:] = 1e9
    with pytest.warns(UserWarning, match="X has values up to 1e"):
        check_lazy_images(on_disk, "X", large_value=1e6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_large_values("X", 10.0)
        check_lazy_images(on_disk, "X")  # no limit by default
