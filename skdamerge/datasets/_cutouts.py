"""Cutouts of catalog objects from FITS image tiles with a celestial WCS.

Flags
-----
Each object gets an integer bit mask; 0 means a complete, finite stamp:

* ``FLAG_EDGE = 1``: the stamp runs off the edge of the tile that holds the
  object (no tile covers it fully); the missing pixels are NaN.
* ``FLAG_OFF_TILES = 2``: the object lies on no tile; its stamp is all NaN.
* ``FLAG_MASKED = 4``: the stamp holds NaN or infinite (blank, masked) pixels.
* ``FLAG_INVALID_COORDS = 8``: its coordinates are missing, unreadable or out of
  range; its stamp is all NaN.
* ``FLAG_UNREADABLE_TILE = 16``: the object may lie on a tile that could not be
  read (corrupt or truncated file); its stamp is all NaN.
* ``FLAG_RESAMPLED = 32``: the stamp was resampled from a tile of another pixel
  scale (``resample=True``). This bit alone does not make a stamp unusable: the
  stamps whose flags are free of :data:`FLAGS_UNUSABLE` are the usable ones.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._param_validation import HasMethods, Interval, validate_params
from ._resample import check_resample, resampled_cut
from ._sky_catalog import find_coordinate_columns, read_catalog, sky_coordinates

__all__ = [
    "FLAG_EDGE",
    "FLAG_INVALID_COORDS",
    "FLAG_MASKED",
    "FLAG_OFF_TILES",
    "FLAG_RESAMPLED",
    "FLAG_UNREADABLE_TILE",
    "FLAGS_UNUSABLE",
    "Cutouts",
    "cutouts_from_catalog",
]

FLAG_EDGE = 1
FLAG_OFF_TILES = 2
FLAG_MASKED = 4
FLAG_INVALID_COORDS = 8
FLAG_UNREADABLE_TILE = 16
FLAG_RESAMPLED = 32
#: The bits that make a stamp unusable (incomplete, not finite, or missing).
FLAGS_UNUSABLE = (
    FLAG_EDGE
    | FLAG_OFF_TILES
    | FLAG_MASKED
    | FLAG_INVALID_COORDS
    | FLAG_UNREADABLE_TILE
)

_PIXEL_SCALE_TOLERANCE = 0.01
_READ_ERRORS = (OSError, ValueError, TypeError, IndexError, KeyError, EOFError)


class Cutouts(NamedTuple):
    """Stamps of catalog objects cut from image tiles.

    Attributes
    ----------
    images : ndarray of shape (n_objects, n_bands, size, size), float32
        One stamp per catalog row, channels in the order of the tile's bands.
        Objects flagged off the tiles, with invalid coordinates or on an
        unreadable tile have all-NaN stamps; edge stamps are NaN where no tile
        pixel lies.
    flags : ndarray of shape (n_objects,), int
        Bit mask per object (``FLAG_*`` constants of this module); 0 = good.
    reasons : list of str
        Readable text per object ("" when the flag is 0).
    """

    images: np.ndarray
    flags: np.ndarray
    reasons: list


class _Tile(NamedTuple):
    wcs: object
    shape: tuple
    hdus: list
    files: list
    # pixel scale (arcsec/pixel) of a tile to resample to the expected one, else None
    scale: float | None = None


def _tile_sets(images) -> list[tuple[Path, ...]]:
    """One tuple of band files per tile, from one tile set or a list of them."""
    if isinstance(images, (str, os.PathLike)):
        return [(Path(images),)]
    images = list(images)
    if not images:
        raise ValueError("`images` is empty; pass one FITS file per band.")
    if all(isinstance(i, (str, os.PathLike)) for i in images):
        return [tuple(Path(i) for i in images)]
    sets = []
    for i, tile in enumerate(images):
        if isinstance(tile, (str, os.PathLike)) or not isinstance(tile, (list, tuple)):
            raise ValueError(
                f"images[{i}] = {tile!r}: pass either one FITS path per band (one "
                "tile) or a list of such tuples (many tiles), not a mix."
            )
        sets.append(tuple(Path(p) for p in tile))
    counts = {len(s) for s in sets}
    if len(counts) > 1:
        raise ValueError(
            f"The tiles have different numbers of band files {sorted(counts)}; "
            "every tile needs one file per band, in the same band order."
        )
    return sets


def _image_hdu(hdul, path: Path):
    for hdu in hdul:
        if getattr(hdu, "is_image", False) and hdu.header.get("NAXIS", 0) == 2:
            return hdu
    raise ValueError(f"FITS file {str(path)!r} holds no 2-D image HDU.")


def _check_pixel_scale(
    wcs, path: Path, pixel_scale: float | None, resample: bool = False
) -> float | None:
    """Return the tile's scale when it is to be resampled; raise on a mismatch."""
    if pixel_scale is None:
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    scales = proj_plane_pixel_scales(wcs) * 3600.0  # degrees to arcsec
    relative = np.abs(scales / pixel_scale - 1.0)
    if np.any(relative > _PIXEL_SCALE_TOLERANCE):
        if resample:
            if abs(scales[0] / scales[1] - 1.0) > _PIXEL_SCALE_TOLERANCE:
                raise ValueError(
                    f"FITS file {str(path)!r} has non-square pixels "
                    f"{np.round(scales, 5)} arcsec; skdamerge resamples square "
                    "pixels only."
                )
            return float(np.mean(scales))
        raise ValueError(
            f"FITS file {str(path)!r} has pixel scales {np.round(scales, 5)} "
            f"arcsec/pixel, not pixel_scale={pixel_scale} (1% tolerance); "
            "resample it (resample=True, which needs the package reproject), "
            "resample the tile first, or pass its own pixel scale."
        )
    return None


