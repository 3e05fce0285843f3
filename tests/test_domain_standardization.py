"""Per-domain standardisation: DomainStandardizer, pixel_units_differ and the
target path of DomainAdaptationPipeline."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdamerge import MMDClassifier, TargetDomain
from skdamerge._param_validation import InvalidParameterError
from skdamerge.datasets import make_galaxy_mergers
from skdamerge.pipeline import make_da_pipeline
from skdamerge.preprocessing import (
    ArcsinhStretch,
    ChannelStandardizer,
    DomainStandardizer,
    pixel_units_differ,
)


def two_domains():
    """Source (2 images, 2 channels, 1 x 2 pixels) and target (3 images)."""
    Xs = np.zeros((2, 2, 1, 2))
    Xs[:, 0] = [[[1.0, 3.0]], [[5.0, 7.0]]]  # mean 4, std sqrt(5)
    Xs[:, 1] = [[[10.0, 10.0]], [[20.0, 20.0]]]  # mean 15, std 5
    Xt = np.zeros((3, 2, 1, 2))
    Xt[:, 0] = [[[100.0, 100.0]], [[110.0, 110.0]], [[120.0, 120.0]]]
    Xt[:, 1] = [[[-1.0, 1.0]], [[-1.0, 1.0]], [[-1.0, 1.0]]]  # mean 0, std 1
    return Xs, Xt


def counts(X):
    """Simulated fluxes as image counts, like DeepMerge II's SDSS target."""
    return (25.0 + 19.0 * np.asarray(X)).astype(np.float32)


@pytest.fixture(scope="module")
def sim2real():
    return make_galaxy_mergers(
        200, experiment="sim2real", image_size=32, random_state=0
    )


# --------------------------------------------------------------- the statistics


def test_statistics_of_each_domain_by_hand():
    Xs, Xt = two_domains()
    # channel 0 of the target: mean 110, std sqrt(200 / 3)
    scaler = DomainStandardizer().fit(Xs, X_target=Xt)
    np.testing.assert_allclose(scaler.mean_, [4.0, 15.0])
    np.testing.assert_allclose(scaler.scale_, [np.sqrt(5.0), 5.0])
    np.testing.assert_allclose(scaler.target_mean_, [110.0, 0.0])
    np.testing.assert_allclose(scaler.target_scale_, [np.sqrt(200.0 / 3.0), 1.0])
    assert (scaler.n_samples_seen_, scaler.n_target_samples_seen_) == (2, 3)
    assert scaler.n_features_in_ == 2
    new = np.full((1, 2, 1, 2), 130.0)
    out = scaler.transform_target(new)
    assert out.dtype == np.float32 and out.shape == new.shape
    np.testing.assert_allclose(out[0, 0], 20.0 / np.sqrt(200.0 / 3.0), rtol=1e-6)
    np.testing.assert_allclose(out[0, 1], 130.0, rtol=1e-6)
    out = scaler.transform(new)
    np.testing.assert_allclose(out[0, 0], 126.0 / np.sqrt(5.0), rtol=1e-6)
    np.testing.assert_allclose(out[0, 1], 115.0 / 5.0, rtol=1e-6)


def test_robust_statistics_by_hand_ignore_a_bright_pixel():
    X = np.zeros((1, 1, 1, 7))
    X[0, 0, 0] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1000.0]  # a cosmic ray
    # median 4; |deviations| 3, 2, 1, 0, 1, 2, 996 -> MAD 2
    Xt = 10.0 * X + 50.0  # median 90, MAD 20
    scaler = DomainStandardizer(robust=True).fit(X, X_target=Xt)
    np.testing.assert_allclose(scaler.mean_, [4.0])
    np.testing.assert_allclose(scaler.scale_, [1.4826 * 2.0])
    np.testing.assert_allclose(scaler.target_mean_, [90.0])
    np.testing.assert_allclose(scaler.target_scale_, [1.4826 * 20.0])
    np.testing.assert_allclose(
        scaler.transform_target(Xt), scaler.transform(X), rtol=1e-6
    )
    # The mean and standard deviation are dragged by the bright pixel.
    plain = DomainStandardizer().fit(X)
    assert plain.mean_[0] > 100 and plain.scale_[0] > 300


