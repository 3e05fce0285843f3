import numpy as np
import pytest
from scipy import ndimage
from scipy.stats import spearmanr
from sklearn.utils import Bunch

from skdamerge.datasets import _sim_observation, make_galaxy_mergers
from skdamerge.datasets._sim_instruments import _SDSS, _SIM_Z0
from skdamerge.datasets._sim_observation import _psf_transfer


def _sky_sigma(mu_lim, image_size=75):
    """Documented sim2sim noise: 5 sigma at mu_lim in 1 arcsec^2, 10 nJy, 0.06"."""
    pixel_scale = 0.06 * 75 / image_size
    return 10 ** (-0.4 * (mu_lim - 28.9)) * pixel_scale / 5


@pytest.fixture(scope="module")
def sim2sim():
    return make_galaxy_mergers(300, random_state=0, return_bunch=True)


@pytest.fixture(scope="module")
def sim2real():
    return make_galaxy_mergers(
        300, experiment="sim2real", random_state=0, return_bunch=True
    )


@pytest.mark.parametrize("experiment", ["sim2sim", "sim2real"])
@pytest.mark.parametrize("image_size", [75, 32])
def test_shapes_dtypes_finite(experiment, image_size):
    Xs, ys, Xt, yt = make_galaxy_mergers(
        20, experiment=experiment, image_size=image_size, random_state=1
    )
    for X, y in ((Xs, ys), (Xt, yt)):
        assert X.shape == (20, 3, image_size, image_size)
        assert X.dtype == np.float32
        assert X.flags.c_contiguous
        assert np.isfinite(X).all()
        assert y.shape == (20,)
        assert np.issubdtype(y.dtype, np.integer)
        assert set(np.unique(y)) <= {0, 1}


@pytest.mark.parametrize("bunch_name", ["sim2sim", "sim2real"])
def test_dynamic_range(bunch_name, request):
    b = request.getfixturevalue(bunch_name)
    for X in (b.X_source, b.X_target):
        peak = X.max(axis=(1, 2, 3))
        # galaxies peak at O(10-100) flux units per pixel, not standardised
        assert 5 < np.median(peak) < 500
        assert X.max() < 1e4
        assert abs(X.mean()) < 5


def test_bunch_fields(sim2sim, sim2real):
    for b in (sim2sim, sim2real):
        assert isinstance(b, Bunch)
        for key in ("X_source", "y_source", "X_target", "y_target", "DESCR"):
            assert key in b
        assert len(b.domains) == 2
        assert "synthetic" in b.DESCR.lower()
        assert "not illustris" in b.DESCR.lower()
        for meta in (b.meta_source, b.meta_target):
            for values in meta.values():
                assert len(values) == 300
    assert sim2sim.domains == ("pristine", "noisy")
    # blue to red in both domains
    assert sim2sim.band_names["source"] == ("F814W", "F160W", "F356W")
    assert sim2sim.band_names["target"] == ("F814W", "F160W", "F356W")
    assert sim2real.band_names["source"] == ("g", "r", "i")
    assert sim2real.band_names["target"] == ("g", "r", "i")


def test_metadata_matches_labels(sim2sim):
    meta, y = sim2sim.meta_source, sim2sim.y_source
    merger_types = {"interacting_pair", "post_merger"}
    assert all(
        (m in merger_types) == bool(label)
        for m, label in zip(meta["morphology"], y, strict=True)
    )
    pairs = meta["morphology"] == "interacting_pair"
    assert np.all((meta["mass_ratio"][pairs] >= 1) & (meta["mass_ratio"][pairs] <= 10))
    assert np.all(meta["tidal_fraction"][y == 0] == 0)
    assert np.all(meta["tidal_fraction"][y == 1] > 0)
    isolated = meta["morphology"] == "isolated"
    assert np.isnan(meta["separation"][isolated]).all()


def test_deterministic_with_int_seed():
    a = make_galaxy_mergers(30, experiment="sim2real", random_state=7)
    b = make_galaxy_mergers(30, experiment="sim2real", random_state=7)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    rs = np.random.RandomState(7)
    c = make_galaxy_mergers(30, random_state=rs)
    d = make_galaxy_mergers(30, random_state=np.random.RandomState(7))
    for u, v in zip(c, d, strict=True):
        np.testing.assert_array_equal(u, v)


def test_generator_seed_and_thread_count(monkeypatch):
    a = make_galaxy_mergers(300, random_state=np.random.default_rng(3))
    b = make_galaxy_mergers(300, random_state=np.random.default_rng(3))
    monkeypatch.setattr(_sim_observation, "_MAX_THREADS", 1)
    c = make_galaxy_mergers(300, random_state=np.random.default_rng(3))
    for u, v, w in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(u, v)
        np.testing.assert_array_equal(u, w)


