import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skdamerge.preprocessing import (
    ArcsinhStretch,
    CenterCrop,
    ChannelStandardizer,
    DomainStandardizer,
    LogStretch,
    ResizeImages,
    balance_classes,
)

TRANSFORMERS = [
    ChannelStandardizer(),
    DomainStandardizer(),
    ArcsinhStretch(scale="auto"),
    LogStretch(scale=2.0),
    ResizeImages(size=6),
    CenterCrop(size=6),
]


def blob(size=15, centre=None, width=1.5, channels=3, n=1):
    """Gaussian blob images of shape (n, channels, size, size)."""
    cy, cx = centre if centre is not None else ((size - 1) / 2, (size - 1) / 2)
    yy, xx = np.mgrid[0:size, 0:size]
    image = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
    return np.broadcast_to(image, (n, channels, size, size)).copy()


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=lambda t: type(t).__name__)
def test_rejects_bad_input_naming_the_argument(transformer):
    with pytest.raises(ValueError, match=r"X must be a 4-D array.*X\[:, None\]"):
        transformer.fit(np.zeros((2, 8, 8)))
    bad = np.zeros((2, 1, 8, 8))
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN.*nan_to_num"):
        transformer.fit(bad)


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_returns_float32_and_leaves_input_alone(transformer, dtype):
    X = np.random.default_rng(0).random((3, 2, 8, 8)).astype(dtype)
    before = X.copy()
    out = clone(transformer).fit(X).transform(X)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(X, before)


def test_transformers_in_a_pipeline_with_clone():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 20)
    noise = rng.normal(0.0, 0.1, size=(40, 3, 20, 20))
    X = noise + blob(20, n=40) * y[:, None, None, None]
    pipe = make_pipeline(
        ArcsinhStretch(scale="auto"),
        CenterCrop(16),
        ResizeImages(8),
        ChannelStandardizer(),
        FunctionTransformer(lambda Z: Z.reshape(len(Z), -1)),
        LogisticRegression(),
    )
    fitted = clone(pipe).fit(X, y)
    assert fitted.score(X, y) == 1.0
    params = pipe.get_params()
    assert params["centercrop__size"] == 16 and params["resizeimages__size"] == 8
    assert (
        clone(pipe).set_params(centercrop__size=12).get_params()["centercrop__size"]
        == 12
    )
    with pytest.raises(NotFittedError):
        pipe.steps[0][1].transform(X)  # the original, unfitted step


# --------------------------------------------------------- ChannelStandardizer


def test_standardizer_uses_only_training_statistics():
    X_train = np.zeros((2, 2, 1, 2))
    X_train[:, 0] = [[[1.0, 3.0]], [[5.0, 7.0]]]  # mean 4, std sqrt(5)
    X_train[:, 1] = [[[10.0, 10.0]], [[20.0, 20.0]]]  # mean 15, std 5
    X_test = np.full((1, 2, 1, 2), 100.0)
    scaler = ChannelStandardizer().fit(X_train)
    np.testing.assert_allclose(scaler.mean_, [4.0, 15.0])
    np.testing.assert_allclose(scaler.scale_, [np.sqrt(5.0), 5.0])
    out = scaler.transform(X_test)
    np.testing.assert_allclose(out[0, 0], (100 - 4) / np.sqrt(5.0), rtol=1e-6)
    np.testing.assert_allclose(out[0, 1], (100 - 15) / 5.0, rtol=1e-6)
    np.testing.assert_allclose(scaler.mean_, [4.0, 15.0])  # unchanged by transform


def test_standardizer_training_data_has_zero_mean_unit_std():
    rng = np.random.default_rng(2)
    X = rng.normal([1.0, -3.0, 50.0], [0.5, 2.0, 10.0], size=(600, 5, 5, 3))
    X = np.moveaxis(X, -1, 1)  # 600 > one chunk of samples
    Z = ChannelStandardizer().fit_transform(X)
    np.testing.assert_allclose(Z.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=(0, 2, 3)), 1.0, atol=1e-5)


def test_standardizer_constant_channel_and_inverse():
    X = np.random.default_rng(3).random((4, 2, 3, 3))
    X[:, 1] = 7.0
    scaler = ChannelStandardizer().fit(X)
    assert scaler.scale_[1] == 1.0
    Z = scaler.transform(X)
    np.testing.assert_array_equal(Z[:, 1], 0.0)
    np.testing.assert_allclose(scaler.inverse_transform(Z), X, rtol=1e-5, atol=1e-6)


