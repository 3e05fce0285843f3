"""How the simulator's domains are observed: the instruments and the reference frame.

An :class:`_Instrument` holds the bands (blue to red), zero point, pixel scale,
point-spread function, sky noise and gain of one domain of
:func:`~skdamerge.datasets.make_galaxy_mergers`: HST-like filters at z = 2 for
``"sim2sim"``, simulated and observed SDSS-like images for ``"sim2real"``. Lengths
are pixels of a 75 x 75 reference frame, rescaled to the requested image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__: list[str] = []

# Geometry is specified on a reference 75 x 75 pixel frame (the DeepMerge image size)
# and rescaled to other image sizes, so that the field of view stays fixed.
_REF_SIZE = 75


@dataclass(frozen=True)
class _Instrument:
    """How one domain is observed.

    Lengths are pixels on the 75-pixel reference frame.
    """

    name: str
    bands: tuple[str, str, str]  # channel order: blue to red
    zero_point: float  # AB magnitude of one flux unit
    unit: str
    pixel_scale: float  # arcsec per reference pixel
    psf_fwhm: tuple[float, float, float]  # reference pixels, per band
    psf_beta: float | None  # Moffat index; None: Gaussian PSF
    sky_sigma: tuple[float, float, float]  # flux units per reference pixel
    gain: float | None  # flux units per detected photon (source shot noise)


def _sky_sigma_from_sb(mu_lim: float, zero_point: float, pixel_scale: float) -> float:
    """Per-pixel sky noise of a 5-sigma limiting surface brightness in 1 arcsec^2."""
    flux_per_arcsec2 = 10.0 ** (-0.4 * (mu_lim - zero_point))
    n_pix = 1.0 / pixel_scale**2  # pixels in one square arcsecond
    return flux_per_arcsec2 / (5.0 * np.sqrt(n_pix))


_HST_ZP = 28.9  # AB magnitude of the flux unit, 10 nJy
_HST_SCALE = 0.06  # arcsec per pixel; ~0.5 kpc at z = 2
_SDSS_ZP = 22.5  # AB magnitude of 1 nanomaggy
_SDSS_SCALE = 0.25  # arcsec per pixel; 0.24 kpc at z = 0.05


def _hst_instrument(name: str, mu_lim: float | None) -> _Instrument:
    sigma = 0.0 if mu_lim is None else _sky_sigma_from_sb(mu_lim, _HST_ZP, _HST_SCALE)
    return _Instrument(
        name=name,
        bands=("F814W", "F160W", "F356W"),  # 0.80, 1.54, 3.56 micron
        zero_point=_HST_ZP,
        unit="10 nJy per pixel",
        pixel_scale=_HST_SCALE,
        psf_fwhm=(1.6, 2.8, 1.9),  # 0.10, 0.17, 0.12 arcsec
        psf_beta=None,
        sky_sigma=(sigma, sigma, sigma),
        gain=None,
    )


_SIM_Z0 = _Instrument(
    name="simulation",
    bands=("g", "r", "i"),
    zero_point=_SDSS_ZP,
    unit="nanomaggies per pixel",
    pixel_scale=_SDSS_SCALE,
    psf_fwhm=(4.2, 4.2, 4.2),  # Gaussian, FWHM = 1 kpc at 0.24 kpc per pixel
    psf_beta=None,
    sky_sigma=(0.04, 0.04, 0.04),
    gain=None,
)
_SDSS = _Instrument(
    name="observation",
    bands=("g", "r", "i"),
    zero_point=_SDSS_ZP,
    unit="nanomaggies per pixel",
    pixel_scale=_SDSS_SCALE,
    psf_fwhm=(6.4, 5.8, 5.4),  # Moffat, ~1.4 arcsec seeing, sharper in redder bands
    psf_beta=2.5,
    sky_sigma=(0.07, 0.09, 0.14),
    gain=0.05,
)

_DEFAULT_MU_LIM = 25.0

# Pivot wavelengths (nm) of the simulated bands: channels run blue to red.
_WAVELENGTH_NM = {
    "g": 477.0,
    "r": 623.0,
    "i": 763.0,
    "F814W": 805.0,
    "F160W": 1537.0,
    "F356W": 3563.0,
}
