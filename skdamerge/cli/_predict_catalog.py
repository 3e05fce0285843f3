"""``skdamerge predict --catalog``: classify a survey catalog on its FITS tiles.

The objects of the catalog are planned onto the tiles (:mod:`._tile_plan`), each
tile is classified with :func:`skdamerge.catalog.classify_catalog` (serially or on
Dask workers, :mod:`._tile_jobs`), its results are kept in ``OUT.partial/``
(:mod:`._partial`) so that ``--resume`` can go on after an interruption, and the
catalog is written with :func:`skdamerge.catalog.write_catalog`: one row per input
object, in input order, every input column kept, plus ``p_merger``, ``is_merger``,
``flag`` and ``flag_reason``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets._cutouts import FLAG_RESAMPLED, FLAGS_UNUSABLE
from ._errors import CommandError
from ._partial import PartialRun, file_digest
from ._survey_inputs import SurveyColumns, flag_counts
from ._tile_jobs import Job, TileOptions
from ._tile_plan import NO_TILE

__all__ = ["run_catalog"]


def _check_out(out: Path, overwrite: bool) -> None:
    from ..datasets._sky_catalog import catalog_format

    try:
        catalog_format(out)
    except (ValueError, ImportError) as error:
        raise CommandError(f"--out: {error}") from None
    if str(out.parent) and not out.parent.is_dir():
        raise CommandError(f"the folder of --out {str(out)!r} does not exist.")
    if out.exists() and not overwrite:
        raise CommandError(
            f"--out {str(out)!r} exists; pass --overwrite to replace it."
        )


def _jobs(table, columns: SurveyColumns, plan: np.ndarray, tiles) -> list[Job]:
    coordinates = table[[columns.ra, columns.dec]]
    jobs = []
    for index, files in enumerate(tiles):
        rows = np.flatnonzero(plan == index)
        if len(rows):
            jobs.append(Job(f"tile-{index:06d}", files, rows, coordinates[rows]))
    rows = np.flatnonzero(plan == NO_TILE)
    if len(rows):
        # classify_catalog flags them (invalid coordinates, on no tile) against
        # the first tile, which does not hold them
        jobs.append(Job("no-tile", tiles[0], rows, coordinates[rows]))
    return jobs


def _inputs(args, columns: SurveyColumns, tiles, options: TileOptions) -> dict:
    return {
        "model": file_digest(args.model),
        "catalog": file_digest(args.catalog),
        "tiles": [[str(Path(f).resolve()) for f in files] for files in tiles],
        "columns": [columns.ra, columns.dec],
        "size": options.size,
        "threshold": options.threshold,
        "pixel_scale": options.pixel_scale,
        "resample": options.resample,
    }


def _assemble(table, partial: PartialRun):
    n = len(table)
    p_merger = np.full(n, np.nan)
    is_merger = np.zeros(n, dtype=bool)
    flag = np.zeros(n, dtype=np.int32)
    reason = [""] * n
    seen = np.zeros(n, dtype=np.int64)
    for rows, results in partial.load():
        p_merger[rows] = results["p_merger"]
        is_merger[rows] = results["is_merger"]
        flag[rows] = results["flag"]
        for row, text in zip(rows, results["flag_reason"], strict=True):
            reason[row] = str(text)
        seen[rows] += 1
    if not np.all(seen == 1):
        raise CommandError(
            f"the partial results in {str(partial.folder)!r} do not hold every "
            "object exactly once; run again without --resume, with --overwrite."
        )
    table["p_merger"] = p_merger
    table["is_merger"] = is_merger
    table["flag"] = flag
    table["flag_reason"] = np.array(reason, dtype=str)
    return table


def _summary(table, columns: SurveyColumns, n_tiles: int, threshold: float) -> str:
    flag = np.asarray(table["flag"])
    good = (flag & FLAGS_UNUSABLE) == 0
    n_mergers = int(np.sum(np.asarray(table["is_merger"])))
    text = (
        f"classified {int(good.sum())} of {len(table)} objects on {n_tiles} "
        f"tile(s): {n_mergers} mergers (p_merger >= {threshold:g})"
    )
    if np.any(flag & FLAG_RESAMPLED):
        text += f"; {int(np.sum(flag & FLAG_RESAMPLED > 0))} resampled"
    if not good.all():
        first = int(np.flatnonzero(~good)[0])
        name = f"{table[columns.id][first]}" if columns.id else f"row {first}"
        text += (
            f"; {int((~good).sum())} flagged ({flag_counts(flag & FLAGS_UNUSABLE)}; "
            f"e.g. {name}: "
            f"{table['flag_reason'][first]})"
        )
    return text


def _check_clash(table) -> None:
    from ..catalog import OUTPUT_COLUMNS

    clash = [name for name in OUTPUT_COLUMNS if name in table.colnames]
    if clash:
        raise CommandError(
            f"--catalog already has the column(s) {clash} that predict adds; "
            "rename or remove them."
        )


def run_catalog(args: argparse.Namespace) -> int:
    """Classify the catalog of ``args`` on its tiles and write the output catalog.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``skdamerge predict`` with ``--catalog``.

    Returns
    -------
    int
        Exit status 0.
    """
    from .. import __version__
    from ..catalog import _threshold, training_summary, write_catalog
    from ..datasets._sky_catalog import sky_coordinates
    from ._model import load_model
    from ._progress import CountProgress
    from ._survey_inputs import (
        catalog_columns,
        check_resample_options,
        read_survey_catalog,
        tile_sets,
    )
    from ._tile_jobs import run_dask, run_serial
    from ._tile_plan import plan_tiles

    _check_out(args.out, args.overwrite)
    check_resample_options(args)
    model = load_model(args.model, allow_pickle=args.allow_pickle)
    pipeline = model["pipeline"]
    shape = tuple(model["input_shape"])
    table = read_survey_catalog(args.catalog)
    columns = catalog_columns(
        table,
        id_column=args.id_column,
        ra_column=args.ra_column,
        dec_column=args.dec_column,
    )
    _check_clash(table)
    bands = args.bands if args.bands is not None else model.get("bands")
    tiles = tile_sets(args.images, args.tiles, bands, shape[0])
    options = TileOptions(
        size=int(shape[-1]),
        threshold=_threshold(pipeline, args.threshold),
        batch_size=args.batch_size,
        ra_column=columns.ra,
        dec_column=columns.dec,
        pixel_scale=args.pixel_scale,
        resample=args.resample,
    )
    ra, dec, _ = sky_coordinates(table, columns.ra, columns.dec)
    try:
        plan = plan_tiles(
            ra, dec, tiles, options.size, options.pixel_scale, options.resample
        )
    except ValueError as error:
        option = "--images" if args.images is not None else "--tiles"
        raise CommandError(f"{option}: {error}") from None
    jobs = _jobs(table, columns, plan, tiles)
    partial = PartialRun.open(
        args.out,
        _inputs(args, columns, tiles, options),
        resume=args.resume,
        overwrite=args.overwrite,
    )
    finished = partial.finished()
    todo = [job for job in jobs if job.key not in finished]
    progress = CountProgress("predict", len(table), enabled=not args.quiet)
    if len(todo) < len(jobs):
        progress.advance(sum(len(job.rows) for job in jobs if job.key in finished))

    def done(job: Job, results: dict[str, Any]) -> None:
        partial.save(job.key, job.rows, results)
        progress.advance(len(job.rows))

    try:
        try:
            if args.workers > 1 or args.scheduler is not None:
                run_dask(
                    pipeline,
                    todo,
                    options,
                    done,
                    workers=args.workers,
                    scheduler=args.scheduler,
                )
            else:
                run_serial(pipeline, todo, options, done)
        finally:
            progress.close()
    except BaseException:
        kept = len(partial.finished())
        if not kept:  # nothing to resume
            partial.remove()
        else:
            print(
                f"skdamerge predict: the results of {kept} finished tile(s) are kept "
                f"in {str(partial.folder)!r}; run the same command with --resume to "
                "go on.",
                file=sys.stderr,
            )
        raise
    result = _assemble(table, partial)
    result.meta["MODEL"] = type(pipeline).__name__
    result.meta["METHOD"] = str(model.get("method", ""))
    result.meta["MODELFIL"] = args.model.name
    result.meta["SKDAMVER"] = __version__
    result.meta["THRESH"] = options.threshold
    result.meta["STAMPSZ"] = options.size
    if model.get("n_source") is not None:
        result.meta["NSOURCE"] = int(model["n_source"])
    result.meta.update(training_summary(pipeline))
    write_catalog(result, args.out, overwrite=args.overwrite)
    partial.remove()
    summary = _summary(result, columns, len(tiles), options.threshold)
    print(f"{summary}; wrote {args.out}")
    return 0
