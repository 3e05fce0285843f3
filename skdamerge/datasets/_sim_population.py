"""Galaxy populations of the simulator: labels, morphologies and their parameters.

:func:`_draw_population` draws, for every object, the parameters of the primary
galaxy (Sérsic bulge and disk, clumps), of a companion, second nucleus or
projected neighbour, and of the tidal debris, for one of three populations
(distant galaxies at z = 2, nearby simulated or nearby observed galaxies);
:func:`_band_order` puts their colours in the channel order of an instrument.
"""

from __future__ import annotations

import numpy as np

from ._sim_instruments import _HST_ZP, _REF_SIZE, _SDSS_ZP

__all__: list[str] = []

# Morphology codes in the per-object metadata.
_MORPHOLOGIES = ("isolated", "projected_neighbour", "interacting_pair", "post_merger")
_ISOLATED, _NEIGHBOUR, _PAIR, _POST = range(4)
_N_CLUMPS = 8
_N_TAILS = 2
_N_SHELLS = 3


# Bands in which _draw_population builds the colour vectors of each population: the
# first two are flux ratios to the last, the reference band (``flux`` is its total).
_COLOUR_BANDS = {
    "z2": ("F814W", "F356W", "F160W"),
    "z0_sim": ("g", "r", "i"),
    "z0_obs": ("g", "r", "i"),
}


def _loguniform(rng, low, high, size):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def _colour(rng, n, mean, scatter):
    """Band flux multipliers relative to the reference band (the last channel).

    ``mean`` holds log10 flux ratios of the first two bands to the reference band.
    """
    log_ratio = np.asarray(mean)[None, :] + scatter * rng.standard_normal((n, 2))
    return np.concatenate([10.0**log_ratio, np.ones((n, 1))], axis=1)


def _split_types(rng, labels, p_neighbour, p_pair):
    """Morphology code of each object from its label."""
    u = rng.random(labels.shape[0])
    return np.where(
        labels == 1,
        np.where(u < p_pair, _PAIR, _POST),
        np.where(u < p_neighbour, _NEIGHBOUR, _ISOLATED),
    )


