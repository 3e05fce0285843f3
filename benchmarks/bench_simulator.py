"""Time the built-in galaxy-merger simulator.

Run ``python benchmarks/bench_simulator.py [n_samples]``: for each experiment it
generates ``n_samples`` images per domain (default 10,000) and prints the wall time,
images per second per domain and the peak resident memory of the process (which
includes the package imports, reported first, and the returned arrays).
"""

import resource
import sys
import time

from skdamerge.datasets import make_galaxy_mergers


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux and in bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def main(n_samples: int = 10_000) -> None:
    print(f"make_galaxy_mergers({n_samples:_}), 3 x 75 x 75 float32 per image")
    make_galaxy_mergers(64, random_state=0)  # warm-up: imports, FFT plans
    print(f"peak RSS after importing skdamerge: {_peak_rss_mib():.0f} MiB")
    for experiment in ("sim2sim", "sim2real"):
        start = time.perf_counter()
        data = make_galaxy_mergers(n_samples, experiment=experiment, random_state=0)
        elapsed = time.perf_counter() - start
        size_mib = sum(a.nbytes for a in data) / 2**20
        print(
            f"{experiment:9s} {elapsed:7.2f} s  {n_samples / elapsed:8.0f} images/s "
            f"per domain  ({2 * n_samples / elapsed:8.0f} images/s both domains)  "
            f"output {size_mib:6.0f} MiB  peak RSS {_peak_rss_mib():6.0f} MiB"
        )
        del data


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
