"""Classify the objects of a survey catalog on their FITS image tiles.

:func:`classify_catalog` cuts a stamp of every catalog object from the survey's
image tiles (:func:`~skdamerge.datasets.cutouts_from_catalog`), classifies the
stamps with a fitted skdamerge estimator or pipeline and returns the catalog
with the merger probability, the decision and a quality flag per object, as an
:class:`astropy.table.Table`. :func:`write_catalog` writes such a table to a
FITS, Parquet or CSV file atomically.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from ._files import write_atomic
from ._param_validation import HasMethods, Interval, validate_params
from ._validation import resolve_positive_class
from .datasets._cutouts import (
    CATALOG_CONSTRAINTS,
    FLAGS_UNUSABLE,
    cutouts_from_catalog,
)
from .datasets._sky_catalog import catalog_format, read_catalog
from .metrics._fitted import fitted_attribute, predict_proba_in

__all__ = ["classify_catalog", "write_catalog"]

#: Columns that :func:`classify_catalog` adds to the catalog.
OUTPUT_COLUMNS = ("p_merger", "is_merger", "flag", "flag_reason")


def _model_size(model: Any) -> int:
    shape = fitted_attribute(model, "input_shape_")
    if shape is None or len(shape) != 3:
        raise ValueError(
            f"{type(model).__name__} has no image input_shape_ (channels, height, "
            "width); fit it on images first, or pass size=..."
        )
    if shape[1] != shape[2]:
        raise ValueError(
            f"{type(model).__name__} was trained on {shape[1]}x{shape[2]} images; "
            "cutouts are square: pass size=..."
        )
    return int(shape[1])


def _threshold(model: Any, threshold: float | None) -> float:
    if threshold is not None:
        return float(threshold)
    fitted = fitted_attribute(model, "target_threshold_")
    return 0.5 if fitted is None else float(fitted)


def training_summary(model: Any) -> dict[str, Any]:
    """Return the model's training summary as catalog header keywords.

    ``NEPOCHS`` epochs trained and ``BESTEPOC`` the epoch kept, ``NTARGET`` the
    number of target training images, ``SRCFRAC`` the source merger fraction,
    ``TGTFRAC`` / ``TGTFERR`` / ``TGTFTRST`` the label-free target merger
    fraction estimate, its standard deviation and whether it is trusted. Keys
    whose value the model does not have are left out.
    """
    summary: dict[str, Any] = {}
    for key, name in (
        ("NEPOCHS", "n_epochs_"),
        ("BESTEPOC", "best_epoch_"),
        ("NTARGET", "n_target_samples_"),
        ("SRCFRAC", "source_merger_fraction_"),
    ):
        value = fitted_attribute(model, name)
        if value is not None:
            summary[key] = float(value) if key == "SRCFRAC" else int(value)
    estimate = fitted_attribute(model, "target_merger_fraction_")
    if estimate is not None:
        summary["TGTFRAC"] = float(estimate.fraction)
        summary["TGTFERR"] = float(estimate.std)
        summary["TGTFTRST"] = bool(estimate.trusted)
    return summary


def _check_bands(model: Any, n_bands: int) -> None:
    shape = fitted_attribute(model, "input_shape_")
    if shape is not None and len(shape) == 3 and shape[0] != n_bands:
        raise ValueError(
            f"{type(model).__name__} was trained on {shape[0]}-band images, but "
            f"each tile has {n_bands} band file(s); pass one FITS file per band, "
            "in the band order of the training images."
        )


@validate_params(
    {
        "model": [HasMethods(["predict_proba"])],
        **CATALOG_CONSTRAINTS,
        "size": [Interval(Integral, 1, None, closed="left"), None],
        "threshold": [Interval(Real, 0, 1, closed="both"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def classify_catalog(
    model: Any,
    catalog: Any,
    images: Any,
    *,
    size: int | None = None,
    threshold: float | None = None,
    batch_size: int = 256,
    bands: Any = None,
    ra_column: str | None = None,
    dec_column: str | None = None,
    pixel_scale: float | None = None,
    resample: bool = False,
):
    """Classify every object of a catalog on its FITS image tiles.

    Cuts a stamp of each object from the tiles
    (:func:`~skdamerge.datasets.cutouts_from_catalog`), predicts the merger
    probability of the stamps that are complete and finite, and returns the
    catalog with four columns added. The stamps are target-domain images: a
    :class:`~skdamerge.pipeline.DomainAdaptationPipeline` transforms them with
    ``domain="target"``.

    Parameters
    ----------
    model : fitted estimator or pipeline
        A fitted skdamerge classifier or pipeline with ``predict_proba`` and
        ``classes_``; the merger class is ``classes_[1]``.
    catalog : astropy.table.Table, pandas.DataFrame or path
        The objects; a path is read by extension (FITS table, CSV, Parquet).
    images : list of paths, or list of tuples of paths
        One FITS file per band of one tile, in the band order of the training
        images, or a list of such tuples, one per tile (see
        :func:`~skdamerge.datasets.cutouts_from_catalog`).
    size : int, optional
        Side of the stamps in pixels. By default the side of the model's
        training images (``input_shape_``); pass it for a pipeline that crops
        or resizes.
    threshold : float in [0, 1], optional
        ``is_merger`` is ``p_merger >= threshold``. By default the model's
        ``target_threshold_`` when it has one, else 0.5.
    batch_size : int, default=256
        Stamps classified per call of ``predict_proba``.
    bands : sequence of str, optional
        Names of the bands, one per file of a tile.
    ra_column, dec_column : str, optional
        Coordinate columns; by default found among common names.
    pixel_scale : float, optional
        Expected pixel scale in arcsec/pixel; a tile off by more than 1% is an
        error, unless ``resample``.
    resample : bool, default=False
        Resample the stamps of tiles at another pixel scale to ``pixel_scale``
        (needs reproject); they get ``FLAG_RESAMPLED`` and are classified (see
        :func:`~skdamerge.datasets.cutouts_from_catalog`).

    Returns
    -------
    astropy.table.Table
        One row per input object, in input order, with every input column and
        ``p_merger`` (float, NaN where flagged), ``is_merger`` (bool, False where
        flagged), ``flag`` (bit mask, see :mod:`skdamerge.datasets`, 0 = good;
        ``FLAG_RESAMPLED`` alone marks a resampled stamp that was classified)
        and ``flag_reason`` (text, "" when 0). ``meta`` records ``MODEL``
        (the model class), ``SKDAMVER`` (the skdamerge version), ``THRESH``
        and ``STAMPSZ`` (the stamp side).

    Raises
    ------
    ValueError
        If the catalog already has one of the output columns, the number of
        band files differs from the model's channels, or for the reasons of
        :func:`~skdamerge.datasets.cutouts_from_catalog`.

    See Also
    --------
    skdamerge.datasets.cutouts_from_catalog : The stamps and flags alone.
    write_catalog : Write the result to FITS, Parquet or CSV.

    Examples
    --------
    >>> from skdamerge.catalog import classify_catalog, write_catalog
    >>> table = classify_catalog(
    ...     model, "objects.csv", ["tile_g.fits", "tile_r.fits", "tile_i.fits"]
    ... )  # doctest: +SKIP
    >>> write_catalog(table, "mergers.fits")  # doctest: +SKIP
    """
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    check_is_fitted(model)
    index, _, _ = resolve_positive_class(fitted_attribute(model, "classes_"))
    table = read_catalog(catalog)
    clash = [c for c in OUTPUT_COLUMNS if c in table.colnames]
    if clash:
        raise ValueError(
            f"The catalog already has column(s) {clash}, which classify_catalog "
            "adds; rename or remove them."
        )
    side = _model_size(model) if size is None else int(size)
    cutouts = cutouts_from_catalog(
        table,
        images,
        size=side,
        bands=bands,
        ra_column=ra_column,
        dec_column=dec_column,
        pixel_scale=pixel_scale,
        resample=resample,
    )
    _check_bands(model, cutouts.images.shape[1])
    cut = _threshold(model, threshold)
    p_merger = np.full(len(table), np.nan)
    good = np.flatnonzero((cutouts.flags & FLAGS_UNUSABLE) == 0)
    for start in range(0, len(good), batch_size):
        rows = good[start : start + batch_size]
        proba = predict_proba_in(model, cutouts.images[rows], "target")
        p_merger[rows] = proba[:, index]
    table["p_merger"] = p_merger
    table["is_merger"] = np.where(np.isfinite(p_merger), p_merger >= cut, False)
    table["flag"] = cutouts.flags.astype(np.int32)
    table["flag_reason"] = np.array(cutouts.reasons, dtype=str)
    table.meta["MODEL"] = type(model).__name__
    table.meta["SKDAMVER"] = __version__
    table.meta["THRESH"] = cut
    table.meta["STAMPSZ"] = side
    table.meta.update(training_summary(model))
    return table


def _parquet_bytes(table) -> bytes:
    # astropy writes Parquet (with its metadata: meta, units, string widths)
    # to a path only; the bytes are then written atomically to the destination.
    with tempfile.TemporaryDirectory() as folder:
        temporary = Path(folder) / "catalog.parquet"
        table.write(temporary, format="parquet")
        return temporary.read_bytes()


def _table_bytes(table, file_format: str) -> bytes:
    if file_format == "parquet":
        return _parquet_bytes(table)
    if file_format == "fits":
        sink = io.BytesIO()
        table.write(sink, format="fits")
        return sink.getvalue()
    text = io.StringIO()
    table.write(text, format="ascii.csv")
    return text.getvalue().encode("utf-8")


@validate_params(
    {
        "table": [HasMethods(["keys"])],
        "path": [str, os.PathLike],
        "overwrite": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def write_catalog(table: Any, path: str | os.PathLike, *, overwrite: bool = False):
    """Write a catalog to a FITS, Parquet or CSV file, chosen by extension.

    The file is written to a temporary file in the destination folder and moved
    into place, so it appears whole or not at all.

    Parameters
    ----------
    table : astropy.table.Table
        The catalog, e.g. from :func:`classify_catalog`.
    path : str or path-like
        Destination: ``.fits`` (FITS binary table, ``meta`` in the header),
        ``.parquet``/``.pq`` (needs pyarrow; ``meta`` in the schema metadata)
        or ``.csv`` (columns only).
    overwrite : bool, default=False
        Replace an existing file; by default an existing path is an error.

    Returns
    -------
    pathlib.Path
        The destination.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If the extension is not a FITS, Parquet or CSV one.
    ImportError
        If Parquet is asked for and pyarrow is not installed.

    Examples
    --------
    >>> from skdamerge.catalog import write_catalog
    >>> write_catalog(table, "mergers.fits", overwrite=True)  # doctest: +SKIP
    """
    path = Path(path)
    file_format = catalog_format(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{str(path)!r} exists; pass overwrite=True to replace it."
        )
    table = read_catalog(table)
    data = _table_bytes(table, file_format)
    if path.name.lower().endswith(".gz"):
        data = gzip.compress(data)
    return write_atomic(path, lambda handle: handle.write(data))