def test_standardizer_checks_fitted_and_channels():
    with pytest.raises(NotFittedError):
        ChannelStandardizer().transform(np.zeros((1, 3, 2, 2)))
    scaler = ChannelStandardizer().fit(np.zeros((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="2 channels.*fitted on images with 3"):
        scaler.transform(np.zeros((1, 2, 2, 2)))


# -------------------------------------------------------------------- stretches


def test_arcsinh_stretch_values():
    X = np.array([[[[-3.0, 0.0], [3.0, 30.0]]]])
    out = ArcsinhStretch(scale=2.0).transform(X)  # stateless: no fit needed
    expected = np.log(X / 2 + np.sqrt((X / 2) ** 2 + 1))  # arcsinh by hand
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out[0, 0, 0, 0] < 0  # negatives stay negative


def test_arcsinh_stretch_per_channel_scale_and_inverse():
    X = np.random.default_rng(4).normal(size=(2, 2, 4, 4))
    stretch = ArcsinhStretch(scale=[1.0, 10.0])
    out = stretch.fit_transform(X)
    np.testing.assert_allclose(out[:, 1], np.arcsinh(X[:, 1] / 10.0), rtol=1e-5)
    np.testing.assert_allclose(stretch.scale_, [1.0, 10.0])
    np.testing.assert_allclose(stretch.inverse_transform(out), X, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one positive number per channel"):
        ArcsinhStretch(scale=[1.0, 2.0, 3.0]).transform(X)
    with pytest.raises(ValueError, match="positive"):
        ArcsinhStretch(scale=0.0).transform(X)


def test_log_stretch_values_and_clipping():
    X = np.array([[[[-5.0, 0.0], [4.0, 12.0]]]])
    out = LogStretch(scale=4.0).fit_transform(X)
    np.testing.assert_allclose(out.ravel(), [0.0, 0.0, np.log(2.0), np.log(4.0)])
    np.testing.assert_allclose(
        LogStretch(scale=4.0).inverse_transform(out).ravel(), [0, 0, 4, 12], rtol=1e-6
    )


@pytest.mark.parametrize("Stretch", [ArcsinhStretch, LogStretch])
def test_auto_scale_is_the_noise_level_of_the_training_data(Stretch):
    rng = np.random.default_rng(5)
    X = rng.normal(0.0, [0.5, 2.0], size=(20, 40, 40, 2))
    X = np.moveaxis(X, -1, 1) + blob(40, width=1.0, n=20, channels=2) * 100  # galaxies
    stretch = Stretch(scale="auto").fit(X)
    np.testing.assert_allclose(stretch.scale_, [0.5, 2.0], rtol=0.05)
    pooled = Stretch(scale="auto", per_channel=False).fit(X).scale_
    assert pooled[0] == pooled[1] and 0.5 < pooled[0] < 2.0
    stretch.transform(X[:1] * 3)  # fitted scale used on other data
    np.testing.assert_allclose(stretch.scale_, Stretch(scale="auto").fit(X).scale_)
    with pytest.raises(NotFittedError):
        Stretch(scale="auto").transform(X)


def test_auto_scale_noise_free_images():
    X = np.zeros((4, 1, 10, 10))
    X[:, :, 4:6, 4:6] = [[[[1.0, 2.0], [3.0, 4.0]]]]
    scale = ArcsinhStretch(scale="auto").fit(X).scale_[0]
    assert scale == pytest.approx(1.4826 * 2.5)  # MAD of the non-zero pixels
    assert ArcsinhStretch(scale="auto").fit(np.ones((2, 1, 3, 3))).scale_[0] == 1.0


# ----------------------------------------------------------- resize and crop


@pytest.mark.parametrize(
    "size, shape", [(25, (25, 25)), (150, (150, 150)), ((30, 50), (30, 50))]
)
def test_resize_shapes_and_centred_blob_stays_centred(size, shape):
    X = blob(75, width=4.0, n=2)
    out = ResizeImages(size=size).fit_transform(X)
    assert out.shape == (2, 3) + shape
    peak = np.unravel_index(np.argmax(out[0, 0]), shape)
    assert all(abs(p - (s - 1) / 2) <= 0.5 for p, s in zip(peak, shape, strict=True))
    np.testing.assert_allclose(out, out[..., ::-1], atol=1e-5)  # symmetric about centre
    np.testing.assert_allclose(out, out[..., ::-1, :], atol=1e-5)


def test_resize_keeps_constants_and_antialiases():
    constant = np.full((1, 1, 20, 20), 3.0)
    np.testing.assert_allclose(ResizeImages(5).transform(constant), 3.0)
    checker = (np.indices((40, 40)).sum(axis=0) % 2).astype(float)[None, None]
    smooth = ResizeImages(13).transform(checker)
    aliased = ResizeImages(13, antialias=False).transform(checker)
    np.testing.assert_allclose(smooth, 0.5, atol=0.05)
    assert np.ptp(aliased) > 0.5
    same = np.random.default_rng(6).random((1, 1, 5, 5))
    np.testing.assert_allclose(ResizeImages(5).transform(same), same, rtol=1e-6)


def test_center_crop_content_and_errors():
    X = np.arange(2 * 1 * 7 * 8, dtype=float).reshape(2, 1, 7, 8)
    out = CenterCrop((3, 4)).fit_transform(X)
    np.testing.assert_array_equal(out, X[:, :, 2:5, 2:6])
    centred = CenterCrop(9).transform(blob(15))
    assert np.unravel_index(np.argmax(centred[0, 0]), (9, 9)) == (4, 4)
    with pytest.raises(ValueError, match=r"size \(8, 8\) is larger than the images"):
        CenterCrop(8).transform(X)
    with pytest.raises(ValueError, match="positive integer"):
        CenterCrop(0).transform(X)


# ---------------------------------------------------------------- balance_classes


def exact_transforms(image):
    return [
        image[..., ::-1],
        image[..., ::-1, :],
        np.rot90(image, 1, axes=(-2, -1)),
        np.rot90(image, 2, axes=(-2, -1)),
        np.rot90(image, 3, axes=(-2, -1)),
    ]


def test_balance_classes_exact_part():
    rng = np.random.default_rng(7)
    X = rng.random((13, 2, 6, 6))
    y = np.array([0] * 9 + [1] * 4)
    X_bal, y_bal, origin = balance_classes(X, y, random_state=0, return_indices=True)
    assert np.bincount(y_bal).tolist() == [9, 9]
    np.testing.assert_array_equal(X_bal[:13], X.astype(np.float32))
    np.testing.assert_array_equal(y_bal[:13], y)
    np.testing.assert_array_equal(origin[:13], np.arange(13))
    seen = set()
    for row in range(13, 18):
        assert y[origin[row]] == 1
        matches = [
            k
            for k, t in enumerate(exact_transforms(X[origin[row]].astype(np.float32)))
            if np.array_equal(X_bal[row], t)
        ]
        assert matches, "not an exact flip or rotation of its original"
        seen.add((matches[0], origin[row]))
    assert len(seen) == 5  # no copy drawn twice


def test_balance_classes_random_part_and_determinism():
    X = blob(11, centre=(3, 4), channels=1, n=20) + np.arange(20)[:, None, None, None]
    y = np.array([1] * 18 + [0] * 2)
    X_bal, y_bal, origin = balance_classes(X, y, random_state=1, return_indices=True)
    assert np.bincount(y_bal).tolist() == [18, 18]
    assert X_bal.dtype == np.float32 and X_bal.shape == (36, 1, 11, 11)
    # 16 copies needed: the 2 x 5 exact ones (rows 20-29), then 6 random ones
    for row in range(30, 36):
        assert y[origin[row]] == 0
        # image k lies on a background of level k: the copy comes from its origin
        assert abs(X_bal[row].min() - origin[row]) < 0.05
        transforms = [X[origin[row]], *exact_transforms(X[origin[row]])]
        assert not any(np.allclose(X_bal[row], t, atol=1e-3) for t in transforms)
    again = balance_classes(X, y, random_state=1)
    np.testing.assert_array_equal(again[0], X_bal)
    other = balance_classes(X, y, random_state=2)
    assert not np.array_equal(other[0], X_bal)


def test_balance_classes_without_random_augmentation():
    X = np.random.default_rng(8).random((12, 1, 4, 4))
    y = np.array([0] * 11 + [1])
    with pytest.raises(ValueError, match="Enable rotation or zoom"):
        balance_classes(X, y, rotation=False, zoom=False)
    X_bal, y_bal = balance_classes(X, y, rotation=False, zoom=(0.9, 1.1))
    assert np.bincount(y_bal).tolist() == [11, 11]


def test_balance_classes_non_square_and_balanced_input():
    X = np.random.default_rng(9).random((5, 1, 4, 6))
    y = np.array([0, 0, 0, 0, 1])
    X_bal, y_bal, origin = balance_classes(X, y, random_state=0, return_indices=True)
    assert X_bal.shape == (8, 1, 4, 6)
    for row in range(5, 8):
        image = X[4].astype(np.float32)
        candidates = [image[..., ::-1], image[..., ::-1, :], image[..., ::-1, ::-1]]
        assert any(np.array_equal(X_bal[row], c) for c in candidates)
    X_same, y_same = balance_classes(X[:2], np.array([0, 1]))
    np.testing.assert_array_equal(X_same, X[:2].astype(np.float32))
    with pytest.raises(ValueError, match="one label per image"):
        balance_classes(X, y[:3])