def test_image_size_resamples_the_same_scene():
    big = make_galaxy_mergers(30, random_state=2, image_size=75)[0]
    small = make_galaxy_mergers(30, random_state=2, image_size=32)[0]
    flux_big = big.sum(axis=(2, 3))
    flux_small = small.sum(axis=(2, 3))
    np.testing.assert_allclose(flux_small, flux_big, rtol=0.03)


def test_different_seeds_differ():
    a = make_galaxy_mergers(30, random_state=0)
    b = make_galaxy_mergers(30, random_state=1)
    assert not np.allclose(a[0], b[0])
    assert not np.allclose(a[2], b[2])


@pytest.mark.parametrize("experiment", ["sim2sim", "sim2real"])
@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 1.0])
def test_class_balance(experiment, fraction):
    _, ys, _, yt = make_galaxy_mergers(
        40,
        experiment=experiment,
        merger_fraction=fraction,
        random_state=0,
        image_size=24,
    )
    assert ys.sum() == round(fraction * 40)
    assert yt.sum() == round(fraction * 40)
    if 0 < fraction < 1:  # classes are shuffled, not blocked
        assert 0 < ys[:20].sum() < 20 or 0 < ys[20:].sum() < 20


def test_sim2sim_target_is_source_plus_documented_noise(sim2sim):
    np.testing.assert_array_equal(sim2sim.y_source, sim2sim.y_target)
    assert sim2sim.X_source.min() >= 0  # pristine: no noise
    diff = sim2sim.X_target.astype(np.float64) - sim2sim.X_source
    expected = _sky_sigma(25.0)
    assert expected == pytest.approx(0.436, abs=0.001)
    np.testing.assert_allclose(sim2sim.noise_sigma["target"], expected)
    for band in range(3):
        d = diff[:, band].ravel()
        assert d.std() == pytest.approx(expected, rel=0.01)
        # zero mean to within 4 standard errors
        assert abs(d.mean()) < 4 * expected / np.sqrt(d.size)
    # white and Gaussian: no pixel-to-pixel correlation, no excess kurtosis
    d = diff[:, 0]
    corr = np.mean(d[:, :, 1:] * d[:, :, :-1]) / d.var()
    assert abs(corr) < 0.01
    kurt = np.mean(d**4) / d.var() ** 2 - 3
    assert abs(kurt) < 0.05
    # noise is independent of the signal: same level on and off the galaxies
    bright = sim2sim.X_source[:, 0] > np.percentile(sim2sim.X_source[:, 0], 90)
    assert d[bright].std() == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize(("mu_lim", "size"), [(27.0, 75), (25.0, 50)])
def test_sim2sim_noise_scales(mu_lim, size):
    Xs, _, Xt, _ = make_galaxy_mergers(
        40, image_size=size, limiting_surface_brightness=mu_lim, random_state=3
    )
    assert (Xt - Xs).std() == pytest.approx(_sky_sigma(mu_lim, size), rel=0.02)


def test_tidal_features_drown_in_noise(sim2sim):
    # Per-pixel S/N of the faint outskirts: pixels below 1 sigma in the pristine image
    # carry a sizeable share of the merger flux but are invisible in the noisy image.
    sigma = _sky_sigma(25.0)
    X = sim2sim.X_source[sim2sim.y_source == 1]
    faint = (X > 0.02 * sigma) & (X < sigma)
    faint_share = (X * faint).sum(axis=(2, 3)) / X.sum(axis=(2, 3))
    assert np.median(faint_share) > 0.05


def test_sim2real_domains_differ(sim2real):
    Xs, Xt = sim2real.X_source, sim2real.X_target

    # sky noise of the corners: larger in the target
    def corner_std(X):
        return np.concatenate([X[:, :, :8, :8], X[:, :, -8:, -8:]], axis=2).std(
            axis=(0, 2, 3)
        )

    np.testing.assert_allclose(corner_std(Xs), _SIM_Z0.sky_sigma, rtol=0.15)
    assert np.all(corner_std(Xt) > 1.5 * corner_std(Xs))

    # colours: both domains run blue to red (g, r, i); the observed galaxies are
    # redder than the simulated ones
    def flux_ratio(X):
        return np.median(X[:, 0].sum(axis=(1, 2)) / X[:, 2].sum(axis=(1, 2)))

    assert flux_ratio(Xt) < flux_ratio(Xs) < 0.8
    assert np.all(sim2real.psf_fwhm["target"] > sim2real.psf_fwhm["source"])


@pytest.mark.parametrize("instrument", [_SIM_Z0, _SDSS])
def test_psf_has_documented_fwhm(instrument):
    length, otf = _psf_transfer(instrument, 75)
    kernels = np.fft.fftshift(np.fft.irfft2(otf, s=(length, length)), axes=(-2, -1))
    for kernel, fwhm in zip(kernels, instrument.psf_fwhm, strict=True):
        assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
        # area above half maximum of a circular PSF is pi (FWHM / 2)^2
        up = ndimage.zoom(kernel, 8, order=3)
        area = (up > up.max() / 2).sum() / 64
        assert 2 * np.sqrt(area / np.pi) == pytest.approx(fwhm, rel=0.05)


