"""Survey inputs of the ``skdamerge`` command: a source catalog and its image tiles.

``--catalog`` is read by extension (FITS table, CSV, Parquet). Its id, RA and Dec
columns are named with ``--id-column``/``--ra-column``/``--dec-column`` or found,
ignoring case, among common names; when several columns match, RA and Dec are an
error that asks for the option (the id, used in messages only, takes the most
common name). The tiles are one FITS file per band
(``--images g.fits r.fits i.fits``, one tile) or a pattern with ``{band}``
(``--tiles 'tiles/*_{band}.fits'``), expanded for each band of ``--bands`` and
grouped into tiles by what the wildcards matched.
"""

from __future__ import annotations

import argparse
import glob
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..datasets._sky_catalog import DEC_NAMES, RA_NAMES, read_catalog
from ._arg_types import positive_float
from ._errors import CommandError

__all__ = [
    "FLAG_NAMES",
    "ID_NAMES",
    "add_survey_arguments",
    "SurveyColumns",
    "catalog_columns",
    "check_resample_options",
    "expand_tiles",
    "flag_counts",
    "read_survey_catalog",
    "tile_sets",
]

#: Column names recognised as object ids, lowercase; the match ignores case.
ID_NAMES = ("id", "object_id", "objid", "obj_id", "source_id", "sourceid", "name")


class SurveyColumns(NamedTuple):
    """The id (None when the catalog has none), RA and Dec column names."""

    id: str | None
    ra: str
    dec: str


def read_survey_catalog(path: Path, option: str = "--catalog"):
    """Read a catalog file as an astropy Table; errors name ``option``.

    Parameters
    ----------
    path : Path
        FITS table, CSV or Parquet file.
    option : str, default="--catalog"
        The option that gave it.

    Returns
    -------
    astropy.table.Table
        The catalog.

    Raises
    ------
    CommandError
        If the file is missing, has an unknown extension or cannot be read.
    """
    if not path.is_file():
        raise CommandError(f"{option} {str(path)!r} does not exist.")
    try:
        return read_catalog(path)
    except ImportError as error:
        raise CommandError(f"{option}: {error}") from None
    except Exception as error:  # astropy's readers raise many kinds of errors
        raise CommandError(
            f"{option} {str(path)!r} could not be read as a catalog ({error}); "
            "pass a FITS table (.fits), CSV (.csv) or Parquet (.parquet) file."
        ) from None


def add_survey_arguments(
    parser: argparse.ArgumentParser, prefix: str = "", with_id: bool = False
) -> None:
    """Add the catalog, tile, band, column and pixel-scale options to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    prefix : str, default=""
        Prefix of ``--catalog`` and ``--tiles`` (``"target-"`` for ``skdamerge
        fit``); the tile files of one tile (``--images``) are added by the caller.
    with_id : bool, default=False
        Add ``--id-column`` too.
    """
    parser.add_argument(
        f"--{prefix}catalog",
        type=Path,
        default=None,
        metavar="CATALOG",
        help="catalog of the survey's objects (FITS table, CSV or Parquet) with "
        "RA and Dec",
    )
    parser.add_argument(
        f"--{prefix}tiles",
        default=None,
        metavar="PATTERN",
        help="band files of many tiles: a pattern with {band} and wildcards, "
        "e.g. 'tiles/*_{band}.fits' (quote it; needs --bands)",
    )
    parser.add_argument(
        "--bands",
        nargs="+",
        default=None,
        metavar="BAND",
        help=f"band names for {{band}} in --{prefix}tiles, in the order of the "
        "training images, e.g. --bands g r i"
        + ("" if prefix else " (default: the bands recorded in the model file)"),
    )
    columns = [
        ("id", "object id (default: id, object_id, objid, ...)"),
        ("ra", "right ascension (default: ra, ra_deg, RAJ2000, ...)"),
        ("dec", "declination (default: dec, dec_deg, DEJ2000, ...)"),
    ]
    for name, what in columns if with_id else columns[1:]:
        parser.add_argument(
            f"--{name}-column",
            default=None,
            metavar="NAME",
            help=f"catalog column of the {what}, ignoring case",
        )
    parser.add_argument(
        "--pixel-scale",
        type=positive_float,
        default=None,
        metavar="ARCSEC",
        help="pixel scale of the training images in arcsec/pixel: tiles off by "
        "more than 1%% are refused (or resampled with --resample)",
    )
    parser.add_argument(
        "--resample",
        action="store_true",
        help="resample tiles at another pixel scale to --pixel-scale (needs the "
        "package reproject); their objects get flag 32",
    )