def _draw_population(rng, labels, kind):
    """Draw the parameters of one population of objects.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    labels : ndarray of shape (n,)
        1 for mergers, 0 for non-mergers.
    kind : {"z2", "z0_sim", "z0_obs"}
        The population: distant galaxies at z = 2 seen by HST, nearby simulated
        galaxies, or nearby observed galaxies.

    Returns
    -------
    p : dict of ndarray
        Per-object parameters. Lengths are reference-frame pixels; fluxes are
        totals in the reference band; ``col_*`` are per-band flux multipliers in
        the order ``_COLOUR_BANDS[kind]`` (reference band last), put in the
        channel order of the instrument by :func:`_band_order`.
    """
    n = labels.shape[0]
    merger = labels == 1
    if kind == "z2":
        morph = _split_types(rng, labels, p_neighbour=0.45, p_pair=0.65)
        mag = rng.uniform(20.9, 23.9, n)
        zp = _HST_ZP
        d_re = np.clip(4.5 * 10 ** (0.15 * rng.standard_normal(n)), 2.0, 10.0)
        p_clumpy = 0.5
        # log10 flux ratios (F814W, F356W) / F160W: rest-frame UV, near-IR, optical
        col_bulge, col_disk, col_clump = (-0.55, 0.30), (-0.20, 0.10), (0.15, -0.20)
        double_nucleus = 0.5
        pair_sep, neigh_sep = (4.0, 16.0), (15.0, 34.0)
    elif kind == "z0_sim":
        # Only post-mergers at the last snapshot: a variety of remnant appearances.
        morph = np.where(
            merger, _POST, _split_types(rng, labels, p_neighbour=0.3, p_pair=0.0)
        )
        mag = rng.uniform(14.5, 17.0, n)
        zp = _SDSS_ZP
        d_re = np.clip(9.0 * 10 ** (0.12 * rng.standard_normal(n)), 5.0, 18.0)
        p_clumpy = 0.3
        # log10 flux ratios (g, r) / i
        col_bulge, col_disk, col_clump = (-0.50, -0.16), (-0.25, -0.08), (-0.05, 0.0)
        double_nucleus = 0.3
        pair_sep, neigh_sep = (3.0, 8.0), (22.0, 36.0)
    elif kind == "z0_obs":
        # Galaxy Zoo post-mergers: mostly two bright cores in a common envelope.
        morph = np.where(
            merger, _POST, _split_types(rng, labels, p_neighbour=0.3, p_pair=0.0)
        )
        mag = rng.uniform(14.0, 16.5, n)
        zp = _SDSS_ZP
        d_re = np.clip(8.0 * 10 ** (0.14 * rng.standard_normal(n)), 4.0, 18.0)
        p_clumpy = 0.2
        col_bulge, col_disk, col_clump = (-0.62, -0.20), (-0.36, -0.12), (-0.10, 0.0)
        double_nucleus = 0.95
        pair_sep, neigh_sep = (7.0, 15.0), (22.0, 36.0)
    else:  # pragma: no cover - guarded by the caller
        raise ValueError(kind)

    p: dict[str, np.ndarray] = {"morph": morph}
    post = morph == _POST
    pair = morph == _PAIR
    neigh = morph == _NEIGHBOUR

    # Primary galaxy, near the frame centre.
    p["x"] = (_REF_SIZE - 1) / 2 + rng.normal(0.0, 0.8, n)
    p["y"] = (_REF_SIZE - 1) / 2 + rng.normal(0.0, 0.8, n)
    p["flux"] = 10.0 ** (-0.4 * (mag - zp))
    p["magnitude"] = mag
    bt = rng.beta(2.0, 3.5, n)
    # Remnants are bulgier; observed post-mergers are dominated by their two cores.
    bt = np.where(post, np.clip(bt + (0.35 if kind == "z0_obs" else 0.2), 0, 0.9), bt)
    p["bt"] = bt
    pa = rng.uniform(0.0, np.pi, n)
    p["d_re"] = d_re
    p["d_n"] = np.where(post, rng.uniform(1.0, 2.5, n), 1.0)
    p["d_q"] = np.where(post, rng.uniform(0.5, 1.0, n), rng.uniform(0.25, 1.0, n))
    p["d_pa"] = pa
    p["b_re"] = np.maximum(d_re * rng.uniform(0.15, 0.45, n), 0.8)
    p["b_n"] = rng.uniform(1.5, 4.5, n)
    p["b_q"] = rng.uniform(0.6, 1.0, n)
    p["b_pa"] = pa + rng.normal(0.0, 0.3, n)
    # Disturbed light: envelope offset from the nucleus and lopsidedness (m = 1).
    off = np.where(merger, rng.uniform(0.0, 0.25, n), rng.uniform(0.0, 0.06, n)) * d_re
    off_phi = rng.uniform(0.0, 2 * np.pi, n)
    p["d_dx"], p["d_dy"] = off * np.cos(off_phi), off * np.sin(off_phi)
    p["lop_amp"] = np.where(
        post,
        rng.uniform(0.0, 0.45, n),
        np.where(pair, rng.uniform(0.0, 0.3, n), rng.uniform(0.0, 0.15, n)),
    )
    p["lop_phi"] = rng.uniform(0.0, 2 * np.pi, n)
    p["col_b"] = _colour(rng, n, col_bulge, 0.06)
    p["col_d"] = _colour(rng, n, col_disk, 0.08)

    # Star-forming clumps, scattered in the disk plane (unresolved knots).
    clumpy = rng.random(n) < p_clumpy
    n_clumps = np.where(clumpy, rng.integers(2, _N_CLUMPS + 1, n), 0)
    active = np.arange(_N_CLUMPS)[None, :] < n_clumps[:, None]
    h = d_re[:, None] / 1.678
    rad = rng.gamma(2.0, 1.0, (n, _N_CLUMPS)) * h
    phi = rng.uniform(0.0, 2 * np.pi, (n, _N_CLUMPS))
    u, v = rad * np.cos(phi), rad * np.sin(phi) * p["d_q"][:, None]
    c, s = np.cos(pa)[:, None], np.sin(pa)[:, None]
    p["c_x"] = p["x"][:, None] + u * c - v * s
    p["c_y"] = p["y"][:, None] + u * s + v * c
    clump_frac = np.where(clumpy, rng.uniform(0.05, 0.3, n), 0.0)
    w = rng.random((n, _N_CLUMPS)) * active
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    p["c_flux"] = w * (clump_frac * (1 - bt) * p["flux"])[:, None]
    p["col_c"] = _colour(rng, n, col_clump, 0.08)
    p["n_clumps"] = n_clumps

    # Second galaxy: interacting companion, second nucleus, or projected neighbour.
    nucleus = post & (rng.random(n) < double_nucleus)
    has2 = pair | neigh | nucleus
    core_ratio = 2.0 if kind == "z0_obs" else 4.0
    ratio = np.where(
        pair,
        _loguniform(rng, 1.0, 10.0, n),
        np.where(
            nucleus,
            _loguniform(rng, 1.0, core_ratio, n),
            _loguniform(rng, 1.0, 20.0, n),
        ),
    )
    sep = np.where(
        pair,
        rng.uniform(*pair_sep, n),
        np.where(nucleus, rng.uniform(*pair_sep, n), rng.uniform(*neigh_sep, n)),
    )
    if kind == "z2":
        sep = np.where(nucleus, rng.uniform(2.5, 6.0, n), sep)
    sep_phi = rng.uniform(0.0, 2 * np.pi, n)
    p["s_has"] = has2
    p["s_x"] = p["x"] + sep * np.cos(sep_phi)
    p["s_y"] = p["y"] + sep * np.sin(sep_phi)
    if kind == "z0_obs":
        # Two cores straddle the centre of a common envelope.
        mid_x = 0.5 * sep * np.cos(sep_phi) * nucleus
        mid_y = 0.5 * sep * np.sin(sep_phi) * nucleus
        for key in ("x", "s_x"):
            p[key] = p[key] - mid_x
        for key in ("y", "s_y"):
            p[key] = p[key] - mid_y
        p["c_x"] = p["c_x"] - mid_x[:, None]
        p["c_y"] = p["c_y"] - mid_y[:, None]
        p["d_dx"] = p["d_dx"] + np.where(nucleus, mid_x, 0.0)
        p["d_dy"] = p["d_dy"] + np.where(nucleus, mid_y, 0.0)
    # A second nucleus carries the bulge light of the galaxy it came from.
    s_flux = np.where(nucleus, bt * p["flux"], p["flux"]) / ratio
    p["s_flux"] = np.where(has2, s_flux, 0.0)
    p["s_re"] = np.where(
        nucleus,
        p["b_re"] * rng.uniform(0.6, 1.0, n),
        d_re * ratio**-0.3 * 10 ** (0.1 * rng.standard_normal(n)),
    )
    p["s_n"] = np.where(nucleus, rng.uniform(2.0, 4.0, n), rng.uniform(1.0, 3.0, n))
    p["s_q"] = rng.uniform(0.35, 1.0, n)
    p["s_pa"] = rng.uniform(0.0, np.pi, n)
    # Companions share the redshift (colour) of the primary, with extra star formation;
    # projected neighbours lie at another redshift and have unrelated colours.
    mix = (
        0.5 * np.log10(p["col_b"][:, :2]) + 0.5 * np.log10(p["col_d"][:, :2])
    ) + 0.03 * rng.standard_normal((n, 2))
    mix = np.where(
        neigh[:, None],
        rng.uniform(-0.9, 0.5, (n, 2)),
        np.where(pair[:, None], mix + rng.uniform(0.0, 0.12, (n, 1)), mix),
    )
    p["col_s"] = np.concatenate([10.0**mix, np.ones((n, 1))], axis=1)
    p["mass_ratio"] = np.where(has2, ratio, np.nan)
    p["separation"] = np.where(has2, sep, np.nan)

    # Tidal debris: tails (pairs and remnants), shells (remnants), bridges (pairs).
    tidal = np.where(
        merger,
        _loguniform(rng, 0.01, 0.25, n),
        0.0,
    )
    if kind == "z0_obs":
        tidal = np.where(merger, _loguniform(rng, 0.01, 0.12, n), 0.0)
    if kind == "z2":
        # Interaction strength fades with separation and with mass ratio.
        tidal = tidal * np.where(pair, np.clip(1.4 - sep / 20.0, 0.3, 1.0), 1.0)
        tidal = tidal * np.where(pair, ratio**-0.25, 1.0)
    tidal_flux = tidal * p["flux"]
    n_tails = np.where(merger, rng.integers(1, _N_TAILS + 1, n), 0)
    n_shells = np.where(post, rng.integers(0, _N_SHELLS + 1, n), 0)
    share_t = rng.uniform(0.5, 1.0, (n, _N_TAILS)) * (
        np.arange(_N_TAILS)[None, :] < n_tails[:, None]
    )
    share_h = rng.uniform(0.3, 0.8, (n, _N_SHELLS)) * (
        np.arange(_N_SHELLS)[None, :] < n_shells[:, None]
    )
    share_br = np.where(pair, rng.uniform(0.0, 0.6, n), 0.0)
    total = share_t.sum(1) + share_h.sum(1) + share_br
    total = np.where(total > 0, total, 1.0)
    p["t_flux"] = share_t * (tidal_flux / total)[:, None]
    p["h_flux"] = share_h * (tidal_flux / total)[:, None]
    p["br_flux"] = share_br * tidal_flux / total
    p["br_w"] = rng.uniform(1.0, 2.0, n)
    # Tails wind out of the primary, or out of the companion for the second tail.
    p["t_comp"] = (np.arange(_N_TAILS)[None, :] == 1) & pair[:, None]
    p["t_r0"] = d_re[:, None] * rng.uniform(0.6, 1.4, (n, _N_TAILS))
    p["t_k"] = rng.uniform(0.25, 0.6, (n, _N_TAILS))
    first = rng.uniform(0.0, 2 * np.pi, n)
    p["t_th0"] = first[:, None] + np.pi * np.arange(_N_TAILS)[None, :]
    p["t_sgn"] = np.repeat(rng.choice([-1.0, 1.0], n)[:, None], _N_TAILS, axis=1)
    p["t_span"] = rng.uniform(1.5, 3.5, (n, _N_TAILS))
    p["t_w"] = rng.uniform(0.8, 1.6, (n, _N_TAILS)) * (d_re[:, None] / 4.5) ** 0.5
    # Shells: nested arcs on alternating sides with sharp outer edges.
    radii = d_re[:, None] * np.cumsum(rng.uniform(0.9, 1.8, (n, _N_SHELLS)), axis=1)
    p["h_r"] = radii + d_re[:, None] * 0.5
    side = rng.uniform(0.0, 2 * np.pi, n)[:, None]
    p["h_thc"] = (
        side
        + np.pi * np.arange(_N_SHELLS)[None, :]
        + rng.normal(0.0, 0.3, (n, _N_SHELLS))
    )
    p["h_half"] = rng.uniform(0.6, 1.4, (n, _N_SHELLS))
    p["h_w"] = rng.uniform(0.8, 1.6, (n, _N_SHELLS))
    p["col_t"] = np.concatenate(
        [p["col_d"][:, :2] * 10 ** rng.uniform(0.0, 0.1, (n, 1)), np.ones((n, 1))],
        axis=1,
    )
    stellar = p["flux"] + p["s_flux"] * (pair | nucleus)
    p["tidal_fraction"] = tidal_flux / (stellar + tidal_flux)
    return p


