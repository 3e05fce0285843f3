"""Classify a survey tile by tile: in this process, or on Dask workers.

Each job is one tile and the catalog rows cut from it (see :mod:`._tile_plan`);
:func:`classify_tile` runs :func:`skdamerge.catalog.classify_catalog` on those
rows and that tile alone, a few batches of objects at a time, so a process holds
a few batches of stamps, whatever the size of the catalog or of the tile.
:func:`run_serial` runs the jobs in order; :func:`run_dask` runs them on a
``distributed`` cluster (a ``LocalCluster`` of ``workers`` single-threaded
processes, or an existing scheduler), with the model sent to every worker once
(``client.scatter(..., broadcast=True)``). Either way ``done(job, results)`` is
called in this process as each tile finishes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Job", "TileOptions", "classify_tile", "run_dask", "run_serial"]

# Batches of stamps cut and held at a time, per tile.
_CHUNK_BATCHES = 8
# Seconds to wait for a scheduler given with --scheduler.
_CONNECT_SECONDS = 20


class Job(NamedTuple):
    """One tile and the catalog rows cut from it."""

    key: str
    files: tuple[Path, ...]
    rows: np.ndarray
    coordinates: Any  # astropy Table of the rows' RA and Dec columns


class TileOptions(NamedTuple):
    """The options of :func:`~skdamerge.catalog.classify_catalog` for every tile."""

    size: int
    threshold: float
    batch_size: int
    ra_column: str
    dec_column: str
    pixel_scale: float | None
    resample: bool = False


def classify_tile(
    model: Any,
    coordinates: Any,
    files: Sequence[Path],
    options: TileOptions,
    torch_threads: int | None = None,
) -> dict[str, np.ndarray]:
    """Classify the objects of one tile.

    Parameters
    ----------
    model : fitted pipeline or estimator
        The model.
    coordinates : astropy.table.Table
        The RA and Dec columns of the tile's objects.
    files : sequence of Path
        The tile's band files.
    options : TileOptions
        Stamp size, threshold, batch size, coordinate columns, pixel scale.
    torch_threads : int or None, default=None
        PyTorch threads while classifying (on a worker); None leaves them.

    Returns
    -------
    dict
        ``p_merger``, ``is_merger``, ``flag`` and ``flag_reason`` arrays, in the
        order of ``coordinates``.

    Notes
    -----
    The objects are cut and classified a few batches at a time (eight times
    ``options.batch_size``), so memory holds that many stamps at most, however
    many objects the tile holds.
    """
    from ..catalog import OUTPUT_COLUMNS, classify_catalog

    if torch_threads is not None:
        import torch

        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
    parts = []
    # a few batches of stamps at a time: a crowded tile never fills the memory
    step = _CHUNK_BATCHES * options.batch_size
    for start in range(0, max(len(coordinates), 1), step):
        parts.append(
            classify_catalog(
                model,
                coordinates[start : start + step],
                list(files),
                size=options.size,
                threshold=options.threshold,
                batch_size=options.batch_size,
                ra_column=options.ra_column,
                dec_column=options.dec_column,
                pixel_scale=options.pixel_scale,
                resample=options.resample,
            )
        )
    return {
        name: np.concatenate([np.asarray(part[name]) for part in parts])
        for name in OUTPUT_COLUMNS
    }


Done = Callable[[Job, dict[str, np.ndarray]], None]


def run_serial(model: Any, jobs: Sequence[Job], options: TileOptions, done: Done):
    """Classify the tiles one after another in this process.

    Parameters
    ----------
    model : fitted pipeline or estimator
        The model.
    jobs : sequence of Job
        The tiles.
    options : TileOptions
        The options of every tile.
    done : callable
        Called with each job and its results as it finishes.
    """
    for job in jobs:
        done(job, classify_tile(model, job.coordinates, job.files, options))


def local_cluster(workers: int):
    """Return a ``distributed.LocalCluster`` of ``workers`` single-threaded processes.

    Parameters
    ----------
    workers : int
        Worker processes.

    Returns
    -------
    distributed.LocalCluster
        The cluster, without a dashboard, logging errors only.
    """
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )


@contextmanager
def _client(workers: int, scheduler: str | None):
    try:
        from distributed import Client
    except ImportError:
        from ._errors import CommandError

        raise CommandError(
            "--workers and --scheduler need dask.distributed: pip install "
            "'skdamerge[dask]'."
        ) from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=_CONNECT_SECONDS)
        except (OSError, TimeoutError, ValueError) as error:
            from ._errors import CommandError

            raise CommandError(
                f"--scheduler {scheduler!r}: could not connect to a Dask scheduler "
                f"({error}); check the address (e.g. tcp://host:8786)."
            ) from None
        with client:
            yield client
        return
    with local_cluster(workers) as cluster, Client(cluster) as client:
        yield client


def run_dask(
    model: Any,
    jobs: Sequence[Job],
    options: TileOptions,
    done: Done,
    *,
    workers: int,
    scheduler: str | None = None,
):
    """Classify the tiles in parallel on a Dask cluster.

    Parameters
    ----------
    model : fitted pipeline or estimator
        The model, scattered to every worker once.
    jobs : sequence of Job
        The tiles.
    options : TileOptions
        The options of every tile.
    done : callable
        Called in this process with each job and its results as it finishes
        (in the order they finish).
    workers : int
        Worker processes of the local cluster (ignored with ``scheduler``).
    scheduler : str or None, default=None
        Address of a running scheduler (e.g. ``tcp://host:8786``).
    """
    if not jobs:
        return
    from distributed import as_completed

    with _client(workers, scheduler) as client:
        shipped = client.scatter(model, broadcast=True, hash=False)
        futures = {
            client.submit(
                classify_tile,
                shipped,
                job.coordinates,
                job.files,
                options,
                1,
                pure=False,
            ): job
            for job in jobs
        }
        try:
            for future in as_completed(futures):
                done(futures[future], future.result())
        finally:
            client.cancel(list(futures))