def test_photometry_matches_magnitude():
    b = make_galaxy_mergers(200, merger_fraction=0.0, random_state=4, return_bunch=True)
    isolated = b.meta_source["morphology"] == "isolated"
    reference = b.band_names["source"].index("F160W")  # the reference band
    flux = b.X_source[isolated, reference].sum(axis=(1, 2))
    expected = 10 ** (-0.4 * (b.meta_source["magnitude"][isolated] - 28.9))
    ratio = flux / expected
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)
    assert np.all(ratio < 1.05)


@pytest.mark.parametrize("experiment", ["sim2sim", "sim2real"])
def test_bulges_are_redder_than_disks(experiment):
    # the bluest band (channel 0 of the source) relative to the reddest (channel 2)
    # is fainter for bulge-dominated galaxies than for disk-dominated ones
    b = make_galaxy_mergers(
        200,
        experiment=experiment,
        merger_fraction=0.0,
        random_state=5,
        return_bunch=True,
    )
    meta = b.meta_source
    keep = (meta["morphology"] == "isolated") & (meta["n_clumps"] == 0)
    X = b.X_source[keep]
    colour = np.log10(X[:, 0].sum(axis=(1, 2)) / X[:, 2].sum(axis=(1, 2)))
    assert spearmanr(meta["bulge_fraction"][keep], colour).statistic < -0.5


def _asymmetry(X):
    """Rotational asymmetry A = sum |I - I_180| / (2 sum |I|) about the centroid."""
    img = X.sum(axis=1)
    out = np.empty(len(img))
    for i, im in enumerate(img):
        cy, cx = ndimage.center_of_mass(np.clip(im, 0, None))
        rot = ndimage.rotate(
            ndimage.shift(im, (37 - cy, 37 - cx), order=1), 180, reshape=False, order=1
        )
        shifted = ndimage.shift(im, (37 - cy, 37 - cx), order=1)
        out[i] = np.abs(shifted - rot).sum() / (2 * np.abs(shifted).sum())
    return out


def _n_peaks(X, smooth=1.0, rel=0.1):
    """Number of local maxima above ``rel`` of the brightest, after smoothing."""
    img = ndimage.gaussian_filter(X.sum(axis=1), (0, smooth, smooth))
    peaks = img == ndimage.maximum_filter(img, size=(1, 5, 5))
    peaks &= img > rel * img.max(axis=(1, 2), keepdims=True)
    return peaks.sum(axis=(1, 2))


def test_mergers_are_more_disturbed(sim2sim):
    y, meta = sim2sim.y_source, sim2sim.meta_source
    single = np.isin(meta["morphology"], ["isolated", "post_merger"])
    # post-mergers are more asymmetric than isolated galaxies
    asym = _asymmetry(sim2sim.X_source[single])
    assert np.median(asym[y[single] == 1]) > 1.5 * np.median(asym[y[single] == 0])
    # mergers show two bright peaks more often than non-mergers
    two = _n_peaks(sim2sim.X_source, rel=0.2) >= 2
    assert two[y == 1].mean() > two[y == 0].mean() + 0.15


def test_sim2real_target_mergers_show_two_cores(sim2real):
    def two_cores(X, y):
        return (_n_peaks(X[y == 1], smooth=1.0, rel=0.2) >= 2).mean()

    target = two_cores(sim2real.X_target, sim2real.y_target)
    source = two_cores(sim2real.X_source, sim2real.y_source)
    assert target > 0.7
    assert target > source + 0.4


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"n_samples": "10"}, "n_samples"),
        ({"n_samples": True}, "n_samples"),
        ({"experiment": "sim2obs"}, "experiment"),
        ({"image_size": 8}, "image_size"),
        ({"image_size": 75.0}, "image_size"),
        ({"merger_fraction": 1.5}, "merger_fraction"),
        ({"merger_fraction": -0.1}, "merger_fraction"),
        ({"merger_fraction": "half"}, "merger_fraction"),
        ({"limiting_surface_brightness": np.nan}, "limiting_surface_brightness"),
        ({"limiting_surface_brightness": 50.0}, "limiting_surface_brightness"),
        (
            {"limiting_surface_brightness": 25.0, "experiment": "sim2real"},
            "limiting_surface_brightness",
        ),
        ({"return_bunch": "yes"}, "return_bunch"),
        ({"random_state": "seed"}, None),
    ],
)
def test_invalid_arguments(kwargs, name):
    kwargs = {"n_samples": 4, **kwargs}
    with pytest.raises(ValueError, match=name):
        make_galaxy_mergers(**kwargs)
