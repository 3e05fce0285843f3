"""CPU and GPU fits of one seed agree: MMD and DANN on the built-in simulator.

Fits :class:`~skdamerge.MMDClassifier` and :class:`~skdamerge.DANNClassifier` with
the same seed on the CPU (fp32) and on CUDA (fp32 and ``precision="amp"``) on a
simulated pristine -> noisy shift, and prints the target accuracy of each and the
largest CPU-GPU difference. The two devices sum in different orders, so the fits
are not bit-identical; the check is that they agree in target accuracy within
``--tolerance`` (0.02). Exit status 1 when they do not, 2 without CUDA.

Run (part of ``benchmarks/gpu_check.sh``)::

    python benchmarks/gpu_agreement.py
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import torch

from skdamerge import DANNClassifier, MMDClassifier
from skdamerge.datasets import make_galaxy_mergers, train_valid_test_split
from skdamerge.preprocessing import ChannelStandardizer

ESTIMATORS = {"MMD": MMDClassifier, "DANN": DANNClassifier}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1600)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument(
        "--gpu-device",
        default="cuda",
        help="device compared with the CPU ('cpu' for a dry run of the script)",
    )
    args = parser.parse_args(argv)
    gpu = args.gpu_device
    runs = [("cpu", "fp32"), (gpu, "fp32")] + ([(gpu, "amp")] if gpu != "cpu" else [])
    if gpu.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: the GPU agreement check was not run")
        return 2
    if gpu.startswith("cuda"):
        print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    Xs, ys, Xt, yt = make_galaxy_mergers(
        args.n_samples, experiment="sim2sim", random_state=args.seed
    )
    split = train_valid_test_split(Xs, ys, Xt, yt, random_state=args.seed)
    scaler = ChannelStandardizer().fit(split.X_source_train)
    X = scaler.transform(split.X_source_train)
    Xtgt = scaler.transform(split.X_target_train)
    X_test = scaler.transform(split.X_target_test)
    failed = False
    for name, estimator in ESTIMATORS.items():
        accuracy = {}
        for device, precision in runs:
            clf = estimator(
                max_epochs=args.epochs,
                batch_size=64,
                random_state=args.seed,
                device=device,
                precision=precision,
            )
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(X, split.y_source_train, X_target=Xtgt)
            seconds = time.perf_counter() - start
            accuracy[device, precision] = float(
                np.mean(clf.predict(X_test) == split.y_target_test)
            )
            print(
                f"{name:5s} {device:4s} {precision:4s}: target accuracy "
                f"{accuracy[device, precision]:.3f}  fit {seconds:.0f} s",
                flush=True,
            )
        gap = max(abs(accuracy["cpu", "fp32"] - accuracy[key]) for key in runs[1:])
        verdict = "agree" if gap <= args.tolerance else "DISAGREE"
        print(
            f"{name}: largest CPU-GPU gap {gap:.3f} ({verdict}, tolerance "
            f"{args.tolerance})"
        )
        failed |= gap > args.tolerance
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
