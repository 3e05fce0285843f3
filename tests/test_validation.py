import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skdamerge import MMDClassifier
from skdamerge._validation import check_binary_labels, check_images

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
