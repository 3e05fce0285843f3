"""Throughput of ``skdamerge predict --catalog``: serial against Dask workers.

A synthetic survey is written to a temporary folder: a grid of 3-band FITS tiles
(noise and Gaussian blobs, a TAN WCS at 0.4 arcsec/pixel, neighbouring tiles
overlapping by a stamp) and a catalog of objects at random positions on them. A
small source-only model is trained for one epoch with ``skdamerge fit`` (its
weights do not matter for speed). Then the same command line,
``skdamerge predict --model M --catalog CAT --tiles 'tiles/*_{band}.fits' ...``,
runs in this process; with ``--workers N`` (a ``distributed.LocalCluster`` of N
single-threaded processes started by the command: start-up included); and with
``--scheduler`` on a cluster of N processes started beforehand (the steady state
of a long run). The script prints the objects per second of each (wall time of
the whole command) and checks that the catalogs are equal. It also prints the
peak memory of the serial command above the memory before it (it stays at the
size of one tile's stamps however many objects the catalog holds; try
``--objects 40000``) and the peak memory of the warm workers.

Run::

    python benchmarks/bench_catalog.py                      # a minute or two
    python benchmarks/bench_catalog.py --objects 20000 --grid 4 --workers 2 4
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import current_rss_mib, machine_summary, peak_rss_mib

BANDS = ("g", "r", "i")
SCALE = 0.4  # arcsec / pixel


def _wcs(column: int, row: int, step: int):
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    # tile (column, row) starts step * (column, row) pixels from the grid's origin
    wcs.wcs.crpix = [1.0 - step * column, 1.0 - step * row]
    wcs.wcs.cdelt = [-SCALE / 3600.0, SCALE / 3600.0]
    return wcs


def write_survey(folder: Path, args) -> None:
    """Write the tiles under ``folder/tiles`` and the catalog ``objects.fits``."""
    from astropy.io import fits
    from astropy.table import Table

    rng = np.random.default_rng(0)
    step = args.tile_size - args.image_size  # neighbours overlap by a stamp
    (folder / "tiles").mkdir()
    side = step * args.grid + args.image_size
    x = rng.uniform(0, side, args.objects)
    y = rng.uniform(0, side, args.objects)
    grid_y, grid_x = np.mgrid[: args.tile_size, : args.tile_size]
    for row in range(args.grid):
        for column in range(args.grid):
            wcs = _wcs(column, row, step)
            local_x, local_y = x - step * column, y - step * row
            inside = (
                (local_x > -5)
                & (local_x < args.tile_size + 5)
                & (local_y > -5)
                & (local_y < args.tile_size + 5)
            )
            for band in BANDS:
                data = rng.normal(0, 0.05, (args.tile_size, args.tile_size))
                for xo, yo in zip(local_x[inside], local_y[inside], strict=True):
                    near = (abs(grid_x - xo) < 8) & (abs(grid_y - yo) < 8)
                    data[near] += np.exp(
                        -((grid_x[near] - xo) ** 2 + (grid_y[near] - yo) ** 2) / 8.0
                    )
                name = folder / "tiles" / f"{row:02d}{column:02d}_{band}.fits"
                hdu = fits.PrimaryHDU(data.astype(np.float32), header=wcs.to_header())
                hdu.writeto(name)
    sky = _wcs(0, 0, step).pixel_to_world(x, y)
    Table(
        {
            "id": np.arange(args.objects),
            "ra": sky.ra.deg,
            "dec": sky.dec.deg,
        }
    ).write(folder / "objects.fits")


def train_model(folder: Path, args) -> Path:
    """A source-only model of 3-band stamps, trained for one epoch."""
    from skdamerge.cli import main

    rng = np.random.default_rng(1)
    X = rng.standard_normal((256, 3, args.image_size, args.image_size))
    np.save(folder / "X.npy", X.astype(np.float32))
    np.save(folder / "y.npy", np.tile([0, 1], 128))
    model = folder / "model.skdm"
    status = main(
        [
            "fit", "--source", str(folder / "X.npy"), "--labels",
            str(folder / "y.npy"), "--method", "source-only", "--param",
            "max_epochs=1", "--param", "validation_fraction=None", "--device",
            "cpu", "--quiet", "--model", str(model),
        ]
    )  # fmt: skip
    if status != 0:
        raise SystemExit("training the benchmark model failed")
    return model


def predict(folder: Path, model: Path, out: str, *options: str) -> float:
    """Seconds of one ``skdamerge predict --catalog`` command."""
    from skdamerge.cli import main

    start = time.perf_counter()
    status = main(
        [
            "predict", "--model", str(model), "--catalog",
            str(folder / "objects.fits"), "--tiles",
            str(folder / "tiles" / "*_{band}.fits"), "--bands", *BANDS,
            "--quiet", "--out", str(folder / out), *options,
        ]
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"skdamerge predict {' '.join(options)} failed")
    return seconds


@contextlib.contextmanager
def memory_growth():
    """Yield a dict whose ``"mib"`` is the peak memory above the start, at exit.

    A thread samples the resident memory every 20 ms (the process's lifetime
    peak, ``ru_maxrss``, would include the survey written before).
    """
    start = current_rss_mib()
    result = {"mib": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            result["mib"] = max(result["mib"], current_rss_mib() - start)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()
        result["mib"] = max(result["mib"], current_rss_mib() - start)


def _worker_peak_mib() -> float:
    """Peak resident memory of a Dask worker process, in MiB."""
    return peak_rss_mib()


def _values(column) -> np.ndarray:
    """A column as floats, NaN where FITS read it back as masked."""
    return np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)


@contextlib.contextmanager
def warm_cluster(workers: int):
    """A local cluster of ``workers`` processes that have imported skdamerge."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(importlib.import_module, "skdamerge.catalog")
        yield cluster.scheduler_address, client