def _open_tile(
    files: tuple[Path, ...], pixel_scale: float | None, stack, resample: bool = False
):
    """Open the band files of a tile memory-mapped and check them.

    A file that cannot be opened raises OSError (an unreadable tile); a tile
    that does not fit (no celestial WCS, bands that differ, a wrong pixel scale)
    raises ValueError.
    """
    from astropy.io import fits
    from astropy.wcs import WCS, WCSCOMPARE_ANCILLARY, FITSFixedWarning

    reference = None
    hdus = []
    for path in files:
        if not path.is_file():
            raise OSError(f"FITS file {str(path)!r} does not exist.")
        try:
            with warnings.catch_warnings():
                # A truncated file is an unreadable tile, not a warning.
                warnings.filterwarnings("error", message=".*truncated")
                hdul = stack.enter_context(fits.open(path, memmap=True))
                hdu = _image_hdu(hdul, path)
                header = hdu.header
                data = hdu.data  # memory-mapped: maps the file, reads nothing
                if data is None or data.shape != (
                    header["NAXIS2"],
                    header["NAXIS1"],
                ):
                    raise OSError("the data unit is missing or truncated")
        except (*_READ_ERRORS, Warning) as exc:
            raise OSError(f"could not read FITS file {str(path)!r}: {exc}") from exc
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header)
        if not wcs.has_celestial:
            raise ValueError(
                f"FITS file {str(path)!r} has no celestial WCS (CTYPE "
                "RA---TAN/DEC--TAN or similar); sky positions cannot be found."
            )
        wcs = wcs.celestial
        shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
        scale = _check_pixel_scale(wcs, path, pixel_scale, resample)
        if reference is None:
            reference = (wcs, shape, path)
        else:
            ref_wcs, ref_shape, ref_path = reference
            if shape != ref_shape or not ref_wcs.wcs.compare(
                wcs.wcs, cmp=WCSCOMPARE_ANCILLARY, tolerance=1e-6
            ):
                raise ValueError(
                    f"The bands of a tile must share one pixel grid: "
                    f"{str(path)!r} (shape {shape}) differs from {str(ref_path)!r} "
                    f"(shape {ref_shape}) in shape or WCS; skdamerge does not "
                    "resample (reproject the bands onto one grid first)."
                )
        hdus.append(hdu)
    return _Tile(reference[0], reference[1], hdus, list(files), scale)