#: Names of the flag bits of :mod:`skdamerge.datasets`, for messages.
FLAG_NAMES = {
    1: "edge",
    2: "off tiles",
    4: "masked pixels",
    8: "invalid coordinates",
    16: "unreadable tile",
    32: "resampled",
}


def flag_counts(flags: np.ndarray) -> str:
    """Return how many objects have each flag bit, e.g. ``"2 edge, 1 off tiles"``.

    Parameters
    ----------
    flags : ndarray of int
        Flag bit masks, one per object.

    Returns
    -------
    str
        The counts of the bits that occur, comma-separated.
    """
    flags = np.asarray(flags)
    return ", ".join(
        f"{int(np.sum(flags & bit > 0))} {name}"
        for bit, name in FLAG_NAMES.items()
        if np.any(flags & bit)
    )


def _column(
    names: list[str],
    given: str | None,
    candidates: Sequence[str],
    what: str,
    option: str,
    required: bool = True,
) -> str | None:
    if given is not None:
        if given in names:
            return given
        matches = [name for name in names if name.lower() == given.lower()]
        if len(matches) == 1:
            return matches[0]
        raise CommandError(
            f"{option} {given!r} is not a column of the catalog (columns: {names})."
        )
    matches = [name for name in names if name.lower() in candidates]
    if not required:  # the id is for messages only: the most common name wins
        matches.sort(key=lambda name: candidates.index(name.lower()))
        return matches[0] if matches else None
    if len(matches) > 1:
        raise CommandError(
            f"the catalog has several {what} columns {matches}; choose one with "
            f"{option} NAME."
        )
    if not matches:
        raise CommandError(
            f"the catalog has no {what} column (looked for {', '.join(candidates)}, "
            f"ignoring case; columns: {names}); name it with {option} NAME."
        )
    return matches[0]


def catalog_columns(
    table: Any,
    *,
    id_column: str | None = None,
    ra_column: str | None = None,
    dec_column: str | None = None,
) -> SurveyColumns:
    """Find the id, RA and Dec columns of a catalog.

    Parameters
    ----------
    table : astropy.table.Table
        The catalog.
    id_column, ra_column, dec_column : str or None
        Names given on the command line (matched exactly, else ignoring case);
        None looks for common names, ignoring case.

    Returns
    -------
    SurveyColumns
        The column names; ``id`` is None when no id column is given or found.

    Raises
    ------
    CommandError
        If a given column is absent, a coordinate column is not found, or a
        common name matches several columns; the message names the option.
    """
    names = list(table.colnames)
    return SurveyColumns(
        _column(names, id_column, ID_NAMES, "object id", "--id-column", False),
        _column(names, ra_column, RA_NAMES, "right ascension", "--ra-column"),
        _column(names, dec_column, DEC_NAMES, "declination", "--dec-column"),
    )


def _pattern_regex(pattern: str, band: str) -> re.Pattern:
    parts = []
    for piece in re.split(r"(\{band\}|\*|\?)", pattern):
        if piece == "{band}":
            parts.append(re.escape(band))
        elif piece == "*":
            parts.append("([^/]*)")
        elif piece == "?":
            parts.append("([^/])")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts) + r"\Z")


