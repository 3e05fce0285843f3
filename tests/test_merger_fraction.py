"""Tests of the label-free merger-fraction estimate and of the sky injection."""

import json

import numpy as np
import pytest
from conftest import make_pair_shift
from scipy import ndimage
from scipy.stats import norm
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skdamerge._threads as threads_module
import skdamerge.metrics._sky as sky_module
from skdamerge._param_validation import InvalidParameterError
from skdamerge.datasets import make_galaxy_mergers
from skdamerge.metrics import (
    MergerFractionEstimate,
    estimate_merger_fraction,
    inject_into_target_sky,
)
from skdamerge.metrics._injection import _inject

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


class TableProba(ClassifierMixin, BaseEstimator):
    """``X`` holds row indices into a table of merger probabilities.

    With ``classes=("merger", "other")`` the merger is the first column.
    """

    def __init__(self, table=None, classes=(0, 1)):
        self.table = table
        self.classes = classes

    def fit(self, X=None, y=None):
        self.classes_ = np.asarray(self.classes)
        return self

    def predict_proba(self, X):
        p = np.asarray(self.table)[np.asarray(X).ravel().astype(int)]
        if self.classes_[0] == "merger":
            return np.column_stack([p, 1 - p])
        return np.column_stack([1 - p, p])


class MeanBrightness(ClassifierMixin, BaseEstimator):
    """Merger probability = logistic of the mean pixel value (images)."""

    def fit(self, X=None, y=None):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        m = np.asarray(X, dtype=np.float64).mean(axis=tuple(range(1, np.ndim(X))))
        p = 1 / (1 + np.exp(-(m - 0.1) * 20))
        return np.column_stack([1 - p, p])


def gaussian_classes(n, fraction, rng, *, separation=1.5, scale=1.0):
    """1-D features: N(0, s) non-mergers, N(separation, s) mergers (exact count)."""
    n_pos = int(round(fraction * n))
    y = np.r_[np.ones(n_pos, int), np.zeros(n - n_pos, int)]
    X = (scale * rng.normal(size=n) + separation * y)[:, None]
    return X, y


def robust_sigma(values):
    values = np.asarray(values, dtype=np.float64)
    return 1.482602218505602 * np.median(np.abs(values - np.median(values)))


# ---------------------------------------------------------------------------
# ACC / PACC on hand-made predictions
# ---------------------------------------------------------------------------

# calibration: rows 0-9 mergers, 10-19 non-mergers; target: rows 20-29
CAL_POS = [0.9, 0.8, 0.7, 0.6, 0.4] * 2
CAL_NEG = [0.1, 0.2, 0.3, 0.6, 0.4] * 2
TARGET = [0.9, 0.7, 0.6, 0.3, 0.2, 0.1, 0.8, 0.4, 0.3, 0.2]
TABLE = np.array(CAL_POS + CAL_NEG + TARGET)
X_CAL, Y_CAL = np.arange(20), np.r_[np.ones(10, int), np.zeros(10, int)]
X_T = np.arange(20, 30)


def test_acc_and_pacc_by_hand():
    est = TableProba(TABLE).fit()
    acc = estimate_merger_fraction(
        est, X_T, X_CAL, Y_CAL, method="acc", injection=False, random_state=0
    )
    # hard decisions (p > 0.5): tpr = 4/5, fpr = 1/5, target count 4/10
    assert acc.tpr == pytest.approx(0.8) and acc.fpr == pytest.approx(0.2)
    assert acc.count_fraction == pytest.approx(0.4)
    assert acc.fraction == pytest.approx((0.4 - 0.2) / (0.8 - 0.2))
    assert acc.checks["separation"] == pytest.approx(0.6)

    pacc = estimate_merger_fraction(est, X_T, X_CAL, Y_CAL, injection=False)
    # mean probabilities: 3.4 / 5 = 0.68, 1.6 / 5 = 0.32, target 4.5 / 10
    assert pacc.tpr == pytest.approx(0.68) and pacc.fpr == pytest.approx(0.32)
    assert pacc.fraction == pytest.approx((0.45 - 0.32) / (0.68 - 0.32))
    assert pacc.raw_fraction == pacc.fraction
    assert pacc.count_fraction == pytest.approx(0.4)
    assert pacc.method == "pacc" and not pacc.injection
    assert pacc.n_target == 10 and pacc.n_calibration == 20