def _band_order(p, kind, inst):
    """Put the colour vectors of population ``kind`` in the instrument's channel order.

    The colours are built in the order ``_COLOUR_BANDS[kind]``; the instrument lists
    its bands blue to red, the channel order of the images.
    """
    built = _COLOUR_BANDS[kind]
    if sorted(built) != sorted(inst.bands):  # pragma: no cover - internal invariant
        raise RuntimeError(f"bands {inst.bands} do not match the colours of {kind!r}")
    order = [built.index(band) for band in inst.bands]
    for key in ("col_b", "col_d", "col_c", "col_s", "col_t"):
        p[key] = p[key][:, order]
    return p


def _labels(rng, n, merger_fraction):
    n_merger = int(round(merger_fraction * n))
    y = np.zeros(n, dtype=np.int64)
    y[:n_merger] = 1
    return rng.permutation(y)


def _metadata(p):
    return {
        "morphology": np.asarray(_MORPHOLOGIES, dtype=object)[p["morph"]].astype(str),
        "mass_ratio": p["mass_ratio"].astype(np.float32),
        "separation": p["separation"].astype(np.float32),
        "tidal_fraction": p["tidal_fraction"].astype(np.float32),
        "magnitude": p["magnitude"].astype(np.float32),
        "bulge_fraction": p["bt"].astype(np.float32),
        "n_clumps": p["n_clumps"].astype(np.int64),
    }
