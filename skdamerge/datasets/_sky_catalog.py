"""Source catalogs: read a table of objects and parse their sky coordinates."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["find_coordinate_columns", "read_catalog", "sky_coordinates"]

#: Column names recognised as right ascension / declination, lowercase, in order
#: of preference; the match is case-insensitive.
RA_NAMES = (
    "ra",
    "ra_deg",
    "radeg",
    "raj2000",
    "ra_j2000",
    "_raj2000",
    "ra_icrs",
    "ra_obj",
    "alpha",
    "alpha_j2000",
    "right_ascension",
)
DEC_NAMES = (
    "dec",
    "dec_deg",
    "decdeg",
    "dej2000",
    "decj2000",
    "dec_j2000",
    "_dej2000",
    "de_icrs",
    "dec_icrs",
    "dec_obj",
    "delta",
    "delta_j2000",
    "declination",
)

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
_CSV_SUFFIXES = (".csv", ".csv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def _astropy_table():
    try:
        from astropy.table import Table
    except ImportError as exc:  # pragma: no cover - astropy is installed in tests
        raise ImportError(
            "Source catalogs need astropy: pip install astropy "
            "(or pip install 'skdamerge[io]')."
        ) from exc
    return Table


def require_pyarrow(path: Path) -> None:
    """Raise a clear ImportError when Parquet is asked for without pyarrow."""
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{str(path)!r} is a Parquet file; reading and writing Parquet needs "
            "the package pyarrow: pip install pyarrow (or pip install "
            "'skdamerge[io]')."
        ) from exc


def catalog_format(path: Path) -> str:
    """Return the astropy format of a catalog file, from its extension."""
    name = path.name.lower()
    if name.endswith(_FITS_SUFFIXES):
        return "fits"
    if name.endswith(_CSV_SUFFIXES):
        return "ascii.csv"
    if name.endswith(_PARQUET_SUFFIXES):
        require_pyarrow(path)
        return "parquet"
    raise ValueError(
        f"{str(path)!r} has an unknown catalog extension; use a FITS table "
        f"({', '.join(_FITS_SUFFIXES)}), CSV (.csv) or Parquet (.parquet, .pq)."
    )


def read_catalog(catalog):
    """Return the catalog as an astropy Table (a copy: the input is not changed).

    Parameters
    ----------
    catalog : astropy Table, pandas DataFrame, mapping or path
        A path is read by extension: FITS table, CSV or Parquet.

    Returns
    -------
    astropy.table.Table
    """
    Table = _astropy_table()
    if isinstance(catalog, (str, os.PathLike)):
        path = Path(catalog)
        if not path.is_file():
            raise FileNotFoundError(f"catalog {str(path)!r} does not exist.")
        return Table.read(path, format=catalog_format(path))
    if isinstance(catalog, Table):
        return catalog.copy()
    if hasattr(catalog, "iloc"):  # a pandas DataFrame
        return Table.from_pandas(catalog)
    return Table(catalog)


def _find(names: list[str], candidates: tuple[str, ...]) -> str | None:
    lower = {name.lower(): name for name in reversed(names)}
    for candidate in candidates:
        if candidate in lower:
            return lower[candidate]
    return None


def find_coordinate_columns(
    table, ra_column: str | None = None, dec_column: str | None = None
) -> tuple[str, str]:
    """Names of the RA and Dec columns: given, or found among common names.

    Raises
    ------
    ValueError
        If a column is not found; the message lists the catalog's columns.
    """
    names = list(table.colnames)
    found = []
    for given, candidates, what, argument in (
        (ra_column, RA_NAMES, "right ascension", "ra_column"),
        (dec_column, DEC_NAMES, "declination", "dec_column"),
    ):
        name = given if given is not None else _find(names, candidates)
        if name is None or name not in names:
            looked = repr(given) if given is not None else ", ".join(candidates)
            raise ValueError(
                f"The catalog has no {what} column (looked for {looked}, ignoring "
                f"case); its columns are {names}. Name it with {argument}=..."
            )
        found.append(name)
    return found[0], found[1]


def _as_values(column) -> tuple[np.ndarray, np.ndarray]:
    """Values of a column and the mask of missing entries."""
    from astropy import units as u

    mask = np.asarray(np.ma.getmaskarray(column), dtype=bool)
    if isinstance(column, u.Quantity):  # a QTable column
        return np.asarray(column.to_value(u.deg)), mask
    values = np.asarray(np.ma.getdata(column))
    unit = getattr(column, "unit", None)
    if unit is not None and values.dtype.kind in "iuf":
        try:
            values = (values * unit).to_value(u.deg)
        except u.UnitsError:
            pass  # not an angle unit: the numbers are taken as degrees
    return values, mask


def _parse_one(ra, dec) -> tuple[float, float] | None:
    """Degrees of one object's coordinates, or None when they cannot be read."""
    from astropy import units as u
    from astropy.coordinates import Angle

    try:
        return float(ra), float(dec)
    except (TypeError, ValueError):
        pass
    try:
        ra_angle = Angle(str(ra).strip(), unit=u.hourangle)
        dec_angle = Angle(str(dec).strip(), unit=u.deg)
        return float(ra_angle.deg), float(dec_angle.deg)
    except Exception:  # noqa: BLE001 - any unreadable text is an invalid coordinate
        return None


def sky_coordinates(table, ra_column: str, dec_column: str):
    """RA and Dec in degrees, and which rows are invalid and why.

    Numbers are degrees; text is sexagesimal (RA in hours, ``"10:12:34.5"`` or
    ``"10h12m34.5s"``; Dec in degrees, ``"+05:32:00"``) or decimal degrees.

    Returns
    -------
    ra, dec : ndarray of float64
        Degrees (NaN where invalid).
    reasons : list of str
        Empty for a valid row, otherwise why it is invalid.
    """
    ra_values, ra_missing = _as_values(table[ra_column])
    dec_values, dec_missing = _as_values(table[dec_column])
    n = len(table)
    ra = np.full(n, np.nan)
    dec = np.full(n, np.nan)
    reasons = [""] * n
    numeric = ra_values.dtype.kind in "iuf" and dec_values.dtype.kind in "iuf"
    for i in range(n):
        if ra_missing[i] or dec_missing[i]:
            reasons[i] = "missing coordinates"
            continue
        if numeric:
            parsed = float(ra_values[i]), float(dec_values[i])
        else:
            parsed = _parse_one(ra_values[i], dec_values[i])
        if parsed is None:
            reasons[i] = f"unreadable coordinates ({ra_values[i]!r}, {dec_values[i]!r})"
            continue
        r, d = parsed
        if not (np.isfinite(r) and np.isfinite(d)):
            reasons[i] = f"coordinates not finite ({r}, {d})"
        elif not 0.0 <= r < 360.0:
            reasons[i] = f"RA {r} deg outside [0, 360)"
        elif not -90.0 <= d <= 90.0:
            reasons[i] = f"Dec {d} deg outside [-90, 90]"
        else:
            ra[i], dec[i] = r, d
    return ra, dec, reasons