def test_clipping_and_string_labels():
    # a target predicted more merger-like than the calibration mergers: raw > 1
    table = np.r_[CAL_POS, CAL_NEG, np.full(10, 0.95)]
    est = TableProba(table, classes=("merger", "other")).fit()
    y = np.where(Y_CAL == 1, "merger", "other")
    out = estimate_merger_fraction(
        est, X_T, X_CAL, y, pos_label="merger", injection=False, random_state=0
    )
    # tpr 0.68, fpr 0.32 as above; the target's mean merger probability 0.95
    raw = (0.95 - 0.32) / (0.68 - 0.32)
    assert out.raw_fraction == pytest.approx(raw)
    assert out.fraction == 1.0
    assert not out.trusted and "outside [0, 1]" in out.reason


# ---------------------------------------------------------------------------
# Known truth: exact prior shift, 1-D classes
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prior_shift():
    rng = np.random.default_rng(0)
    X_train, y_train = gaussian_classes(2000, 0.5, rng)
    X_cal, y_cal = gaussian_classes(4000, 0.5, rng)
    X_t, y_t = gaussian_classes(4000, 0.2, rng)
    clf = LogisticRegression().fit(X_train, y_train)
    return clf, X_cal, y_cal, X_t, y_t


@pytest.mark.parametrize("method", ["acc", "pacc"])
def test_prior_shift_recovered(prior_shift, method):
    clf, X_cal, y_cal, X_t, _ = prior_shift
    est = estimate_merger_fraction(
        clf, X_t, X_cal, y_cal, method=method, injection=False, random_state=0
    )
    assert abs(est.fraction - 0.2) < 3 * est.std
    assert est.interval_95[0] < 0.2 < est.interval_95[1]
    assert est.interval_95[0] <= est.interval[0] <= est.fraction
    assert est.fraction <= est.interval[1] <= est.interval_95[1]
    assert est.trusted and est.reason == ""
    # the plain count: 0.2 tpr + 0.8 fpr with the threshold at 0.75 (classes
    # N(0, 1) and N(1.5, 1)): tpr = Phi(0.75), fpr = 1 - Phi(0.75)
    expected_count = 0.2 * norm.cdf(0.75) + 0.8 * norm.sf(0.75)
    assert est.count_fraction == pytest.approx(expected_count, abs=0.03)
    assert est.count_fraction - 0.2 > 0.1


def test_bootstrap_std_matches_delta_method(prior_shift):
    clf, X_cal, y_cal, X_t, _ = prior_shift
    est = estimate_merger_fraction(
        clf,
        X_t,
        X_cal,
        y_cal,
        method="acc",
        injection=False,
        n_bootstrap=400,
        random_state=0,
    )
    # Var(p) of (q - fpr) / (tpr - fpr) to first order
    p, tpr, fpr = est.fraction, est.tpr, est.fpr
    q = est.count_fraction
    n1, n0 = int(y_cal.sum()), int((1 - y_cal).sum())
    var = (
        q * (1 - q) / len(X_t)
        + p**2 * tpr * (1 - tpr) / n1
        + (1 - p) ** 2 * fpr * (1 - fpr) / n0
    ) / (tpr - fpr) ** 2
    assert est.std == pytest.approx(np.sqrt(var), rel=0.15)


def test_not_target_like_calibration_is_flagged(prior_shift):
    clf, X_cal, y_cal, _, _ = prior_shift
    rng = np.random.default_rng(5)
    # covariate shift: the target features are twice as noisy, so the target
    # scores reach further out than those of either calibration class and no
    # mixture of the two fits them (a shift of both classes by a constant could
    # mimic a prior shift and would go unnoticed: see the Notes)
    X_t, _ = gaussian_classes(4000, 0.2, rng, scale=2.0)
    est = estimate_merger_fraction(clf, X_t, X_cal, y_cal, injection=False)
    assert not est.trusted
    assert "not target-like" in est.reason
    assert est.checks["mixture_distance"] > est.checks["mixture_distance_limit"]