def native_size(tile, size: int, pixel_scale: float | None) -> int:
    """Side in the tile's pixels of a stamp of ``size`` pixels at ``pixel_scale``."""
    if tile.scale is None:
        return size
    return int(np.ceil(size * pixel_scale / tile.scale))


def _footprint(files: tuple[Path, ...]):
    """Return the WCS and shape of a tile from its first header (None: unreadable)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(files[0], memmap=True) as hdul:
                header = _image_hdu(hdul, files[0]).header
                wcs = WCS(header).celestial
                return wcs, (int(header["NAXIS2"]), int(header["NAXIS1"]))
    except Exception:  # noqa: BLE001 - the footprint is unknown, whatever the cause
        return None


def _pixels(wcs, ra: np.ndarray, dec: np.ndarray):
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import skycoord_to_pixel

    coords = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = skycoord_to_pixel(coords, wcs, origin=0, mode="all")
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def _coverage(shape, size: int, x: float, y: float) -> str:
    """'full', 'partial' or 'none': how much of the stamp lies on the tile."""
    from astropy.nddata.utils import NoOverlapError, overlap_slices

    if not (np.isfinite(x) and np.isfinite(y)):
        return "none"
    try:
        _, small = overlap_slices(shape, (size, size), (y, x), mode="partial")
    except NoOverlapError:
        return "none"
    covered = all(s.stop - s.start == size for s in small)
    return "full" if covered else "partial"


def _cut(tile: _Tile, size: int, x: float, y: float) -> np.ndarray:
    from astropy.nddata import Cutout2D

    planes = [
        Cutout2D(
            hdu.data,
            (x, y),
            (size, size),
            mode="partial",
            fill_value=np.nan,
            copy=True,
        ).data
        for hdu in tile.hdus
    ]
    return np.stack(planes).astype(np.float32, copy=False)


def _process_tile(tile, size, ra, dec, todo, stamps, state, index, pixel_scale=None):
    """Cut the objects ``todo`` that lie on ``tile``; update ``state`` in place."""
    native = native_size(tile, size, pixel_scale)
    x, y = _pixels(tile.wcs, ra[todo], dec[todo])
    for obj, xi, yi in zip(todo, x, y, strict=True):
        coverage = _coverage(tile.shape, native, xi, yi)
        if coverage == "none" or (coverage == "partial" and obj in state["edge"]):
            continue
        if tile.scale is None:
            stamps[obj] = _cut(tile, size, xi, yi)
            state["resampled"].pop(obj, None)
        else:
            stamps[obj] = resampled_cut(
                tile, size, native, pixel_scale, xi, yi, ra[obj], dec[obj]
            )
            state["resampled"][obj] = tile.scale
        if coverage == "full":
            state["done"][obj] = index
            state["edge"].pop(obj, None)
        else:
            state["edge"][obj] = index


def _on_footprint(footprint, size, ra, dec, objects) -> list[int]:
    if footprint is None:
        return list(objects)
    wcs, shape = footprint
    x, y = _pixels(wcs, ra[objects], dec[objects])
    return [
        o
        for o, xi, yi in zip(objects, x, y, strict=True)
        if _coverage(shape, size, xi, yi) != "none"
    ]


#: Constraints of the arguments that say where the objects and their tiles are
#: (shared with :func:`skdamerge.catalog.classify_catalog`).
CATALOG_CONSTRAINTS = {
    "catalog": [str, os.PathLike, HasMethods(["keys"])],
    "images": [str, os.PathLike, list, tuple],
    "bands": ["array-like", None],
    "ra_column": [str, None],
    "dec_column": [str, None],
    "pixel_scale": [Interval(Real, 0, None, closed="neither"), None],
    "resample": ["boolean"],
}


@validate_params(
    {**CATALOG_CONSTRAINTS, "size": [Interval(Integral, 1, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def cutouts_from_catalog(
    catalog,
    images: str | os.PathLike | Sequence,
    *,
    size: int = 75,
    bands: Sequence[str] | None = None,
    ra_column: str | None = None,
    dec_column: str | None = None,
    pixel_scale: float | None = None,
    resample: bool = False,
) -> Cutouts:
    """Cut a stamp of every catalog object from FITS image tiles.

    Each object is cut, in each band, at its sky position with
    :class:`astropy.wcs.WCS` and :class:`astropy.nddata.Cutout2D` [1]_, and the bands
    are stacked channels first. The tiles are opened memory-mapped one at a
    time, so a tile larger than memory works. With several tiles, each object is
    cut from the first tile that covers its stamp fully; an object that only a
    tile's edge covers is cut from the first such tile, NaN outside it, and
    flagged. Nothing is resampled.

    Parameters
    ----------
    catalog : astropy.table.Table, pandas.DataFrame or path
        The objects, one per row. A path is read by its extension: FITS table
        (``.fits``), CSV (``.csv``) or Parquet (``.parquet``, needs pyarrow).
    images : list of paths, or list of tuples of paths
        One FITS file per band of one tile, in the band order of the model
        (blue to red), or a list of such tuples, one per tile. Every band file
        of a tile must have the same shape and celestial WCS.
    size : int, default=75
        Side of the square stamps in pixels.
    bands : sequence of str, optional
        Names of the bands, used in messages; their number must equal the
        number of files per tile.
    ra_column, dec_column : str, optional
        Columns of the coordinates. By default found, ignoring case, among
        common names (``ra``, ``ra_deg``, ``RAJ2000``, ... and ``dec``,
        ``dec_deg``, ``DEJ2000``, ...). Numbers are degrees (ICRS); text is
        sexagesimal (RA in hours) or decimal degrees.
    pixel_scale : float, optional
        Expected pixel scale in arcsec/pixel (e.g. the training images'). A
        tile whose scale differs by more than 1% is an error, unless
        ``resample``.
    resample : bool, default=False
        Resample the stamps of tiles whose pixel scale differs from
        ``pixel_scale`` (needs it, and the package ``reproject``): the tile's
        pixels around each object are interpolated bilinearly onto a stamp of
        ``size`` pixels at ``pixel_scale``, in the tile's orientation, and the
        object gets ``FLAG_RESAMPLED``. Pixel values are interpolated, not
        summed: for images in flux per pixel, multiply by the ratio of pixel
        areas if the model needs it.

    Returns
    -------
    Cutouts
        ``images`` ``(n_objects, n_bands, size, size)`` float32, ``flags`` (bit
        mask per object: ``FLAG_EDGE = 1``, ``FLAG_OFF_TILES = 2``,
        ``FLAG_MASKED = 4``, ``FLAG_INVALID_COORDS = 8``,
        ``FLAG_UNREADABLE_TILE = 16``, and ``FLAG_RESAMPLED = 32``, which alone
        leaves the stamp usable) and ``reasons`` (text per object).

    Raises
    ------
    ValueError
        If the coordinate columns are not found (the message lists the
        catalog's columns), a tile has no celestial WCS, the bands of a tile
        differ in shape or WCS, the pixel scale differs from ``pixel_scale``,
        the tiles have different numbers of bands, ``bands`` does not match, or
        ``resample`` is given without ``pixel_scale``.
    ImportError
        If a Parquet catalog is given and pyarrow is not installed, or
        ``resample`` is asked for and reproject is not installed.

    Notes
    -----
    A corrupt or truncated tile does not stop the run: the objects on its
    footprint (every object not found elsewhere, when even its header cannot be
    read) get ``FLAG_UNREADABLE_TILE`` and the reason, and the other tiles are
    processed.

    References
    ----------
    .. [1] Astropy Collaboration, Price-Whelan, A. M., Lim, P. L., et al. (2022).
       "The Astropy Project: Sustaining and growing a community-oriented
       open-source project and the latest major release (v5.0) of the core
       package." ApJ 935, 167.

    Examples
    --------
    >>> from skdamerge.datasets import cutouts_from_catalog
    >>> cut = cutouts_from_catalog(
    ...     "objects.csv", [("t1_g.fits", "t1_r.fits"), ("t2_g.fits", "t2_r.fits")],
    ...     size=64,
    ... )  # doctest: +SKIP
    >>> good = cut.images[cut.flags == 0]  # doctest: +SKIP
    """
    from contextlib import ExitStack

    if resample:
        check_resample(pixel_scale)
    table = read_catalog(catalog)
    ra_name, dec_name = find_coordinate_columns(table, ra_column, dec_column)
    tiles = _tile_sets(images)
    n_bands = len(tiles[0])
    if bands is not None and len(bands) != n_bands:
        raise ValueError(
            f"bands={list(bands)!r} names {len(bands)} band(s), but each tile has "
            f"{n_bands} file(s); pass one FITS file per band."
        )
    ra, dec, coord_reasons = sky_coordinates(table, ra_name, dec_name)
    n = len(table)
    stamps = np.full((n, n_bands, size, size), np.nan, dtype=np.float32)
    flags = np.zeros(n, dtype=np.int64)
    reasons = [""] * n
    for i, reason in enumerate(coord_reasons):
        if reason:
            flags[i] |= FLAG_INVALID_COORDS
            reasons[i] = reason
    state = {"done": {}, "edge": {}, "resampled": {}}
    unreadable = []
    for index, files in enumerate(tiles):
        todo = np.array(
            [i for i in range(n) if not flags[i] and i not in state["done"]],
            dtype=int,
        )
        if not len(todo):
            break
        with ExitStack() as stack:
            try:
                tile = _open_tile(files, pixel_scale, stack, resample)
                _process_tile(
                    tile, size, ra, dec, todo, stamps, state, index, pixel_scale
                )
            except OSError as exc:
                unreadable.append((files, f"unreadable tile: {exc}"))
    for files, reason in unreadable:
        waiting = [i for i in range(n) if not flags[i] and i not in state["done"]]
        for obj in _on_footprint(_footprint(files), size, ra, dec, waiting):
            flags[obj] |= FLAG_UNREADABLE_TILE
            reasons[obj] = reason
            stamps[obj] = np.nan
            state["edge"].pop(obj, None)
            state["resampled"].pop(obj, None)
    for obj in range(n):
        if flags[obj] or obj in state["done"]:
            continue
        if obj in state["edge"]:
            flags[obj] |= FLAG_EDGE
            index = state["edge"][obj]
            reasons[obj] = f"stamp runs off the edge of tile {tiles[index][0].name}"
        else:
            flags[obj] |= FLAG_OFF_TILES
            reasons[obj] = "on no tile"
    for obj in state["done"]:
        if not np.all(np.isfinite(stamps[obj])):
            bad = int(np.size(stamps[obj]) - np.isfinite(stamps[obj]).sum())
            flags[obj] |= FLAG_MASKED
            reasons[obj] = f"{bad} NaN or masked pixel(s) in the stamp"
    for obj, scale in state["resampled"].items():
        flags[obj] |= FLAG_RESAMPLED
        text = f"resampled from {scale:.4g} to {pixel_scale:.4g} arcsec/pixel"
        reasons[obj] = f"{reasons[obj]}; {text}" if reasons[obj] else text
    return Cutouts(stamps, flags, reasons)