def report(label: str, seconds: float, serial, path: Path, args) -> None:
    """Print the rate of a parallel run and whether its catalog is the serial one."""
    from astropy.table import Table

    parallel = Table.read(path)
    same = all(
        np.array_equal(_values(serial[c]), _values(parallel[c]), equal_nan=True)
        for c in ("flag", "is_merger", "p_merger")
    )
    print(
        f"{label:<24} {seconds:6.1f} s  {args.objects / seconds:8.0f} objects/s  "
        f"(same catalog: {same})"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=4000)
    parser.add_argument("--grid", type=int, default=3, help="tiles per side")
    parser.add_argument("--tile-size", type=int, default=600, help="pixels")
    parser.add_argument("--image-size", type=int, default=32, help="stamp side")
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    args = parser.parse_args(argv)

    from astropy.table import Table

    print(machine_summary())
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        write_survey(folder, args)
        model = train_model(folder, args)
        n_tiles = args.grid**2
        print(
            f"{args.objects} objects on {n_tiles} tiles of {args.tile_size}^2 "
            f"pixels x {len(BANDS)} bands, {args.image_size}x{args.image_size} stamps"
        )
        with memory_growth() as memory:
            seconds = predict(folder, model, "serial.fits", "--threads", "1")
        rate = args.objects / seconds
        print(
            f"{'serial, 1 torch thread':<24} {seconds:6.1f} s  {rate:8.0f} objects/s"
            f"  (peak memory +{memory['mib']:.0f} MiB)"
        )
        serial = Table.read(folder / "serial.fits")
        for workers in args.workers:
            out = f"workers{workers}.fits"
            seconds = predict(folder, model, out, "--workers", str(workers))
            report(f"--workers {workers} (cold)", seconds, serial, folder / out, args)
            with warm_cluster(workers) as (address, client):
                out = f"warm{workers}.fits"
                seconds = predict(folder, model, out, "--scheduler", address)
                peaks = client.run(_worker_peak_mib).values()
            print(f"  warm workers' peak memory: {max(peaks):.0f} MiB each at most")
            report(f"--scheduler, {workers} warm", seconds, serial, folder / out, args)


if __name__ == "__main__":
    main()