def test_weak_classifier_is_flagged():
    rng = np.random.default_rng(1)
    X, y = gaussian_classes(2000, 0.5, rng, separation=0.2)
    X_cal, y_cal = gaussian_classes(2000, 0.5, rng, separation=0.2)
    X_t, _ = gaussian_classes(2000, 0.3, rng, separation=0.2)
    clf = LogisticRegression().fit(X, y)
    est = estimate_merger_fraction(clf, X_t, X_cal, y_cal, injection=False)
    assert est.checks["separation"] < 0.2
    assert not est.trusted and "tpr - fpr" in est.reason
    assert "NOT TRUSTED" in str(est)


def test_wide_interval_is_flagged(prior_shift):
    clf, X_cal, y_cal, X_t, _ = prior_shift
    est = estimate_merger_fraction(
        clf, X_t[:200], X_cal, y_cal, injection=False, max_interval_width=0.05
    )
    assert est.checks["interval_95_width"] > 0.05
    assert not est.trusted and "95% interval" in est.reason


def test_result_object(prior_shift):
    clf, X_cal, y_cal, X_t, _ = prior_shift
    est = estimate_merger_fraction(clf, X_t, X_cal, y_cal, injection=False)
    assert isinstance(est, MergerFractionEstimate)
    data = json.loads(json.dumps(est.to_dict()))
    assert data["fraction"] == est.fraction and data["interval"] == list(est.interval)
    assert data["trusted"] is True and data["checks"]["separation"] > 0.2
    text = str(est)
    assert f"{est.fraction:.3f}" in text and "PACC" in text
    assert "NOT TRUSTED" not in text
    with pytest.raises(AttributeError):
        est.fraction = 0.5  # frozen


def test_argument_errors(prior_shift):
    clf, X_cal, y_cal, X_t, _ = prior_shift
    with pytest.raises(ValueError, match="y_calibration holds"):
        estimate_merger_fraction(clf, X_t, X_cal[:50], np.r_[np.ones(5), np.zeros(45)])
    with pytest.raises(ValueError, match="y_calibration"):
        estimate_merger_fraction(clf, X_t, X_cal, y_cal[:-1], injection=False)
    with pytest.raises(InvalidParameterError, match="method"):
        estimate_merger_fraction(clf, X_t, X_cal, y_cal, method="em")
    with pytest.raises(InvalidParameterError, match="n_bootstrap"):
        estimate_merger_fraction(clf, X_t, X_cal, y_cal, n_bootstrap=3)
    with pytest.raises(ValueError, match="injection=False"):
        estimate_merger_fraction(clf, X_t, X_cal, y_cal)  # 1-D features
    with pytest.raises(ValueError, match="pos_label"):
        estimate_merger_fraction(clf, X_t, X_cal, y_cal, pos_label=7)


# ---------------------------------------------------------------------------
# Injection into target sky
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_images():
    """Calibration images (pristine) and a noisy target whose pristine twin we know."""
    cal = make_galaxy_mergers(
        300, image_size=32, merger_fraction=0.5, random_state=1, return_bunch=True
    )
    tgt = make_galaxy_mergers(
        400, image_size=32, merger_fraction=0.3, random_state=2, return_bunch=True
    )
    return cal, tgt


