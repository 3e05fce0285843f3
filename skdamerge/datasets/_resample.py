"""Stamps resampled from tiles of another pixel scale, with ``reproject``.

:func:`~skdamerge.datasets.cutouts_from_catalog` with ``resample=True`` cuts the
stamps of a tile whose pixel scale differs from the expected one through
:func:`resampled_cut`: the tile's pixels around the object are interpolated
bilinearly (:func:`reproject.reproject_interp`) onto a stamp of the expected size
and scale, in the tile's projection and orientation, centred on the object.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_resample", "resampled_cut"]


def _stamp_wcs(wcs, size: int, scale_factor: float, ra: float, dec: float):
    """Return the tile's WCS centred on (ra, dec), pixels ``scale_factor`` larger.

    The projection and orientation are the tile's; distortions are dropped.
    """
    stamp = wcs.deepcopy()
    stamp.sip = None
    if stamp.wcs.has_cd():
        stamp.wcs.cd = stamp.wcs.cd * scale_factor
    else:
        stamp.wcs.cdelt = stamp.wcs.cdelt * scale_factor
    stamp.wcs.crval = [ra, dec]
    stamp.wcs.crpix = [(size + 1) / 2.0, (size + 1) / 2.0]
    stamp.wcs.set()
    return stamp


def resampled_cut(tile, size, native, pixel_scale, x, y, ra, dec) -> np.ndarray:
    """Cut a stamp of ``size`` pixels at ``pixel_scale`` from a tile of another scale.

    The tile's pixels around the object (a stamp of ``native`` tile pixels and a
    margin) are interpolated bilinearly onto the stamp's grid with
    :func:`reproject.reproject_interp`: pixel values (surface brightness) are
    interpolated, not summed.

    Parameters
    ----------
    tile : _Tile
        The open tile (its ``scale`` is its pixel scale in arcsec/pixel).
    size : int
        Side of the stamp in pixels at ``pixel_scale``.
    native : int
        Side of the same stamp in the tile's pixels.
    pixel_scale : float
        Pixel scale of the stamp in arcsec/pixel.
    x, y : float
        Position of the object in the tile's pixels (0-based).
    ra, dec : float
        Position of the object in degrees: the stamp's centre.

    Returns
    -------
    ndarray of shape (n_bands, size, size), float32
        The stamp, NaN where no tile pixel lies.
    """
    from astropy.nddata import Cutout2D
    from reproject import reproject_interp  # checked by check_resample

    target = _stamp_wcs(tile.wcs, size, pixel_scale / tile.scale, ra, dec)
    planes = []
    for hdu in tile.hdus:
        region = Cutout2D(
            hdu.data,
            (x, y),
            (native + 4, native + 4),
            wcs=tile.wcs,
            mode="partial",
            fill_value=np.nan,
            copy=True,
        )
        plane, _ = reproject_interp(
            (region.data.astype(np.float64), region.wcs),
            target,
            shape_out=(size, size),
            order="bilinear",
        )
        planes.append(plane)
    return np.stack(planes).astype(np.float32)


_NEEDS_REPROJECT = (
    "resample=True needs the package reproject: pip install reproject (or pip "
    "install 'skdamerge[io]')."
)


def check_resample(pixel_scale: float | None) -> None:
    """Check that resampling can run: a target pixel scale and reproject.

    Parameters
    ----------
    pixel_scale : float or None
        The pixel scale to resample to, in arcsec/pixel.

    Raises
    ------
    ValueError
        If ``pixel_scale`` is None.
    ImportError
        If the package reproject is not installed.
    """
    if pixel_scale is None:
        raise ValueError(
            "resample=True needs pixel_scale, the pixel scale (arcsec/pixel) of "
            "the training images, to resample the tiles to."
        )
    try:
        import reproject  # noqa: F401
    except ImportError as exc:
        raise ImportError(_NEEDS_REPROJECT) from exc
