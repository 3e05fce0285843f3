"""Rendering of the simulated galaxies on pixel grids, before the PSF.

Light profiles vectorised over batches of objects: Sérsic bulges and disks with
an analytic core, point sources (clumps), tidal tails, shells and bridges,
summed per band by :func:`_render`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammainc, gammaln

from ._sim_instruments import _REF_SIZE
from ._sim_population import _N_CLUMPS, _N_SHELLS, _N_TAILS

__all__: list[str] = []

# Radius (output pixels) of the Sérsic core replaced by an analytic point source.
_CORE = 1.5


def _b_n(n):
    """Sérsic b_n such that r_e encloses half the light (Ciotti & Bertin 1999)."""
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2)


def _sersic(grid, scale, x0, y0, flux, re, n, q, pa, offset=None, lop=None):
    """Render Sérsic profiles, one per object, in flux per output pixel.

    Parameters are arrays of shape (B,) in reference-frame pixels; ``flux`` is the
    total flux; ``offset`` an optional ``(dx, dy)`` shift of the profile centre and
    ``lop`` an optional ``(amplitude, angle)`` m = 1 lopsidedness. Point-sampling a
    cuspy profile loses flux, so within one elliptical radius ``rho0`` (1.5 output
    pixels) the profile is held at its value at ``rho0`` and the missing light of
    that core, known analytically, is added as a point source at the centre; the
    PSF is broader than the core, so this preserves the image and the total flux.
    Returns an array of shape (B, H, W).
    """
    yy, xx = grid
    f32 = np.float32
    if offset is not None:
        x0, y0 = x0 + offset[0], y0 + offset[1]
    ddx = xx[None] - x0.astype(f32)[:, None, None]
    ddy = yy[None] - y0.astype(f32)[:, None, None]
    c = np.cos(pa).astype(f32)[:, None, None]
    s = np.sin(pa).astype(f32)[:, None, None]
    u = ddx * c + ddy * s
    v = (ddy * c - ddx * s) / q.astype(f32)[:, None, None]
    rho0 = _CORE / scale
    r2 = np.maximum(u * u + v * v, f32(rho0**2))
    bn = _b_n(n)
    scaled = r2 / (re.astype(f32) ** 2)[:, None, None]
    expo = (0.5 / n).astype(f32)[:, None, None]
    prof = np.exp(-bn.astype(f32)[:, None, None] * scaled**expo)
    # Analytic total flux of the profile: 2 pi q re^2 n Gamma(2n) e^bn / bn^2n,
    # per reference pixel^2; an output pixel covers 1 / scale^2 of those.
    log_norm = np.log(2 * np.pi * q * re**2 * n) + gammaln(2 * n) - 2 * n * np.log(bn)
    density = np.exp(-log_norm)
    prof *= (flux * density / scale**2).astype(f32)[:, None, None]
    if lop is not None:
        # m = 1 lopsidedness that grows from the centre outwards
        amp, phi = lop
        cosphi = (
            ddx * np.cos(phi).astype(f32)[:, None, None]
            + ddy * np.sin(phi).astype(f32)[:, None, None]
        ) / np.sqrt(r2 + (re.astype(f32) ** 2)[:, None, None])
        prof *= 1.0 + amp.astype(f32)[:, None, None] * cosphi
    core = gammainc(2 * n, bn * (rho0 / re) ** (1 / n))
    held = density * np.exp(-bn * (rho0 / re) ** (1 / n)) * np.pi * q * rho0**2
    _add_points(
        prof,
        (x0 + 0.5) * scale - 0.5,
        (y0 + 0.5) * scale - 0.5,
        flux * np.maximum(core - held, 0.0),
    )
    return prof


def _add_points(img, px, py, flux):
    """Add one point source per image of a (B, H, W) stack, bilinearly, in place.

    ``px`` and ``py`` are output-pixel coordinates; sources off the grid are lost.
    """
    size = img.shape[-1]
    ix = np.floor(px).astype(np.int64)
    iy = np.floor(py).astype(np.int64)
    fx, fy = px - ix, py - iy
    obj = np.arange(img.shape[0])
    for ox, oy, wgt in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        jx, jy = ix + ox, iy + oy
        ok = (jx >= 0) & (jx < size) & (jy >= 0) & (jy < size)
        np.add.at(img, (obj[ok], jy[ok], jx[ok]), (flux * wgt)[ok].astype(img.dtype))


def _polar(grid, cx, cy):
    """Distance and angle of every pixel from per-object centres, (B, H, W)."""
    yy, xx = grid
    dx = xx - cx.astype(np.float32)[:, None, None]
    dy = yy - cy.astype(np.float32)[:, None, None]
    return np.sqrt(dx * dx + dy * dy), np.arctan2(dy, dx)


def _unit(prof):
    """Scale each (H, W) profile of a (B, H, W) stack to unit sum."""
    total = prof.sum(axis=(1, 2))
    return prof / np.where(total > 0, total, 1.0)[:, None, None]


def _tail(rho, theta, th0, sgn, r0, k, width, span):
    """Logarithmic-spiral tidal tails winding out from the centre of ``rho``."""

    def b(a):
        return a.astype(np.float32)[:, None, None]

    dth = np.mod(b(sgn) * (theta - b(th0)), np.float32(2 * np.pi))
    ridge = b(r0) * np.exp(b(k) * dth)
    w = b(width) * (1.0 + 0.5 * dth)
    along = np.exp(-dth / b(span)) * (1.0 - np.exp(dth * np.float32(-4.0)))
    along /= 1.0 + np.exp((dth - b(span)) * np.float32(5.0))
    return np.exp(-0.5 * ((rho - ridge) / w) ** 2) * along


def _shell(rho, theta, thc, radius, width, half):
    """Shells: arcs centred on ``thc`` with a sharp outer edge at ``radius``."""

    def b(a):
        return a.astype(np.float32)[:, None, None]

    dth = np.mod(theta - b(thc) + np.float32(np.pi), np.float32(2 * np.pi)) - np.pi
    d = rho - b(radius)
    w = np.where(d < 0, 2.0 * b(width), 0.4 * b(width))
    return np.exp(-0.5 * (d / w) ** 2 - 0.5 * (dth / b(half)) ** 4)


def _bridge(grid, ax, ay, bx, by, width):
    """Tidal bridges along the segment between two galaxies, (B, H, W)."""
    yy, xx = grid

    def b(a):
        return a.astype(np.float32)[:, None, None]

    ax, ay, bx, by = b(ax), b(ay), b(bx), b(by)
    ex, ey = bx - ax, by - ay
    t = ((xx - ax) * ex + (yy - ay) * ey) / (ex * ex + ey * ey)
    tc = np.clip(t, 0.0, 1.0)
    d2 = (xx - ax - tc * ex) ** 2 + (yy - ay - tc * ey) ** 2
    return np.exp(-0.5 * d2 / b(width) ** 2 - 0.5 * ((t - 0.5) / 0.3) ** 2)


def _debris(grid, p, gi):
    """Tidal tails, shells and bridges of objects ``gi``, in flux per pixel."""
    size = grid[1].shape[1]
    out = np.zeros((gi.size, size, size), dtype=np.float32)
    rho, theta = _polar(grid, p["x"][gi], p["y"][gi])
    for k in range(_N_TAILS):
        flux = p["t_flux"][gi, k]
        comp = p["t_comp"][gi, k]
        for from_comp in (False, True):
            sub = np.flatnonzero((flux > 0) & (comp == from_comp))
            if not sub.size:
                continue
            g = gi[sub]
            if from_comp:
                r, th = _polar(grid, p["s_x"][g], p["s_y"][g])
            else:
                r, th = rho[sub], theta[sub]
            prof = _tail(
                r,
                th,
                p["t_th0"][g, k],
                p["t_sgn"][g, k],
                p["t_r0"][g, k],
                p["t_k"][g, k],
                p["t_w"][g, k],
                p["t_span"][g, k],
            )
            out[sub] += _unit(prof) * flux[sub].astype(np.float32)[:, None, None]
    for k in range(_N_SHELLS):
        flux = p["h_flux"][gi, k]
        sub = np.flatnonzero(flux > 0)
        if not sub.size:
            continue
        g = gi[sub]
        prof = _shell(
            rho[sub],
            theta[sub],
            p["h_thc"][g, k],
            p["h_r"][g, k],
            p["h_w"][g, k],
            p["h_half"][g, k],
        )
        out[sub] += _unit(prof) * flux[sub].astype(np.float32)[:, None, None]
    sub = np.flatnonzero(p["br_flux"][gi] > 0)
    if sub.size:
        g = gi[sub]
        prof = _bridge(
            grid, p["x"][g], p["y"][g], p["s_x"][g], p["s_y"][g], p["br_w"][g]
        )
        out[sub] += _unit(prof) * p["br_flux"][g].astype(np.float32)[:, None, None]
    return out


def _render(p, lo, hi, size):
    """Render objects ``lo:hi`` before the PSF, shape (B, 3, size, size).

    Geometry in ``p`` is on the 75-pixel reference frame; it is rescaled here.
    """
    scale = size / _REF_SIZE
    coords = (np.arange(size, dtype=np.float32) + 0.5) / np.float32(scale) - 0.5
    grid = (coords[:, None], coords[None, :])  # (yy, xx) in reference pixels
    sl = slice(lo, hi)
    b = hi - lo
    img = np.zeros((b, 3, size, size), dtype=np.float32)

    def add(prof, flux_col, idx=None):
        target = img if idx is None else img[idx]
        target += prof[:, None] * flux_col.astype(np.float32)[:, :, None, None]
        if idx is not None:
            img[idx] = target

    flux, bt = p["flux"][sl], p["bt"][sl]
    x, y = p["x"][sl], p["y"][sl]
    clump_flux = p["c_flux"][sl].sum(axis=1)
    bulge = _sersic(
        grid,
        scale,
        x,
        y,
        bt * flux,
        p["b_re"][sl],
        p["b_n"][sl],
        p["b_q"][sl],
        p["b_pa"][sl],
    )
    add(bulge, p["col_b"][sl])
    del bulge
    disk = _sersic(
        grid,
        scale,
        x,
        y,
        (1.0 - bt) * flux - clump_flux,
        p["d_re"][sl],
        p["d_n"][sl],
        p["d_q"][sl],
        p["d_pa"][sl],
        offset=(p["d_dx"][sl], p["d_dy"][sl]),
        lop=(p["lop_amp"][sl], p["lop_phi"][sl]),
    )
    add(disk, p["col_d"][sl])
    del disk

    idx = np.flatnonzero(p["s_has"][sl])
    if idx.size:
        gi = idx + lo
        comp = _sersic(
            grid,
            scale,
            p["s_x"][gi],
            p["s_y"][gi],
            p["s_flux"][gi],
            p["s_re"][gi],
            p["s_n"][gi],
            p["s_q"][gi],
            p["s_pa"][gi],
        )
        add(comp, p["col_s"][gi], idx)

    if clump_flux.any():
        cx = (p["c_x"][sl] + 0.5) * scale - 0.5
        cy = (p["c_y"][sl] + 0.5) * scale - 0.5
        knots = np.zeros((b, size, size), dtype=np.float32)
        for k in range(_N_CLUMPS):
            _add_points(knots, cx[:, k], cy[:, k], p["c_flux"][sl, k])
        add(knots, p["col_c"][sl])

    has_debris = (p["t_flux"][sl].sum(axis=1) + p["h_flux"][sl].sum(axis=1)) > 0
    idx = np.flatnonzero(has_debris | (p["br_flux"][sl] > 0))
    if idx.size:
        gi = idx + lo
        add(_debris(grid, p, gi), p["col_t"][gi], idx)
    return img
