"""Calibration on both domains, before and after temperature scaling.

For each method of ``skdamerge reproduce`` named by ``--methods`` (default: the
source-only baseline, MMD and DANN), on the simulated pristine -> noisy pair
(``sim2sim``, the data, split and standardisation of
:func:`skdamerge.cli._reproduce_data.prepare_data`), the script fits the estimator
with the table's hyperparameters, then fits one temperature on the labelled
*source validation* images with scikit-learn's
``CalibratedClassifierCV(FrozenEstimator(estimator), method="temperature")``, and
prints per method and seed

- the temperature T (> 1: the network was over-confident on the source),
- the expected calibration error (15 equal-width bins of the merger probability),
  the log loss and the accuracy on the source and target test sets, before and
  after scaling.

Run::

    python benchmarks/bench_calibration.py --threads 1
    python benchmarks/bench_calibration.py --methods noDA MMD ADA --seeds 1 2 3 \
        --epochs 12 --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import numpy as np
import torch
from _common import machine_summary
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss

from skdamerge.cli._methods import methods_for
from skdamerge.cli._profiles import PROFILES
from skdamerge.cli._reproduce_data import prepare_data
from skdamerge.metrics import expected_calibration_error


def temperature(calibrated: CalibratedClassifierCV) -> float:
    """Return T of a binary ``method="temperature"`` calibration of ``predict_proba``.

    scikit-learn scales the log-probabilities by its inverse temperature
    ``beta_``; for two classes the scaled log-odds are ``beta_ * logit(p)``, so
    T = 1 / beta_.
    """
    (pipeline,) = calibrated.calibrated_classifiers_
    return 1.0 / float(pipeline.calibrators[0].beta_)


def _scores(y, proba) -> tuple[float, float, float]:
    p = proba[:, 1]
    return (
        expected_calibration_error(y, p),
        float(log_loss(y, proba, labels=[0, 1])),
        float(np.mean((p > 0.5) == (y == 1))),
    )


def _run(method, data, params) -> dict:
    estimator = method.build(**params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(
            data.X_fit,
            data.y_fit,
            X_target=data.X_target_fit,
            validation_data=(data.X_valid, data.y_valid),
        )
    seconds = time.perf_counter() - start
    calibrated = CalibratedClassifierCV(
        FrozenEstimator(estimator), method="temperature"
    ).fit(data.X_valid, data.y_valid)
    row = {"T": temperature(calibrated), "fit_seconds": seconds}
    for domain in ("source", "target"):
        X = getattr(data, f"X_{domain}_test")
        y = getattr(data, f"y_{domain}_test")
        proba = estimator.predict_proba(X)
        scaled = calibrated.predict_proba(X)
        for suffix, values in (("", proba), ("_ts", scaled)):
            ece, nll, acc = _scores(y, values)
            row[f"{domain}_ece{suffix}"] = ece
            row[f"{domain}_nll{suffix}"] = nll
            row[f"{domain}_acc{suffix}"] = acc
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["noDA", "MMD", "ADA"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--n-samples", type=int, default=None, help="(profile's)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    profile = dataclasses.replace(PROFILES[args.profile], max_epochs=args.epochs)
    if args.n_samples:
        profile = dataclasses.replace(
            profile, n_samples={name: args.n_samples for name in profile.n_samples}
        )
    print(machine_summary())
    print(
        f"sim2sim, profile {profile.name} ({profile.n_samples['sim2sim']} images "
        f"per domain), {profile.max_epochs} epochs, seeds {args.seeds}",
        flush=True,
    )
    chosen = list(methods_for("sim2sim", "deepmerge", args.methods))
    rows = []
    for seed in args.seeds:
        data = prepare_data("sim2sim", profile, None, seed)
        for method in chosen:
            params = {**profile.training_overrides(), "random_state": seed}
            row = _run(method, data, params)
            row.update(method=method.name, seed=seed)
            rows.append(row)
            print(f"  {method.name} seed {seed}: fit {row['fit_seconds']:.0f} s")
    print(
        "\n| method | seed | T | source ECE | source ECE (TS) | target ECE | "
        "target ECE (TS) | source NLL | source NLL (TS) | target NLL | "
        "target NLL (TS) | source acc | target acc |"
    )
    print("|---" * 13 + "|")
    for r in rows:
        cells = [
            f"{r['T']:.2f}",
            *(
                f"{r[f'{d}_{m}{s}']:.3f}"
                for m in ("ece", "nll")
                for d in ("source", "target")
                for s in ("", "_ts")
            ),
            f"{r['source_acc']:.3f}",
            f"{r['target_acc']:.3f}",
        ]
        print(f"| {r['method']} | {r['seed']} | " + " | ".join(cells) + " |")
    unchanged = all(
        r[f"{d}_acc"] == r[f"{d}_acc_ts"] for r in rows for d in ("source", "target")
    )
    print(f"\naccuracy unchanged by temperature scaling: {unchanged}")


if __name__ == "__main__":
    main()