def test_injected_sky_matches_target_and_flux_is_kept(sim_images):
    cal, tgt = sim_images
    injected, donors = inject_into_target_sky(
        cal.X_source, tgt.X_target, random_state=0, return_donors=True
    )
    assert injected.shape == cal.X_source.shape and injected.dtype == np.float32
    assert len(np.unique(donors)) == len(donors)  # enough donors: no repeats
    sigma = tgt.noise_sigma["target"]  # true sky noise per band (1.02 at 32x32)
    for band in range(3):
        # background: pixels where the pristine galaxy is below 1% of the noise
        sky_injected = injected[:, band][cal.X_source[:, band] < 0.01 * sigma[band]]
        sky_target = tgt.X_target[:, band][tgt.X_source[:, band] < 0.01 * sigma[band]]
        s_inj, s_tgt = robust_sigma(sky_injected), robust_sigma(sky_target)
        assert s_inj == pytest.approx(s_tgt, rel=0.10)
        assert s_inj == pytest.approx(sigma[band], rel=0.10)
    # injected = galaxy + the donor's noise + what is left of the donor's galaxy
    donor_noise = tgt.X_target[donors] - tgt.X_source[donors]
    leftover = injected.astype(np.float64) - cal.X_source - donor_noise
    galaxy_flux = cal.X_source.sum(axis=(2, 3), dtype=np.float64).mean()
    leftover_flux = leftover.sum(axis=(2, 3)).mean()
    assert abs(leftover_flux) < 0.01 * galaxy_flux
    # so the flux above the sky of an injected galaxy is the source flux
    flux_kept = (injected.astype(np.float64) - donor_noise).sum(axis=(2, 3)).mean()
    assert flux_kept == pytest.approx(galaxy_flux, rel=0.01)


