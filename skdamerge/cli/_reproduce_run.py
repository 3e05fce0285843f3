"""The runner behind ``skdamerge reproduce``: train the paper's methods, report, plot.

One run prepares the data of one experiment (:mod:`skdamerge.cli._reproduce_data`),
trains each method of the paper's table with its Table A2/A3 hyperparameters
(:mod:`skdamerge.cli._methods`), evaluates it on the source and target test sets
and writes the table (JSON, CSV, Markdown) and the figures.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..metrics import compare_reports, domain_adaptation_report
from ._io import write_atomic, write_text
from ._methods import (
    PAPER_ACCURACY,
    Method,
    methods_for,
    pretrained_method,
    pretrained_weights_file,
    saves_pretrained_weights,
)
from ._profiles import PROFILES, Profile
from ._progress import epoch_progress
from ._reproduce_data import ExperimentData, prepare_data
from ._reproduce_figures import draw_figures

__all__ = ["ReproduceConfig", "command_line", "run_reproduce"]


@dataclass(frozen=True)
class ReproduceConfig:
    """Options of one ``skdamerge reproduce`` run (see ``skdamerge reproduce -h``).

    Parameters
    ----------
    experiment : {"sim2sim", "sim2real"}
        Pair of domains.
    backbone : {"deepmerge", "resnet18"}
        Network.
    profile : {"quick", "paper", "tiny"}
        Data size and training length.
    out : Path
        Output folder (created if needed).
    data : Path or None, default=None
        Folder with the published DeepMerge II files; None uses the simulator.
    device : str, default="auto"
        Torch device.
    seed : int, default=1
        Seed of the data, the split, the weights and the batches (the paper's
        seed is 1).
    pretrained : Path or None, default=None
        Weights file of a simulation-to-simulation model for the transfer-learning
        run of ``sim2real``; None trains one first.
    methods : tuple of str or None, default=None
        Rows to train (see :func:`~skdamerge.cli._methods.methods_for`); None
        trains the paper's table.
    command : str, default=""
        The command line, recorded in ``results.json``.
    """

    experiment: str
    backbone: str
    profile: str
    out: Path
    data: Path | None = None
    device: str = "auto"
    seed: int = 1
    pretrained: Path | None = None
    methods: tuple[str, ...] | None = None
    command: str = ""


def _log(message: str = "") -> None:
    print(message, file=sys.stderr, flush=True)


# -- training -------------------------------------------------------------------------
def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray):
        return _json_value(value.tolist())
    return str(value)


def _summary(name: str, estimator, report, seconds: float) -> str:
    source, target = report.source, report.target
    return (
        f"done {name}: {estimator.n_epochs_} epochs (best {estimator.best_epoch_}) "
        f"in {seconds:.0f} s | source acc {source['accuracy']:.2f} "
        f"AUC {source['auc']:.2f} | target acc {target['accuracy']:.2f} "
        f"AUC {target['auc']:.2f}"
    )


def _fit_method(
    method: Method,
    data: ExperimentData,
    overrides: dict[str, Any],
    label: str,
):
    estimator = method.build(**overrides)
    start = time.monotonic()
    with epoch_progress(estimator, label):
        estimator.fit(
            data.X_fit,
            data.y_fit,
            X_target=data.X_target_fit,
            validation_data=(data.X_valid, data.y_valid),
        )
    seconds = time.monotonic() - start
    report = domain_adaptation_report(
        estimator,
        data.X_source_test,
        data.y_source_test,
        data.X_target_test,
        data.y_target_test,
    )
    _log(_summary(label, estimator, report, seconds))
    return estimator, report, seconds


def _save_weights(estimator, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, estimator.save_weights)


def _pretrained_weights(
    config: ReproduceConfig, profile: Profile, overrides: dict[str, Any]
) -> tuple[Path, dict[str, Any]]:
    """Weights of a simulation-to-simulation model, for transfer learning."""
    if config.pretrained is not None:
        if not Path(config.pretrained).is_file():
            raise FileNotFoundError(
                f"--pretrained file {str(config.pretrained)!r} does not exist."
            )
        return Path(config.pretrained), {"weights": str(config.pretrained)}
    source_method = pretrained_method(config.backbone)
    _log(
        "Transfer learning starts from a simulation-to-simulation model: training "
        f"sim2sim {source_method.name} (Table A2) first."
    )
    data = prepare_data("sim2sim", profile, config.data, config.seed)
    _log(f"data: {data.description}")
    estimator, report, seconds = _fit_method(
        source_method, data, overrides, f"sim2sim {source_method.name}"
    )
    path = _save_weights(
        estimator, config.out / pretrained_weights_file(config.backbone)
    )
    return path, {
        "weights": str(path),
        "method": source_method.name,
        "data": data.description,
        "n_epochs": estimator.n_epochs_,
        "best_epoch": estimator.best_epoch_,
        "fit_seconds": round(seconds, 1),
        **report.to_dict(),
    }


# -- the run --------------------------------------------------------------------------
def run_reproduce(config: ReproduceConfig) -> dict[str, Any]:
    """Run the experiment of ``config``; print and write the results.

    Parameters
    ----------
    config : ReproduceConfig
        The options.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    start = time.monotonic()
    profile = PROFILES[config.profile]
    methods = methods_for(config.experiment, config.backbone, config.methods)
    config.out.mkdir(parents=True, exist_ok=True)
    overrides = {
        **profile.training_overrides(),
        "random_state": config.seed,
        "device": config.device,
    }
    _log(
        f"skdamerge reproduce: {config.experiment}, backbone {config.backbone}, "
        f"profile {profile.name} ({profile.description}), seed {config.seed}, "
        f"device {config.device}"
    )

    pretraining = None
    weights = None
    if any(m.transfer_from for m in methods):
        weights, pretraining = _pretrained_weights(config, profile, overrides)

    data = prepare_data(config.experiment, profile, config.data, config.seed)
    _log(f"data: {data.description}")
    _log(f"standardisation: {data.standardization}")
    _log(
        "split 70/10/20 per domain: "
        + "; ".join(
            f"{domain} " + "/".join(str(n) for n in parts.values())
            for domain, parts in data.sizes.items()
        )
    )

    estimators, reports, entries = {}, {}, {}
    for index, method in enumerate(methods, start=1):
        _log(f"[{index}/{len(methods)}] {method.name}: {method.title}")
        method_overrides = dict(overrides)
        if method.transfer_from:
            method_overrides["init_weights"] = str(weights)
        estimator, report, seconds = _fit_method(
            method, data, method_overrides, method.name
        )
        estimators[method.name] = estimator
        reports[method.name] = report
        paper = PAPER_ACCURACY.get((config.experiment, config.backbone), {})
        entries[method.name] = {
            "title": method.title,
            "estimator": type(estimator).__name__,
            "deviation_from_paper": method.deviation,
            "paper_accuracy": _paper_accuracy(paper, method.name),
            "params": {
                key: value
                for key, value in estimator.get_params().items()
                if key in method.params or key in method_overrides
            },
            "n_epochs": estimator.n_epochs_,
            "best_epoch": estimator.best_epoch_,
            "fit_seconds": round(seconds, 1),
            **report.to_dict(),
        }
        if saves_pretrained_weights(config.experiment, method):
            path = config.out / pretrained_weights_file(config.backbone)
            entries[method.name]["weights"] = str(_save_weights(estimator, path))

    comparison = compare_reports(reports)
    header = (
        f"DeepMerge II Table 1 layout: {config.experiment}, {config.backbone}, "
        f"profile {profile.name}; test images: source "
        f"{data.sizes['source']['test']}, target {data.sizes['target']['test']}"
    )
    notes = _notes(config, methods, data)
    print(header)
    print(comparison.to_string())
    print()
    print("\n".join(notes))
    sys.stdout.flush()

    untrained = methods[0].build(**overrides)
    figures = draw_figures(config, profile, data, estimators, untrained, reports)
    results = {
        "skdamerge_version": __version__,
        "command": config.command,
        "experiment": config.experiment,
        "backbone": config.backbone,
        "profile": profile.name,
        "profile_description": profile.description,
        "training": profile.training_overrides(),
        "n_samples_per_domain": profile.n_samples[config.experiment],
        "seed": config.seed,
        "device": _resolved_device(config.device),
        # A fit's result depends on the thread count as well as on the seed.
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "data": data.description,
        "standardization": data.standardization,
        "n_images": data.sizes,
        "methods": entries,
        "pretraining": pretraining,
        "figures": [p.name for p in figures],
        "wall_seconds": round(time.monotonic() - start, 1),
    }
    write_text(
        config.out / "results.json", json.dumps(_json_value(results), indent=2) + "\n"
    )
    write_text(config.out / "results.csv", comparison.to_csv(decimals=4))
    write_text(
        config.out / "results.md",
        f"# skdamerge reproduce: {config.experiment}, {config.backbone}, "
        f"profile {profile.name}\n\n{header}.\n\n{comparison.to_markdown()}\n"
        + "\n".join(f"- {note}" for note in notes)
        + "\n",
    )
    print(
        f"wrote results.json, results.csv, results.md and {len(figures)} figures "
        f"to {config.out} in {results['wall_seconds']:.0f} s"
    )
    return results


def _paper_accuracy(paper: dict, name: str) -> dict[str, float] | None:
    if name not in paper:
        return None
    source, target = paper[name]
    return {"source": source, "target": target}


def _resolved_device(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _notes(config: ReproduceConfig, methods, data: ExperimentData) -> list[str]:
    """Lines after the table: the paper's accuracies and the deviations."""
    paper = PAPER_ACCURACY.get((config.experiment, config.backbone), {})
    table = "Table 1" if config.experiment == "sim2sim" else "Table 2"
    notes = [
        f"Paper ({table}) accuracy source/target: "
        + ", ".join(
            f"{name} {source:.2f}/{target:.2f}"
            for name, (source, target) in paper.items()
        )
        + "."
    ]
    notes += [f"{m.name}: {m.deviation}." for m in methods if m.deviation]
    if config.data is None:
        notes.append(
            "Data: the built-in simulator, a synthetic analogue of the paper's "
            "Illustris/SDSS images; compare trends, not digits."
        )
    return notes


def command_line(argv: list[str]) -> str:
    """Return ``skdamerge`` plus the quoted arguments, for the records."""
    return shlex.join(["skdamerge", *argv])
