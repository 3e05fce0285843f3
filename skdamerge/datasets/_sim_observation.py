"""Observation of the rendered scenes: PSF convolution, sky and shot noise.

:func:`_generate` renders a population in chunks on a few threads, convolves each
chunk with the instrument's point-spread function by zero-padded FFTs and adds
noise drawn from a per-chunk seed, so that the images do not depend on the number
of threads.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft

from .._threads import map_on_threads
from ._sim_instruments import _REF_SIZE
from ._sim_rendering import _render

__all__: list[str] = []

# Objects rendered per batch: bounds the memory of the temporary arrays.
_CHUNK = 128
# Chunks are rendered concurrently on at most this many threads.
_MAX_THREADS = 4


def _psf_transfer(inst, size):
    """Optical transfer functions of the instrument PSF, one per band.

    Returns the padded FFT size and an array of shape (3, L, L // 2 + 1).
    """
    scale = size / _REF_SIZE
    fwhm = np.asarray(inst.psf_fwhm) * scale
    if inst.psf_beta is None:
        half = int(np.ceil(3.0 * fwhm.max()))
    else:  # Moffat wings: a wider footprint
        half = int(np.ceil(6.0 * fwhm.max()))
    length = sp_fft.next_fast_len(size + half, real=True)
    k = np.fft.fftfreq(length, d=1.0 / length)  # signed pixel offsets, wrapped
    r2 = k[:, None] ** 2 + k[None, :] ** 2
    kernels = []
    for f in fwhm:
        if inst.psf_beta is None:
            sigma = f / (2.0 * np.sqrt(2.0 * np.log(2.0)))
            ker = np.exp(-0.5 * r2 / sigma**2)
        else:
            beta = inst.psf_beta
            alpha = f / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
            ker = (1.0 + r2 / alpha**2) ** -beta
        ker[r2 > half**2] = 0.0
        kernels.append(ker / ker.sum())
    otf = sp_fft.rfft2(np.stack(kernels), axes=(-2, -1))
    return length, otf.astype(np.complex64)


def _convolve(img, length, otf):
    """Linear (not circular) convolution of a (B, 3, S, S) batch with the PSF."""
    size = img.shape[-1]
    spec = sp_fft.rfft2(img, s=(length, length), axes=(-2, -1))
    spec *= otf[None]
    out = sp_fft.irfft2(spec, s=(length, length), axes=(-2, -1))
    return out[..., :size, :size]


def _noise_sigma(inst, size):
    """Per-band sky noise per output pixel (flux units)."""
    return np.asarray(inst.sky_sigma, dtype=np.float64) * _REF_SIZE / size


def _generate(p, inst, size, noise_seed, out_clean=None, out_noisy=None):
    """Render, convolve and (optionally) add noise, in chunks, into the outputs.

    Chunks run on a few threads (numpy and the FFT release the GIL); each chunk
    draws its noise from its own child seed, so the output does not depend on the
    number of threads.
    """
    length, otf = _psf_transfer(inst, size)
    sigma = _noise_sigma(inst, size).astype(np.float32)[None, :, None, None]
    # Shot noise: variance gain * flux; the gain (flux per photon) does not depend
    # on the pixel size.
    gain = inst.gain
    n = p["flux"].shape[0]
    starts = range(0, n, _CHUNK)
    seeds = noise_seed.spawn(len(starts))

    def work(job):
        lo, seed = job
        hi = min(lo + _CHUNK, n)
        img = _convolve(_render(p, lo, hi, size), length, otf)
        np.maximum(img, 0.0, out=img)
        if out_clean is not None:
            out_clean[lo:hi] = img
        if out_noisy is not None:
            noise = np.random.default_rng(seed).standard_normal(
                img.shape, dtype=np.float32
            )
            if gain is None:
                noise *= sigma
            else:
                noise *= np.sqrt(sigma**2 + np.float32(gain) * img)
            np.add(img, noise, out=out_noisy[lo:hi])

    map_on_threads(work, zip(starts, seeds, strict=True), _MAX_THREADS)
