"""Orientation augmentation in training and test-time augmentation."""

import warnings

import numpy as np
import pytest
import torch

from skdamerge import (
    CDANClassifier,
    DeepCORALClassifier,
    MMDClassifier,
    SourceOnlyClassifier,
)
from skdamerge._engine.batches import SourceTargetBatches
from skdamerge._engine.orientation import RandomOrientation, orient
from skdamerge.exceptions import TargetCollapseWarning


def _numpy_orient(image, k):
    out = np.rot90(image, k % 4, axes=(-2, -1))
    return np.flip(out, axis=-1) if k >= 4 else out


def test_orient_gives_the_eight_symmetries_of_the_square():
    image = np.arange(2 * 4 * 4, dtype=np.float32).reshape(1, 2, 4, 4)
    outputs = [orient(torch.from_numpy(image), k).numpy() for k in range(8)]
    for k, out in enumerate(outputs):
        np.testing.assert_array_equal(out, _numpy_orient(image, k))
    assert len({out.tobytes() for out in outputs}) == 8  # all distinct
    np.testing.assert_array_equal(outputs[0], image)
    # Pixel values are only moved, never changed.
    for out in outputs:
        np.testing.assert_array_equal(np.sort(out.ravel()), np.sort(image.ravel()))


def test_random_orientation_turns_each_image_to_one_of_the_eight():
    images = torch.randn(64, 3, 6, 6)
    augment = RandomOrientation(np.random.default_rng(0))
    out = augment(images)
    ks = []
    for original, turned in zip(images, out, strict=True):
        matches = [
            k for k in range(8) if torch.equal(orient(original[None], k)[0], turned)
        ]
        assert len(matches) == 1
        ks.append(matches[0])
    assert set(ks) == set(range(8))  # 64 draws cover every orientation
    again = RandomOrientation(np.random.default_rng(0))(images)
    assert torch.equal(out, again)  # a seed fixes the orientations


def test_augmentation_keeps_the_batch_order():
    rng = np.random.default_rng(3)
    Xs = rng.normal(size=(20, 1, 4, 4)).astype(np.float32)
    Xt = rng.normal(size=(12, 1, 4, 4)).astype(np.float32)
    ys = np.arange(20) % 2

    def batches(augment):
        return list(
            SourceTargetBatches(
                Xs, ys, Xt, 8, torch.device("cpu"), np.random.default_rng(5),
                augment=augment,
            )
        )  # fmt: skip

    plain = batches(None)
    turned = batches(RandomOrientation(np.random.default_rng(1)))
    for (xs, ys_plain, xt), (xs_aug, ys_aug, xt_aug) in zip(plain, turned, strict=True):
        assert torch.equal(ys_plain, ys_aug)
        for a, b in ((xs, xs_aug), (xt, xt_aug)):
            for image, image_aug in zip(a, b, strict=True):
                assert any(
                    torch.equal(orient(image[None], k)[0], image_aug) for k in range(8)
                )


def _tails(n, seed, random_direction):
    """Blobs (class 0) and blobs with a tail (class 1, merger-like).

    The tail points right in the source; in the target it points in a random
    one of the eight orientations.
    """
    rng = np.random.default_rng(seed)
    size = 16
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    X = np.empty((n, 1, size, size), dtype=np.float32)
    y = rng.integers(0, 2, n)
    for i in range(n):
        image = np.exp(-(xx**2 + yy**2) / 6.0)
        if y[i]:
            image = image + 0.6 * np.exp(-((xx - 4.5) ** 2 + (yy - 1.5) ** 2) / 2.0)
        if random_direction:
            image = _numpy_orient(image[None], int(rng.integers(0, 8)))[0]
        X[i, 0] = image + rng.normal(0, 0.05, image.shape)
    return X, y


def test_augmentation_carries_an_orientation_free_signal_to_rotated_targets():
    Xs, ys = _tails(400, seed=0, random_direction=False)
    Xt, yt = _tails(400, seed=1, random_direction=True)
    common = dict(max_epochs=8, batch_size=32, random_state=0, cycle_length=None)
    plain = SourceOnlyClassifier(**common).fit(Xs, ys)
    augmented = SourceOnlyClassifier(augment=True, **common).fit(Xs, ys)
    acc_plain = np.mean(plain.predict(Xt) == yt)
    acc_augmented = np.mean(augmented.predict(Xt) == yt)
    # Without augmentation the tail is only recognised pointing right (about 1 in
    # 4 of the rotated targets plus chance on the rest).
    assert acc_augmented > 0.9
    assert acc_augmented - acc_plain > 0.15


def test_tta_averages_the_eight_orientations(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetCollapseWarning)
        clf = MMDClassifier(max_epochs=2, batch_size=32, random_state=0).fit(
            Xs, ys, X_target=Xt
        )
    expected = np.mean(
        [
            clf.predict_proba(np.ascontiguousarray(_numpy_orient(Xt, k)))
            for k in range(8)
        ],
        axis=0,
    )
    np.testing.assert_allclose(clf.predict_proba(Xt, tta=True), expected, atol=1e-6)
    assert not np.allclose(clf.predict_proba(Xt, tta=True), clf.predict_proba(Xt))


def test_orientations_need_square_images():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1, 8, 6)).astype(np.float32)
    y = np.arange(40) % 2
    with pytest.raises(ValueError, match="augment=True .* square images"):
        SourceOnlyClassifier(augment=True, max_epochs=1).fit(X, y)
    flat = SourceOnlyClassifier(max_epochs=1, batch_size=16).fit(X.reshape(40, -1), y)
    with pytest.raises(ValueError, match="tta=True .* square images"):
        flat.predict_proba(X.reshape(40, -1), tta=True)


def test_auto_augment_turns_square_images_only():
    rng = np.random.default_rng(0)
    y = np.arange(48) % 2
    common = dict(max_epochs=2, batch_size=16, random_state=0)

    def proba(X, augment):
        clf = SourceOnlyClassifier(augment=augment, **common).fit(X, y)
        return clf.predict_proba(X)

    square = rng.normal(size=(48, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(proba(square, "auto"), proba(square, True))
    assert not np.allclose(proba(square, "auto"), proba(square, False))
    # Non-square images and flat features are left as they are, without error.
    for X in (rng.normal(size=(48, 1, 8, 10)), rng.normal(size=(48, 12))):
        X = X.astype(np.float32)
        np.testing.assert_array_equal(proba(X, "auto"), proba(X, False))


def test_mmd_coral_and_cdan_turn_square_images_by_default():
    assert MMDClassifier().augment == "auto"
    assert DeepCORALClassifier().augment == "auto"
    assert CDANClassifier().augment == "auto"