def test_robust_noise_free_and_constant_channels():
    X = np.zeros((4, 2, 10, 10))
    X[:, 0, 4:6, 4:6] = [[1.0, 2.0], [3.0, 4.0]]  # median 0, MAD 0
    X[:, 1] = 7.0
    scaler = DomainStandardizer(robust=True).fit(X, X_target=X)
    # MAD of the pixels that differ from the median; 1 for a constant channel
    np.testing.assert_allclose(scaler.scale_, [1.4826 * 2.5, 1.0])
    np.testing.assert_allclose(scaler.mean_, [0.0, 7.0])
    plain = DomainStandardizer().fit(X, X_target=X)
    assert plain.scale_[1] == 1.0 and plain.target_scale_[1] == 1.0
    np.testing.assert_array_equal(plain.transform_target(X)[:, 1], 0.0)


@pytest.mark.parametrize("robust", [False, True])
def test_each_domain_lands_on_zero_centre_unit_scale(robust):
    rng = np.random.default_rng(0)
    # 600 > one chunk of samples; channels in very different units per domain
    Xs = np.moveaxis(
        rng.normal([0.6, 1.0, -2.0], [1.9, 0.1, 3.0], (600, 4, 4, 3)), -1, 1
    )
    Xt = np.moveaxis(
        rng.normal([25.8, 900.0, 0.0], [35.1, 40.0, 0.01], (300, 4, 4, 3)), -1, 1
    )
    scaler = DomainStandardizer(robust=robust).fit(Xs, X_target=Xt)
    for Z in (scaler.transform(Xs), scaler.transform_target(Xt)):
        pixels = np.moveaxis(Z, 1, 0).reshape(3, -1).astype(np.float64)
        if robust:
            median = np.median(pixels, axis=1)
            mad = np.median(np.abs(pixels - median[:, None]), axis=1)
            np.testing.assert_allclose(median, 0.0, atol=1e-5)
            np.testing.assert_allclose(1.4826 * mad, 1.0, rtol=1e-4)
        else:
            np.testing.assert_allclose(pixels.mean(axis=1), 0.0, atol=1e-5)
            np.testing.assert_allclose(pixels.std(axis=1), 1.0, rtol=1e-5)


def test_source_transform_is_the_channel_standardizer():
    rng = np.random.default_rng(1)
    Xs = rng.normal(3.0, 2.0, size=(30, 3, 6, 6))
    Xt = rng.normal(-40.0, 9.0, size=(20, 3, 6, 6))
    scaler = DomainStandardizer().fit(Xs, X_target=Xt)
    source_only = ChannelStandardizer().fit(Xs)
    for X in (Xs, Xt):
        np.testing.assert_array_equal(scaler.transform(X), source_only.transform(X))
    np.testing.assert_array_equal(scaler.mean_, source_only.mean_)
    np.testing.assert_array_equal(scaler.scale_, source_only.scale_)
    target_only = ChannelStandardizer().fit(Xt)
    np.testing.assert_array_equal(scaler.target_mean_, target_only.mean_)
    np.testing.assert_array_equal(
        scaler.transform_target(Xt), target_only.transform(Xt)
    )
    np.testing.assert_allclose(
        scaler.inverse_transform(scaler.transform(Xs)), Xs, rtol=1e-5, atol=1e-5
    )
    # Without a target, the source statistics are the same.
    alone = DomainStandardizer().fit(Xs)
    np.testing.assert_array_equal(alone.transform(Xs), scaler.transform(Xs))


def test_target_path_does_not_depend_on_target_units(sim2real):
    Xs, _, Xt, _ = sim2real
    a = DomainStandardizer().fit(Xs, X_target=Xt).transform_target(Xt)
    b = DomainStandardizer().fit(Xs, X_target=counts(Xt)).transform_target(counts(Xt))
    np.testing.assert_allclose(a, b, atol=2e-4)


def test_sim2real_domains_land_on_comparable_scales(sim2real):
    # Measured on make_galaxy_mergers(200, "sim2real", 32, random_state=0), target
    # as image counts: with source statistics the held-out target images had
    # per-channel means 12-19 and standard deviations 15-24; with its own
    # statistics means within 0.07 of 0 and standard deviations 0.77-0.89 (source
    # held-out 1.18-1.26). Per-domain statistics make this independent of the
    # band order of each domain.
    Xs, _, Xt, _ = sim2real
    Xt = counts(Xt)
    scaler = DomainStandardizer().fit(Xs[:150], X_target=Xt[:150])
    source_stats = ChannelStandardizer().fit(Xs[:150]).transform(Xt[150:])
    assert np.all(np.abs(source_stats.mean(axis=(0, 2, 3))) > 5)
    assert np.all(source_stats.std(axis=(0, 2, 3)) > 5)
    held_out = [scaler.transform(Xs[150:]), scaler.transform_target(Xt[150:])]
    stds = []
    for Z in held_out:
        assert np.all(np.abs(Z.mean(axis=(0, 2, 3))) < 0.25)
        stds.append(Z.std(axis=(0, 2, 3)))
    assert np.all((0.5 < stds[1] / stds[0]) & (stds[1] / stds[0] < 2.0))