def test_sky_model_on_threads_equals_one_pass(sim_images, monkeypatch):
    # Each image's sky depends on that image alone, so modelling chunks of
    # images on threads gives exactly the results of one pass.
    _, tgt = sim_images
    donors = tgt.X_target.astype(np.float64)
    one_chunk = sky_module._sky_model_of_chunk
    chunks = []

    def spy(images, *args):
        chunks.append(len(images))
        return one_chunk(images, *args)

    monkeypatch.setattr(threads_module.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(sky_module, "_sky_model_of_chunk", spy)
    threaded = sky_module._sky_model(donors, 3.0, 4)
    assert len(chunks) == 4 and sum(chunks) == len(donors)
    one_pass = one_chunk(donors, 3.0, 4)
    for got, expected in zip(threaded, one_pass, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_injection_computes_in_float64_and_leaves_its_inputs_alone(sim_images):
    # Float32 images are not copied to float64 first: numpy computes with their
    # values in float64 where they meet float64 ones, so the injected images are
    # those of float64 copies to the bit, and the inputs are not written to.
    cal, tgt = sim_images
    source, target = cal.X_source[:50], tgt.X_target
    kept_source, kept_target = source.copy(), target.copy()
    as32 = _inject(source, target, 3.0, None, np.random.default_rng(0))
    as64 = _inject(
        source.astype(np.float64),
        target.astype(np.float64),
        3.0,
        None,
        np.random.default_rng(0),
    )
    assert as32[0].dtype == np.float64
    for got, expected in zip(as32, as64, strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(source, kept_source)
    np.testing.assert_array_equal(target, kept_target)


def test_injection_carries_the_target_background(sim_images):
    cal, tgt = sim_images
    pedestal = 5.0
    injected = inject_into_target_sky(
        cal.X_source, tgt.X_target + pedestal, random_state=0
    )
    background = injected[cal.X_source < 0.01]
    assert np.median(background) == pytest.approx(pedestal, abs=0.05)


def test_injection_commutes_with_a_shared_standardisation(sim_images):
    # Images standardised with shared per-band statistics (as a fit sees them):
    # the pristine background sits at -mean/std in both domains, and the injected
    # background must sit there too, not twice as deep.
    cal, tgt = sim_images
    scale = np.array([0.5, 2.0, 1.5], dtype=np.float32)[None, :, None, None]
    offset = np.array([-0.2, 0.3, -1.0], dtype=np.float32)[None, :, None, None]
    plain = inject_into_target_sky(cal.X_source, tgt.X_target, random_state=4)
    standardised = inject_into_target_sky(
        cal.X_source * scale + offset, tgt.X_target * scale + offset, random_state=4
    )
    np.testing.assert_allclose(standardised, plain * scale + offset, atol=1e-4)
    background = standardised[:, 2][cal.X_source[:, 2] < 0.01]
    assert np.median(background) == pytest.approx(-1.0, abs=0.05)


def test_injection_options_and_errors(sim_images):
    cal, tgt = sim_images
    a = inject_into_target_sky(cal.X_source[:20], tgt.X_target, random_state=3)
    b = inject_into_target_sky(cal.X_source[:20], tgt.X_target, random_state=3)
    np.testing.assert_array_equal(a, b)
    # one band, (n, H, W), float64
    one = inject_into_target_sky(
        cal.X_source[:20, 0].astype(np.float64), tgt.X_target[:, 0], random_state=0
    )
    assert one.shape == (20, 32, 32) and one.dtype == np.float64
    # more source images than target images: donors are reused
    _, donors = inject_into_target_sky(
        cal.X_source[:50], tgt.X_target[:10], random_state=0, return_donors=True
    )
    assert set(donors) <= set(range(10)) and len(donors) == 50
    with pytest.raises(ValueError, match="X_target images"):
        inject_into_target_sky(cal.X_source, tgt.X_target[:, :2])
    with pytest.raises(ValueError, match="X_source must hold images"):
        inject_into_target_sky(cal.X_source.reshape(300, -1), tgt.X_target)
    # a crowded target: 30 bright point sources per frame, whose masks (grown
    # by 4 pixels) leave less than 20% of any frame as sky
    rng = np.random.default_rng(0)
    crowded = rng.normal(0, 1, (10, 32, 32))
    for image in crowded:
        image[rng.integers(0, 32, 30), rng.integers(0, 32, 30)] += 50
    with pytest.raises(ValueError, match="X_target: no target image"):
        inject_into_target_sky(cal.X_source[:5, 0], crowded)


def test_noisy_calibration_images_are_flagged(sim_images):
    cal, tgt = sim_images
    # calibration images with as much noise of their own as the target: the
    # injected sky is sqrt(2) times too noisy
    noisy = cal.X_target
    est = estimate_merger_fraction(
        MeanBrightness().fit(), tgt.X_target, noisy, cal.y_source, random_state=0
    )
    ratio = np.asarray(est.checks["sky_noise_ratio"])
    np.testing.assert_allclose(ratio, np.sqrt(2), rtol=0.1)
    assert not est.trusted and "sky noise" in est.reason


# ---------------------------------------------------------------------------
# Known truth on images: a covariate-shifted classifier, corrected by injection
# ---------------------------------------------------------------------------


def companion_peak(X):
    """Brightest smoothed pixel 5-11 pixels from the brightest one (a companion).

    Noise-free images separate perfectly; on noisy ones the noise peaks in the
    annulus lift the non-mergers: a covariate shift of the classifier's scores.
    """
    img = np.asarray(X, dtype=np.float64).mean(axis=1)
    n, h, w = img.shape
    smooth = ndimage.uniform_filter(img, size=(1, 5, 5))
    cy, cx = np.divmod(smooth.reshape(n, -1).argmax(axis=1), w)
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy[None] - cy[:, None, None], xx[None] - cx[:, None, None])
    ring = (r > 5) & (r < 11)
    return np.where(ring, smooth, -np.inf).reshape(n, -1).max(axis=1)[:, None]


def subsample(X, y, fraction, n, rng):
    pos = rng.choice(np.flatnonzero(y == 1), int(round(fraction * n)), replace=False)
    neg = rng.choice(np.flatnonzero(y == 0), n - len(pos), replace=False)
    index = np.r_[pos, neg]
    return X[index], y[index]


@pytest.mark.parametrize("seed", [0, 1])
def test_injection_corrects_a_covariate_shift(seed):
    rng = np.random.default_rng(seed)
    Xs, ys, _, _ = make_pair_shift(400, size=32, seed=seed)  # clean source
    Xc, yc, _, _ = make_pair_shift(600, size=32, seed=seed + 10)  # calibration
    _, _, Xt_all, yt_all = make_pair_shift(2000, size=32, seed=seed + 20)  # noisy
    clf = make_pipeline(
        FunctionTransformer(companion_peak), LogisticRegression(C=100)
    ).fit(Xs, ys)
    assert clf.score(Xc, yc) > 0.95  # the source problem is easy
    errors, count_errors = [], []
    for truth in (0.1, 0.3, 0.6):
        Xt, yt = subsample(Xt_all, yt_all, truth, 600, rng)
        est = estimate_merger_fraction(clf, Xt, Xc, yc, random_state=0)
        assert est.fpr > 0.4  # the noise makes non-mergers look like mergers
        assert est.trusted, est.reason
        assert abs(est.fraction - truth) < 0.1
        errors.append(abs(est.fraction - truth))
        count_errors.append(abs(est.count_fraction - truth))
    assert np.mean(errors) < np.mean(count_errors) / 3


# ---------------------------------------------------------------------------
# Pristine -> noisy galaxies with a domain-adaptation network (slow)
# ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_merger_fraction_on_simulated_shift(seed):
    from skdamerge import MMDClassifier
    from skdamerge.pipeline import make_da_pipeline
    from skdamerge.preprocessing import ArcsinhStretch, ChannelStandardizer

    def make(n, fraction, random_state):
        return make_galaxy_mergers(
            n, image_size=32, merger_fraction=fraction, random_state=random_state
        )

    Xs, ys, _, _ = make(1000, 0.5, seed)  # balanced pristine training set
    Xc, yc, _, _ = make(1000, 0.5, seed + 50)  # held-out pristine calibration
    _, _, X_pool, _ = make(1000, 0.3, seed + 300)  # unlabelled noisy survey
    clf = make_da_pipeline(
        ArcsinhStretch(),
        ChannelStandardizer(),
        MMDClassifier(
            max_epochs=10,
            batch_size=32,
            patience=None,
            validation_fraction=None,
            random_state=seed,
        ),
    )
    clf.fit(Xs, ys, X_target=X_pool)
    errors, count_errors = [], []
    for truth in (0.1, 0.3, 0.6):
        _, _, Xt, yt = make(1000, truth, seed + 100 + int(10 * truth))
        est = estimate_merger_fraction(clf, Xt, Xc, yc, random_state=0)
        assert abs(est.fraction - truth) < 0.1 or not est.trusted, str(est)
        errors.append(abs(est.fraction - truth))
        count_errors.append(abs(est.count_fraction - truth))
    assert np.mean(errors) < np.mean(count_errors)


def test_sorted_counts_match_direct_comparisons():
    from skdamerge.metrics._sky import _count_sorted

    rng = np.random.default_rng(0)
    rows = np.sort(
        np.round(rng.standard_normal((40, 50)), 1).astype(np.float32), axis=-1
    )
    rows[:5, -10:] = np.inf  # left-out pixels
    # Bounds on, just beside and between the float32 values, and NaN.
    picks = rows[np.arange(40), rng.integers(0, 40, 40)].astype(np.float64)
    bounds = picks + rng.choice([-1e-12, 0.0, 1e-12, 0.05], 40)
    bounds[3] = np.nan
    bounds[4], bounds[5] = np.inf, -np.inf
    rows[6] = np.inf  # no pixel left
    single = rows[:, :1]  # rows of one entry

    def direct(ordered, strict):
        below = ordered < bounds[:, None] if strict else ordered <= bounds[:, None]
        return below.sum(axis=-1)

    for strict in (True, False):
        for ordered in (rows, single):
            np.testing.assert_array_equal(
                _count_sorted(ordered, bounds, strict), direct(ordered, strict)
            )
        # Bounds per image and band: rows of shape (n, C, H * W).
        np.testing.assert_array_equal(
            _count_sorted(rows.reshape(8, 5, 50), bounds.reshape(8, 5), strict),
            direct(rows, strict).reshape(8, 5),
        )