def expand_tiles(
    pattern: str, bands: Sequence[str], option: str = "--tiles"
) -> list[tuple[Path, ...]]:
    """Expand a tile pattern into one tuple of band files per tile.

    Parameters
    ----------
    pattern : str
        A path with ``{band}`` and shell wildcards (``*``, ``?``), e.g.
        ``tiles/*_{band}.fits``.
    bands : sequence of str
        The bands, in the order of the model's channels.
    option : str, default="--tiles"
        The option that gave the pattern, for the messages.

    Returns
    -------
    list of tuple of Path
        One tuple per tile, its files in band order; tiles sorted by the text
        that the wildcards matched.

    Raises
    ------
    CommandError
        If the pattern has no ``{band}``, matches no file, or a tile lacks a band.
    """
    if "{band}" not in pattern:
        raise CommandError(
            f"{option} {pattern!r} has no {{band}}; write the band's place in the "
            "file names, e.g. 'tiles/*_{band}.fits'."
        )
    found: list[dict[tuple, Path]] = []
    for band in bands:
        regex = _pattern_regex(pattern, band)
        files = {}
        for name in glob.glob(pattern.replace("{band}", glob.escape(band))):
            match = regex.match(name)
            if match is not None:
                files[match.groups()] = Path(name)
        if not files:
            raise CommandError(
                f"{option} {pattern!r} matches no file for band {band!r} "
                f"({pattern.replace('{band}', band)!r})."
            )
        found.append(files)
    keys = sorted(set().union(*found))
    for band, files in zip(bands, found, strict=True):
        missing = [key for key in keys if key not in files]
        if missing:
            example = next(f[missing[0]] for f in found if missing[0] in f)
            raise CommandError(
                f"{option} {pattern!r}: {len(missing)} tile(s) have no {band!r} "
                f"file (e.g. the tile of {str(example)!r}); "
                "every tile needs one file per band."
            )
    return [tuple(files[key] for files in found) for key in keys]


def check_resample_options(args: argparse.Namespace) -> None:
    """Check ``--resample``: it needs ``--pixel-scale`` and the package reproject.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.

    Raises
    ------
    CommandError
        If ``--resample`` is given without ``--pixel-scale`` or reproject.
    """
    if not args.resample:
        return
    if args.pixel_scale is None:
        raise CommandError(
            "--resample needs --pixel-scale, the pixel scale of the training "
            "images (arcsec/pixel) to resample the tiles to."
        )
    try:
        import reproject  # noqa: F401
    except ImportError:
        raise CommandError(
            "--resample needs the package reproject: pip install reproject (or "
            "pip install 'skdamerge[io]')."
        ) from None


def tile_sets(
    images: Sequence[str] | None,
    pattern: str | None,
    bands: Sequence[str] | None,
    n_channels: int,
    *,
    prefix: str = "",
) -> list[tuple[Path, ...]]:
    """Return the tiles of ``--images`` (one tile) or ``--tiles`` (a pattern).

    Parameters
    ----------
    images : sequence of str or None
        One FITS file per band.
    pattern : str or None
        A ``{band}`` pattern (needs ``bands``).
    bands : sequence of str or None
        The band names, in the order of the model's channels (``--bands``, or
        those recorded in the model file).
    n_channels : int
        Channels of the model's images: the number of bands needed.
    prefix : str, default=""
        Prefix of the option names (``"target-"`` for ``skdamerge fit``).

    Returns
    -------
    list of tuple of Path
        One tuple of band files per tile.

    Raises
    ------
    CommandError
        If neither or both are given, ``bands`` is missing for a pattern, or the
        number of bands differs from ``n_channels``.
    """
    images_option, tiles_option = f"--{prefix}images", f"--{prefix}tiles"
    if (images is None) == (pattern is None):
        raise CommandError(
            f"pass the image tiles with either {images_option} (one FITS file per "
            f"band) or {tiles_option} (a pattern with {{band}}), not "
            + ("both." if images is not None else "neither.")
        )
    if bands is not None and len(bands) != n_channels:
        raise CommandError(
            f"--bands names {len(bands)} band(s) {list(bands)}, but the model's "
            f"images have {n_channels} channel(s); name one band per channel, in "
            "the order of the training images."
        )
    if images is not None:
        if len(images) != n_channels:
            raise CommandError(
                f"{images_option} gives {len(images)} file(s), but the model's images "
                f"have {n_channels} channel(s); pass one FITS file per band, in the "
                "order of the training images."
            )
        missing = [name for name in images if not Path(name).is_file()]
        if missing:
            raise CommandError(
                f"{images_option}: {str(missing[0])!r} is not a file (pass one FITS "
                "file per band)."
            )
        return [tuple(Path(name) for name in images)]
    if bands is None:
        raise CommandError(
            f"{tiles_option} needs the band names: pass --bands, e.g. --bands g r i "
            "(in the order of the training images; the model file records none)."
        )
    return expand_tiles(pattern, bands, tiles_option)
