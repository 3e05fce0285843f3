"""Channels run blue to red, the same bands in the same order in both domains.

Before the fix, the sim2real target of the simulator came in the bands (i, r, g) while
the source came in (g, r, i): channel k of the two domains held different bands, and a
model trained on the source ranked the target's mergers below chance.
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdamerge.datasets import make_galaxy_mergers
from skdamerge.datasets._sim_instruments import _WAVELENGTH_NM


@pytest.fixture(scope="module", params=["sim2sim", "sim2real"])
def bunch(request):
    return make_galaxy_mergers(
        400, experiment=request.param, image_size=32, random_state=0, return_bunch=True
    )


def _band_flux(X):
    """Total flux of each image in each channel, shape (n, channels)."""
    return X.astype(np.float64).sum(axis=(2, 3))


def test_band_names_equal_and_blue_to_red(bunch):
    assert bunch.band_names["source"] == bunch.band_names["target"]
    for bands in bunch.band_names.values():
        wavelengths = [_WAVELENGTH_NM[band] for band in bands]
        assert wavelengths == sorted(wavelengths)
        assert len(bands) == bunch.X_source.shape[1]


def test_mean_flux_per_channel_ranks_agree(bunch):
    flux_s = _band_flux(bunch.X_source).mean(axis=0)
    flux_t = _band_flux(bunch.X_target).mean(axis=0)
    # galaxies are brighter in redder bands, in both domains
    np.testing.assert_array_equal(np.argsort(flux_s), np.argsort(flux_t))
    assert np.argmax(flux_s) == np.argmax(flux_t) == 2
    assert np.argmin(flux_s) == np.argmin(flux_t) == 0
    # brightest over faintest channel: the same side of 1 in both domains
    assert flux_s[2] / flux_s[0] > 1.5
    assert flux_t[2] / flux_t[0] > 1.5


def test_colour_of_non_mergers_has_the_same_sign(bunch):
    def colour(X, y):
        flux = np.clip(_band_flux(X[y == 0]), 1e-3, None)
        return np.median(np.log10(flux[:, 0] / flux[:, 2]))

    colour_s = colour(bunch.X_source, bunch.y_source)
    colour_t = colour(bunch.X_target, bunch.y_target)
    assert colour_s < -0.1
    assert colour_t < -0.1  # before the fix the sim2real target had +0.43


def test_noise_sigma_and_psf_are_reported_in_channel_order():
    b = make_galaxy_mergers(
        300, experiment="sim2real", random_state=1, return_bunch=True
    )
    # the observed sky noise grows from g to i; its corners show it channel by channel
    corners = np.concatenate(
        [b.X_target[:, :, :8, :8], b.X_target[:, :, -8:, -8:]], axis=2
    )
    measured = corners.std(axis=(0, 2, 3))
    np.testing.assert_allclose(measured, b.noise_sigma["target"], rtol=0.15)
    assert np.all(np.diff(b.noise_sigma["target"]) > 0)
    # seeing is sharper in redder bands
    assert np.all(np.diff(b.psf_fwhm["target"]) < 0)


def test_source_only_colour_model_transfers_to_sim2real_target():
    Xs, ys, Xt, yt = make_galaxy_mergers(
        1000, experiment="sim2real", image_size=32, random_state=0
    )

    def colours(X):
        flux = np.clip(_band_flux(X), 1e-3, None)
        return np.log10(flux[:, :2] / flux[:, 2:])

    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(colours(Xs), ys)
    auc = roc_auc_score(yt, model.decision_function(colours(Xt)))
    # Channel k means the same band in both domains, so what the source teaches
    # about colour ranks target mergers above chance (0.81 at this seed) ...
    assert auc > 0.65
    # ... while the old, reversed target channel order ranked them below (0.21).
    reversed_auc = roc_auc_score(yt, model.decision_function(colours(Xt[:, ::-1])))
    assert reversed_auc < 0.4