def test_table_input_is_standardised_per_feature():
    Xs = np.array([[1.0, 10.0], [3.0, 20.0]])  # means 2, 15; stds 1, 5
    Xt = np.array([[0.0, 0.0], [0.0, 4.0], [3.0, 2.0]])  # means 1, 2
    scaler = DomainStandardizer().fit(Xs, X_target=Xt)
    np.testing.assert_allclose(scaler.transform(Xs), [[-1, -1], [1, 1]])
    out = scaler.transform_target(Xt)
    assert out.shape == (3, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(out[:, 1], [-np.sqrt(1.5), np.sqrt(1.5), 0.0], rtol=1e-6)


# ---------------------------------------------------------------------- errors


def test_errors_name_the_argument_and_the_fix():
    Xs, Xt = two_domains()
    with pytest.raises(NotFittedError):
        DomainStandardizer().transform_target(Xt)
    source_only = DomainStandardizer().fit(Xs)
    with pytest.raises(
        NotFittedError, match=r"without X_target.*X_target=target_images"
    ):
        source_only.transform_target(Xt)
    with pytest.raises(ValueError, match=r"X_target has 1 channels but X has 2.*order"):
        DomainStandardizer().fit(Xs, X_target=Xt[:, :1])
    with pytest.raises(ValueError, match="X_target must have the layout of X"):
        DomainStandardizer().fit(Xs, X_target=Xt[:, :, 0, 0])
    with pytest.raises(ValueError, match=r"X_target has no samples"):
        DomainStandardizer().fit(Xs, X_target=Xt[:0])
    with pytest.raises(ValueError, match=r"X_target contains NaN.*nan_to_num"):
        DomainStandardizer().fit(Xs, X_target=np.full_like(Xt, np.nan))
    with pytest.raises(ValueError, match=r"X_target must be a 4-D array.*\[:, None\]"):
        DomainStandardizer().fit(Xs, X_target=Xt[:, 0])
    fitted = DomainStandardizer().fit(Xs, X_target=Xt)
    with pytest.raises(ValueError, match=r"X has 1 channels.*fitted on images with 2"):
        fitted.transform_target(Xt[:, :1])
    with pytest.raises(InvalidParameterError, match="robust"):
        DomainStandardizer(robust="yes").fit(Xs)
    # Refitting without a target forgets the old target statistics.
    fitted.fit(Xs)
    assert not hasattr(fitted, "target_mean_")
    with pytest.raises(NotFittedError, match="without X_target"):
        fitted.transform_target(Xt)


def test_target_domain_wrapper_and_clone():
    Xs, Xt = two_domains()
    wrapped = DomainStandardizer(robust=True).fit(Xs, X_target=TargetDomain(Xt))
    plain = DomainStandardizer(robust=True).fit(Xs, X_target=Xt)
    np.testing.assert_array_equal(wrapped.target_scale_, plain.target_scale_)
    copy = clone(wrapped)
    assert copy.get_params() == {"robust": True}
    assert not hasattr(copy, "mean_")
    assert DomainStandardizer().set_params(robust=True).robust is True


@parametrize_with_checks([DomainStandardizer(), DomainStandardizer(robust=True)])
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


# ------------------------------------------------------------ pixel_units_differ


def ramp(channels=2):
    """101 pixels -50..50 per channel: median 0, 99th percentile 49, spread 49."""
    X = np.arange(-50.0, 51.0).reshape(1, 1, 1, 101)
    return np.repeat(X, channels, axis=1)


def test_pixel_units_rule_by_hand():
    X = ramp()
    assert pixel_units_differ(X, X) is False
    assert pixel_units_differ(X, 2.9 * X) is False  # spreads 49 and 142.1
    assert pixel_units_differ(X, 3.1 * X) is True
    assert pixel_units_differ(3.1 * X, X) is True  # symmetric
    assert pixel_units_differ(X, 3.1 * X, factor=4.0) is False
    assert pixel_units_differ(X, X + 48.0) is False  # levels 0 and 48 < spread 49
    assert pixel_units_differ(X, X + 50.0) is True
    one_channel_off = X.copy()
    one_channel_off[:, 1] *= 10.0
    assert pixel_units_differ(X, one_channel_off) is True
    constant = np.full((2, 1, 3, 3), 5.0)
    assert pixel_units_differ(constant, constant) is False
    assert pixel_units_differ(constant, constant + 1.0) is True
    assert pixel_units_differ(np.zeros((1, 1, 2, 2)), np.zeros((3, 1, 2, 2))) is False


def test_pixel_units_differ_on_simulated_pairs(sim2real):
    Xs, _, Xt, _ = sim2real
    # Simulated fluxes vs image counts: different units, whatever the band order.
    assert pixel_units_differ(Xs, counts(Xt)) is True
    assert pixel_units_differ(Xs, counts(Xt)[:, ::-1]) is True
    # The same galaxies pristine and with sky noise: same units (the sky noise
    # changes the median absolute deviation a hundredfold, not the rule).
    Xs2, _, Xt2, _ = make_galaxy_mergers(
        200, experiment="sim2sim", image_size=32, random_state=0
    )
    assert pixel_units_differ(Xs2, Xt2) is False
    assert pixel_units_differ(Xs2, 10.0 * Xt2) is True


def test_pixel_units_differ_errors():
    X = ramp()
    with pytest.raises(ValueError, match=r"X_target has 1 channels but X_source has 2"):
        pixel_units_differ(X, X[:, :1])
    with pytest.raises(ValueError, match=r"X_source must be a 4-D array"):
        pixel_units_differ(X[0], X)
    with pytest.raises(ValueError, match="X_target has no samples"):
        pixel_units_differ(X, X[:0])
    with pytest.raises(InvalidParameterError, match="factor"):
        pixel_units_differ(X, X, factor=1.0)


# -------------------------------------------------------------------- pipeline


class MeanClassifier(ClassifierMixin, BaseEstimator):
    """Records what it was fitted on; P(1) = sigmoid(mean pixel)."""

    def fit(self, X, y, X_target=None):
        self.X_fit_ = np.asarray(X)
        self.X_target_fit_ = None if X_target is None else np.asarray(X_target)
        self.classes_ = np.unique(y)
        return self

    def decision_function(self, X):
        return np.asarray(X, dtype=np.float64).mean(axis=(1, 2, 3))

    def predict_proba(self, X):
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def transform(self, X):
        return np.asarray(X).reshape(len(X), -1)


class TargetAwareShift(TransformerMixin, BaseEstimator):
    """Subtracts the mean of source and target pooled; no transform_target."""

    def fit(self, X, y=None, X_target=None):
        self.seen_target_ = X_target is not None
        pooled = X if X_target is None else np.concatenate([X, X_target])
        self.shift_ = float(np.mean(pooled))
        return self

    def transform(self, X):
        return np.asarray(X) - self.shift_


@pytest.fixture()
def unit_shift():
    rng = np.random.default_rng(3)
    Xs = rng.normal(0.6, 1.9, size=(40, 3, 8, 8)).astype(np.float32)
    ys = np.tile([0, 1], 20)
    Xt = rng.normal(25.8, 35.1, size=(30, 3, 8, 8)).astype(np.float32)
    return Xs, ys, Xt


def test_pipeline_fit_passes_the_target_to_per_domain_steps(unit_shift):
    Xs, ys, Xt = unit_shift
    pipe = make_da_pipeline(
        ArcsinhStretch(scale=2.0), DomainStandardizer(), MeanClassifier()
    )
    pipe.fit(Xs, ys, X_target=TargetDomain(Xt))
    stretch, scaler, final = (step for _, step in pipe.steps)
    # The stretch is an ordinary step: fitted on the source, applied to both.
    Ss, St = np.arcsinh(Xs / 2.0), np.arcsinh(Xt / 2.0)
    np.testing.assert_allclose(scaler.mean_, Ss.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(scaler.target_mean_, St.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(scaler.target_scale_, St.std(axis=(0, 2, 3)), rtol=1e-4)
    # The estimator got each domain standardised with its own statistics.
    np.testing.assert_allclose(final.X_fit_, scaler.transform(Ss), atol=1e-5)
    np.testing.assert_allclose(
        final.X_target_fit_, scaler.transform_target(St), atol=1e-5
    )
    np.testing.assert_allclose(final.X_target_fit_.std(axis=(0, 2, 3)), 1.0, rtol=1e-4)


def test_pipeline_prediction_on_target_images_uses_target_statistics(unit_shift):
    Xs, ys, Xt = unit_shift
    pipe = make_da_pipeline(DomainStandardizer(), MeanClassifier()).fit(
        Xs, ys, X_target=Xt
    )
    scaler = pipe.named_steps["domainstandardizer"]
    new = Xt[:5] + 7.0
    # by hand: P(1) = sigmoid(mean of (new - target_mean_) / target_scale_)
    z = (new - scaler.target_mean_[:, None, None]) / scaler.target_scale_[:, None, None]
    p = 1.0 / (1.0 + np.exp(-z.mean(axis=(1, 2, 3))))
    np.testing.assert_allclose(
        pipe.predict_proba(new, domain="target")[:, 1], p, rtol=1e-5
    )
    np.testing.assert_allclose(
        pipe.predict_log_proba(new, domain="target"),
        np.log(pipe.predict_proba(new, domain="target")),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        pipe.decision_function(new, domain="target"), z.mean(axis=(1, 2, 3)), atol=1e-5
    )
    np.testing.assert_array_equal(
        pipe.predict(new, domain="target"), (p > 0.5).astype(int)
    )
    assert pipe.score(new, (p > 0.5).astype(int), domain="target") == 1.0
    np.testing.assert_allclose(
        pipe.transform(new, domain="target"), z.reshape(5, -1), atol=1e-5
    )
    np.testing.assert_allclose(pipe[:-1].transform(new, domain="target"), z, atol=1e-5)
    # The default is the source path, exactly Pipeline's: source statistics.
    zs = scaler.transform(new)
    np.testing.assert_allclose(
        pipe.decision_function(new), zs.mean(axis=(1, 2, 3)), atol=1e-5
    )
    np.testing.assert_array_equal(
        pipe.predict_proba(new), pipe.predict_proba(new, domain="source")
    )
    with pytest.raises(
        ValueError, match=r"domain must be 'source' or 'target'.*domain='target'"
    ):
        pipe.predict_proba(new, domain="survey")


def test_pipeline_without_per_domain_steps_is_unchanged(unit_shift):
    Xs, ys, Xt = unit_shift
    pipe = make_da_pipeline(ChannelStandardizer(), MeanClassifier()).fit(
        Xs, ys, X_target=Xt
    )
    scaler, final = pipe.named_steps["channelstandardizer"], pipe[-1]
    np.testing.assert_allclose(scaler.mean_, Xs.mean(axis=(0, 2, 3), dtype=np.float64))
    np.testing.assert_array_equal(final.X_target_fit_, scaler.transform(Xt))
    np.testing.assert_array_equal(
        pipe.predict_proba(Xt, domain="target"), pipe.predict_proba(Xt)
    )
    # A step that takes X_target in fit but has no transform_target.
    pipe = make_da_pipeline(TargetAwareShift(), MeanClassifier()).fit(
        Xs, ys, X_target=Xt
    )
    shift = pipe[0]
    assert shift.seen_target_
    assert shift.shift_ == pytest.approx(np.concatenate([Xs, Xt]).mean(), rel=1e-5)
    np.testing.assert_allclose(pipe[-1].X_target_fit_, Xt - shift.shift_)


def test_pipeline_fitted_without_target_says_how_to_get_target_statistics(unit_shift):
    Xs, ys, Xt = unit_shift
    pipe = make_da_pipeline(DomainStandardizer(), MeanClassifier()).fit(Xs, ys)
    assert pipe[-1].X_target_fit_ is None
    np.testing.assert_array_equal(
        pipe[-1].X_fit_, ChannelStandardizer().fit(Xs).transform(Xs)
    )
    with pytest.raises(
        NotFittedError, match=r"without X_target.*DomainAdaptationPipeline"
    ):
        pipe.predict_proba(Xt, domain="target")
    params = clone(pipe).set_params(domainstandardizer__robust=True).get_params()
    assert params["domainstandardizer__robust"] is True


@pytest.mark.filterwarnings("ignore:.*lost the target domain")  # noise data
def test_pipeline_with_a_skdamerge_estimator_matches_fitting_by_hand(unit_shift):
    Xs, ys, Xt = unit_shift
    fast = dict(max_epochs=2, batch_size=16, random_state=0)
    pipe = make_da_pipeline(DomainStandardizer(), MMDClassifier(**fast))
    pipe.fit(Xs, ys, X_target=Xt)
    scaler = pipe.named_steps["domainstandardizer"]
    by_hand = MMDClassifier(**fast).fit(
        scaler.transform(Xs), ys, X_target=scaler.transform_target(Xt)
    )
    np.testing.assert_allclose(
        pipe.predict_proba(Xt, domain="target"),
        by_hand.predict_proba(scaler.transform_target(Xt)),
        atol=1e-6,
    )
