"""Robustness over seeds: each method of ``skdamerge reproduce`` x several seeds.

For every experiment (simulated pristine -> noisy, ``sim2sim``; simulated ->
telescope-like, ``sim2real``) and every method of the reproduce table, the script
draws the data, splits and standardises them exactly as ``skdamerge reproduce``
does (one implementation: :func:`skdamerge.cli._reproduce_data.prepare_data`),
fits with the table's hyperparameters and the profile's training length, and
prints per method the mean +- standard deviation over seeds of

- source and target test accuracy and AUC,
- the predicted target merger fraction (plain count of ``predict``), the
  label-free estimate (``target_merger_fraction_``, when the estimator has one)
  and the true fraction,
- the target accuracy with test-time augmentation (``predict_proba(X,
  tta=True)``, the mean over the eight orientations),
- the fit time (wall clock of ``fit``).

Run::

    python benchmarks/bench_robustness.py                      # both experiments
    python benchmarks/bench_robustness.py --experiments sim2sim --seeds 1 2 3
    python benchmarks/bench_robustness.py --experiments sim2sim --methods noDA MMD \
        --n-samples 1600 --epochs 12 --batch-size 64      # the seed-spread check
    python benchmarks/bench_robustness.py --methods MMD+F --set MMD+F:lr=0.002

``--set METHOD:name=value`` overrides one hyperparameter of one method (for
tuning on the simulator). ``--json FILE`` also writes every run.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import time
import warnings

import numpy as np
import torch
from _common import machine_summary

from skdamerge._engine.target_monitor import (
    fitted_fraction_estimate,
    threshold_for_estimate,
)
from skdamerge.cli._methods import methods_for, pretrained_method
from skdamerge.cli._profiles import PROFILES
from skdamerge.cli._reproduce_data import prepare_data
from skdamerge.metrics import metric_table


def _parse_overrides(items: list[str]) -> dict[str, dict]:
    overrides: dict[str, dict] = {}
    for item in items:
        method, assignment = item.split(":", 1)
        name, value = assignment.split("=", 1)
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
        overrides.setdefault(method, {})[name] = parsed
    return overrides


def _run(method, data, profile_overrides, extra, init_weights=None) -> dict:
    params = {**profile_overrides, **extra}
    if init_weights is not None:
        params["init_weights"] = init_weights
    estimator = method.build(**params)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(
            data.X_fit,
            data.y_fit,
            X_target=data.X_target_fit,
            validation_data=(data.X_valid, data.y_valid),
        )
    seconds = time.perf_counter() - start
    row = {"fit_seconds": seconds}
    for domain in ("source", "target"):
        X = getattr(data, f"X_{domain}_test")
        y = getattr(data, f"y_{domain}_test")
        proba = estimator.predict_proba(X)[:, 1]  # the target's is used below
        table = metric_table(y, proba)
        row[f"{domain}_accuracy"] = table["accuracy"]
        row[f"{domain}_auc"] = table["auc"]
        row[f"{domain}_predicted_fraction"] = float(np.mean(proba > 0.5))
        row[f"{domain}_true_fraction"] = float(np.mean(y == 1))
    # Test-time augmentation: the mean over the eight orientations of each image.
    tta = estimator.predict_proba(data.X_target_test, tta=True)[:, 1]
    row["target_accuracy_tta"] = metric_table(data.y_target_test, tta)["accuracy"]
    estimate = getattr(estimator, "target_merger_fraction_", None)
    threshold = getattr(estimator, "target_threshold_", None)
    if estimate is None:
        # The source-only baseline does not see the target in fit: the same
        # label-free estimate, made after fitting.
        estimate = fitted_fraction_estimate(
            estimator, data.X_target_fit, data.X_valid, data.y_valid, seed=0
        )
        threshold = threshold_for_estimate(
            estimator.predict_proba(data.X_target_fit)[:, 1], estimate
        )
    row["target_estimated_fraction"] = (
        float("nan") if estimate is None else float(estimate.fraction)
    )
    row["estimate_trusted"] = bool(estimate is not None and estimate.trusted)
    # Decisions at the threshold the estimate implies (predict(domain="target")).
    labels = (proba >= (0.5 if threshold is None else threshold)).astype(int)
    row["target_accuracy_at_estimate"] = float(np.mean(labels == data.y_target_test))
    row["target_fraction_at_estimate"] = float(np.mean(labels == 1))
    row["warnings"] = sorted({type(w.message).__name__ for w in caught})
    history = estimator.history_
    row["epoch_target_fractions"] = [
        round(r["target_merger_fraction"], 2)
        for r in history
        if "target_merger_fraction" in r
    ]
    row["best_epoch"] = estimator.best_epoch_
    return row, estimator


def _format(values: list[float]) -> str:
    values = np.asarray(values, dtype=float)
    if np.all(np.isnan(values)):
        return "   -      "
    return f"{np.nanmean(values):.3f}+-{np.nanstd(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=["sim2sim", "sim2real"])
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    parser.add_argument("--set", nargs="*", default=[], dest="overrides")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--n-samples", type=int, default=None, help="images per domain (profile's)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="(profile's)")
    parser.add_argument("--batch-size", type=int, default=None, help="(profile's)")
    parser.add_argument(
        "--history", action="store_true", help="print the target fraction per epoch"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = _parse_overrides(args.overrides)
    profile = PROFILES[args.profile]
    changes = {}
    if args.n_samples:
        changes["n_samples"] = {name: args.n_samples for name in profile.n_samples}
        changes["description"] = f"{args.n_samples} images per domain"
    if args.epochs:
        changes["max_epochs"] = args.epochs
    if args.batch_size:
        changes["batch_size"] = args.batch_size
    if changes:
        profile = dataclasses.replace(profile, name=f"{profile.name}*", **changes)
        print(f"overrides: {changes}")
    print(machine_summary())
    print(f"profile {profile.name}: {profile.description}; seeds {args.seeds}")
    runs = []
    for experiment in args.experiments:
        # The paper's rows, or the rows and registered methods named by --methods.
        chosen = list(methods_for(experiment, "deepmerge", args.methods))
        results: dict[str, list[dict]] = {m.name: [] for m in chosen}
        for seed in args.seeds:
            data = prepare_data(experiment, profile, None, seed)
            sources = {}
            if any(m.transfer_from for m in chosen):
                sim2sim = prepare_data("sim2sim", profile, None, seed)
                base = pretrained_method("deepmerge")
                _, model = _run(
                    base,
                    sim2sim,
                    {**profile.training_overrides(), "random_state": seed},
                    overrides.get(f"sim2sim:{base.name}", {}),
                )
                sources[base.name] = model
            for method in chosen:
                row, _ = _run(
                    method,
                    data,
                    {**profile.training_overrides(), "random_state": seed},
                    overrides.get(method.name, {}),
                    init_weights=sources.get(method.transfer_from),
                )
                row.update(experiment=experiment, method=method.name, seed=seed)
                results[method.name].append(row)
                runs.append(row)
                print(
                    f"  {experiment} {method.name:7s} seed {seed}: target acc "
                    f"{row['target_accuracy']:.3f} AUC {row['target_auc']:.3f} "
                    f"fraction {row['target_predicted_fraction']:.2f} (est. "
                    f"{row['target_estimated_fraction']:.2f}"
                    f"{'' if row['estimate_trusted'] else ' untrusted'}, true "
                    f"{row['target_true_fraction']:.2f}) at estimate: acc "
                    f"{row['target_accuracy_at_estimate']:.3f} fraction "
                    f"{row['target_fraction_at_estimate']:.2f}; with TTA "
                    f"{row['target_accuracy_tta']:.3f}; source acc "
                    f"{row['source_accuracy']:.3f} {row['fit_seconds']:.0f} s "
                    f"{' '.join(row['warnings'])}",
                    flush=True,
                )
                if args.history and row["epoch_target_fractions"]:
                    print(
                        f"    target fraction per epoch (best {row['best_epoch']}): "
                        f"{row['epoch_target_fractions']}"
                    )
        print(f"\n{experiment}: mean +- std over seeds {args.seeds}")
        header = (
            f"{'method':8s} {'source acc':>12s} {'target acc':>12s} "
            f"{'target AUC':>12s} {'pred. frac.':>12s} {'est. frac.':>12s} "
            f"{'acc at est.':>12s} {'acc (TTA)':>12s} {'true frac.':>6s} "
            f"{'fit s':>6s}"
        )
        print(header)
        for name, rows in results.items():
            col = {key: [r[key] for r in rows] for key in rows[0]}
            print(
                f"{name:8s} {_format(col['source_accuracy']):>12s} "
                f"{_format(col['target_accuracy']):>12s} "
                f"{_format(col['target_auc']):>12s} "
                f"{_format(col['target_predicted_fraction']):>12s} "
                f"{_format(col['target_estimated_fraction']):>12s} "
                f"{_format(col['target_accuracy_at_estimate']):>12s} "
                f"{_format(col['target_accuracy_tta']):>12s} "
                f"{np.mean(col['target_true_fraction']):6.2f} "
                f"{np.mean(col['fit_seconds']):6.0f}"
            )
        print()
    if args.json:
        with open(args.json, "w") as file:
            json.dump(runs, file, indent=1, default=str)


if __name__ == "__main__":
    main()
