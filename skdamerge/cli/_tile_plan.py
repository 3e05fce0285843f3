"""Which tile each catalog object is cut from, read from the tiles' headers alone.

A survey run classifies one tile at a time (serially or on Dask workers), each with
:func:`skdamerge.catalog.classify_catalog` on the objects that the tile holds, so
that memory holds the stamps of one tile at most. The plan follows the rule of
:func:`skdamerge.datasets.cutouts_from_catalog` for many tiles, so that the results
are those of one call over all tiles: an object is cut from the first readable
tile that covers its stamp fully; otherwise, when it lies on the footprint of a
tile that cannot be read (any object, when not even the tile's header can be
read), it goes to the first such tile and is flagged unreadable there; otherwise
it is cut from the first tile that covers part of its stamp (and flagged at the
edge). Objects on no tile, or with invalid coordinates, go to no tile (-1). The
tiles are opened memory-mapped: only their headers are read; a search on the sky
finds the objects near each tile, so that the plan of a large catalog over many
tiles does not test every object against every tile.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from ..datasets._cutouts import (
    _coverage,
    _footprint,
    _open_tile,
    _pixels,
    native_size,
)

__all__ = ["NO_TILE", "plan_tiles"]

#: The plan's value for an object on no tile or with invalid coordinates.
NO_TILE = -1


def _near(shape, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which positions lie within a stamp of the tile (may touch it)."""
    return (
        np.isfinite(x)
        & np.isfinite(y)
        & (x > -size)
        & (x < shape[1] + size)
        & (y > -size)
        & (y < shape[0] + size)
    )


def _on_footprint(footprint, size, ra, dec, objects) -> np.ndarray:
    if footprint is None:  # not even the header can be read: any object may be
        return objects
    wcs, shape = footprint
    x, y = _pixels(wcs, ra[objects], dec[objects])
    near = _near(shape, size, x, y)
    return np.array(
        [
            obj
            for obj, xi, yi in zip(objects[near], x[near], y[near], strict=True)
            if _coverage(shape, size, xi, yi) != "none"
        ],
        dtype=np.int64,
    )


def _grids(tiles, size, pixel_scale, resample) -> list:
    """``(wcs, shape, stamp side in its pixels)`` per tile, None if unreadable."""
    grids = []
    for files in tiles:
        with ExitStack() as stack:
            try:
                tile = _open_tile(files, pixel_scale, stack, resample)
            except OSError:
                grids.append(None)
                continue
            native = native_size(tile, size, pixel_scale)
            grids.append((tile.wcs, tile.shape, native))
    return grids


def _near_tiles(grids, ra, dec, objects) -> dict[int, np.ndarray]:
    """Objects within a stamp of each readable tile, from a search on the sky.

    Each tile is bounded by the circle around its centre through its corners
    widened by a stamp (and 10%); a k-d tree over the objects
    (:func:`astropy.coordinates.search_around_sky`) finds the objects inside, so
    that the exact pixel test runs on a tile's neighbours only.
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky

    readable = [index for index, grid in enumerate(grids) if grid is not None]
    if not readable or not len(objects):
        return {}
    centres, radii = [], []
    for index in readable:
        wcs, (ny, nx), native = grids[index]
        x = np.array([(nx - 1) / 2, -native, nx + native, -native, nx + native])
        y = np.array([(ny - 1) / 2, -native, -native, ny + native, ny + native])
        points = wcs.pixel_to_world(x, y)
        centres.append(points[0])
        radii.append(1.1 * float(np.max(points[0].separation(points[1:]).deg)))
    centre = SkyCoord(centres)
    radii = np.array(radii)
    sky = SkyCoord(ra[objects] * u.deg, dec[objects] * u.deg, frame="icrs")
    tile_of, object_of, separation, _ = search_around_sky(
        centre, sky, float(radii.max()) * u.deg
    )
    inside = separation.deg <= radii[tile_of]
    tile_of, object_of = tile_of[inside], object_of[inside]
    return {
        index: np.sort(objects[object_of[tile_of == k]])
        for k, index in enumerate(readable)
    }


def plan_tiles(
    ra: np.ndarray,
    dec: np.ndarray,
    tiles: Sequence[tuple[Path, ...]],
    size: int,
    pixel_scale: float | None = None,
    resample: bool = False,
) -> np.ndarray:
    """Return the index of the tile that each object is cut from.

    Parameters
    ----------
    ra, dec : ndarray of shape (n_objects,)
        Degrees; NaN for invalid coordinates.
    tiles : sequence of tuple of Path
        The band files of each tile, opened memory-mapped (headers only).
    size : int
        Side of the stamps in pixels.
    pixel_scale : float or None, default=None
        Expected pixel scale in arcsec/pixel, checked on every tile.
    resample : bool, default=False
        Tiles at another pixel scale will be resampled: their stamps cover
        ``size * pixel_scale / scale`` of their pixels.

    Returns
    -------
    ndarray of shape (n_objects,), int64
        Tile index per object, :data:`NO_TILE` for objects on no tile or with
        invalid coordinates.

    Raises
    ------
    ValueError
        If a tile does not fit (see
        :func:`~skdamerge.datasets.cutouts_from_catalog`): before any object is
        classified.
    """
    n = len(ra)
    valid = np.isfinite(ra) & np.isfinite(dec)
    full = np.full(n, NO_TILE, dtype=np.int64)
    partial = np.full(n, NO_TILE, dtype=np.int64)
    grids = _grids(tiles, size, pixel_scale, resample)
    near = _near_tiles(grids, ra, dec, np.flatnonzero(valid))
    for index, grid in enumerate(grids):
        if grid is None:
            continue
        candidates = near.get(index, np.empty(0, dtype=np.int64))
        todo = candidates[full[candidates] == NO_TILE]
        if not len(todo):
            continue
        wcs, shape, native = grid
        x, y = _pixels(wcs, ra[todo], dec[todo])
        for obj, xi, yi in zip(todo, x, y, strict=True):
            coverage = _coverage(shape, native, xi, yi)
            if coverage == "full":
                full[obj] = index
            elif coverage == "partial" and partial[obj] == NO_TILE:
                partial[obj] = index
    plan = full
    rest = np.flatnonzero(valid & (plan == NO_TILE))
    plan[rest] = partial[rest]
    # an object that no readable tile covers fully is flagged by the first
    # unreadable tile whose footprint it lies on
    unreadable = [index for index, grid in enumerate(grids) if grid is None]
    for index in reversed(unreadable):
        on = _on_footprint(_footprint(tiles[index]), size, ra, dec, rest)
        plan[on] = index
    return plan
