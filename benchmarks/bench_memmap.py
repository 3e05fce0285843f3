"""Out-of-core training and prediction: resident memory while the data stays on disk.

Writes a source and a target ``.npy`` file of random 3x75x75 float32 images in
chunks (the data is never held in memory), opens them with
``np.load(path, mmap_mode="r")``, fits an estimator on the memory maps and streams
``predict_proba`` over them, and optionally over the same images in an HDF5
dataset (h5py) and a zarr array. A sampling thread records the resident memory
(RSS) of the process; the script prints the peak RSS and its growth over the
baseline of each phase, next to the size of the data.

Disk space: 67.5 kB per image, so ``--n 100000`` (the issue's 100,000 images) needs
6.75 GB for the source file plus the target file (``--n-target``, default n/4:
1.7 GB), and the same again for each extra format. A full epoch over 100,000
images takes long on 2 cores; ``--max-steps`` stops training after that many
steps (the validation pass of the epoch is then skipped) and ``--predict-n`` limits
the images classified.

Examples
--------
::

    python benchmarks/bench_memmap.py                      # 1-2 minutes, ~0.4 GB
    python benchmarks/bench_memmap.py --formats memmap h5py zarr
    python benchmarks/bench_memmap.py --n 100000 --max-steps 100 --predict-n 20000
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from _common import current_rss_mib, machine_summary

from skdamerge import MMDClassifier, SourceOnlyClassifier

IMAGE_SHAPE = (3, 75, 75)


class RSSMonitor:
    """Sample this process's resident memory in a background thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = current_rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss_mib())
            time.sleep(self.interval)

    def __enter__(self):
        self.start = current_rss_mib()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_mib())


def write_npy(path: Path, n: int, seed: int, chunk: int = 2000) -> None:
    """Write ``n`` random images to a ``.npy`` file, ``chunk`` at a time."""
    rng = np.random.default_rng(seed)
    header = {"descr": "<f4", "fortran_order": False, "shape": (n, *IMAGE_SHAPE)}
    with open(path, "wb") as file:
        np.lib.format.write_array_header_2_0(file, header)
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            file.write(rng.standard_normal((size, *IMAGE_SHAPE), np.float32).data)


def copy_to(fmt: str, source, directory: Path):
    """The same images in an HDF5 dataset or a zarr array, copied in chunks."""
    n = len(source)
    chunk = 1000
    if fmt == "h5py":
        import h5py

        file = h5py.File(directory / "images.h5", "w")
        dataset = file.create_dataset(
            "X", shape=source.shape, dtype="f4", chunks=(256, *IMAGE_SHAPE)
        )
    else:
        import zarr

        dataset = zarr.open_array(
            str(directory / "images.zarr"),
            mode="w",
            shape=source.shape,
            chunks=(256, *IMAGE_SHAPE),
            dtype="f4",
        )
    for start in range(0, n, chunk):
        dataset[start : start + chunk] = np.asarray(source[start : start + chunk])
    return dataset


def stop_after(max_steps: int | None):
    """Stop each fit after ``max_steps`` training steps (as Ctrl-C would)."""
    from skorch import NeuralNet

    original = NeuralNet.on_batch_end
    if not max_steps:
        return original
    count = {"steps": 0}

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        original(self, net, batch=batch, training=training, **kwargs)
        if training:
            count["steps"] += 1
            if count["steps"] >= max_steps:
                raise KeyboardInterrupt

    NeuralNet.on_batch_end = on_batch_end
    return original


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="source images")
    parser.add_argument("--n-target", type=int, default=None, help="default n/4")
    parser.add_argument("--method", default="mmd", choices=["mmd", "source-only"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--predict-n", type=int, default=None)
    parser.add_argument(
        "--formats", nargs="+", default=["memmap"], choices=["memmap", "h5py", "zarr"]
    )
    parser.add_argument("--dir", default=None, help="where to write the files")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    n_target = args.n_target or max(args.n // 4, 256)
    directory = Path(tempfile.mkdtemp(dir=args.dir, prefix="skdamerge-memmap-"))
    image_mib = np.prod(IMAGE_SHAPE) * 4 / 2**20
    print(f"machine: {machine_summary()}")
    print(
        f"data: {args.n} source + {n_target} target images of 3x75x75 float32 "
        f"({args.n * image_mib:.0f} + {n_target * image_mib:.0f} MiB) in {directory}"
    )
    try:
        start = time.perf_counter()
        write_npy(directory / "source.npy", args.n, 0)
        write_npy(directory / "target.npy", n_target, 1)
        print(f"  written in {time.perf_counter() - start:.1f} s")
        X = np.load(directory / "source.npy", mmap_mode="r")
        X_target = np.load(directory / "target.npy", mmap_mode="r")
        y = np.arange(args.n) % 2
        Estimator = MMDClassifier if args.method == "mmd" else SourceOnlyClassifier
        estimator = Estimator(
            max_epochs=args.epochs, random_state=0, device="cpu", verbose=0
        )
        # Warm-up on a few in-memory images: the network's working set
        # (activations, gradients, allocator caches) is then in the baseline, and
        # the growth below is what the data path adds.
        with RSSMonitor() as warm_up:
            Estimator(max_epochs=1, random_state=0, device="cpu").fit(
                np.asarray(X[:512]), y[:512], X_target=np.asarray(X_target[:512])
            )
        print(
            f"warm-up fit on 512 in-memory images: RSS {warm_up.start:.0f} MiB "
            f"before, peak {warm_up.peak:.0f} MiB"
        )
        original = stop_after(args.max_steps)
        try:
            with RSSMonitor() as rss:
                start = time.perf_counter()
                estimator.fit(X, y, X_target=X_target)
                elapsed = time.perf_counter() - start
        finally:
            from skorch import NeuralNet

            NeuralNet.on_batch_end = original
        data_mib = (args.n + n_target) * image_mib
        print(
            f"fit {args.method} ({elapsed:.0f} s): RSS {rss.start:.0f} MiB before, "
            f"peak {rss.peak:.0f} MiB ({rss.peak - warm_up.peak:+.0f} MiB over the "
            f"warm-up's peak) for {data_mib:.0f} MiB of data"
        )
        n_predict = args.predict_n or args.n
        for fmt in args.formats:
            data = X[:n_predict]
            if fmt != "memmap":
                data = copy_to(fmt, data, directory)
            with RSSMonitor() as rss:
                start = time.perf_counter()
                proba = estimator.predict_proba(data)
                elapsed = time.perf_counter() - start
            print(
                f"predict_proba over {fmt} ({n_predict} images, "
                f"{n_predict * image_mib:.0f} MiB, {n_predict / elapsed:.0f} "
                f"images/s): RSS {rss.start:.0f} MiB before, peak {rss.peak:.0f} "
                f"MiB, growth {rss.peak - rss.start:.0f} MiB; "
                f"finite: {bool(np.isfinite(proba).all())}"
            )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
