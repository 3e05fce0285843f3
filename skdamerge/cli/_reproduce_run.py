"""The runner behind ``skdamerge reproduce``: train the paper's methods, report, plot.

One run takes the data of one experiment (the built-in simulator, or the published
files), splits each domain 70/10/20 (training / validation / test), standardises
every channel with statistics of the labelled source images used for fitting only
(for ``sim2real`` domains in different pixel units, the target with statistics of
its own training images), trains each method of the paper's table with its Table
A2/A3 hyperparameters, evaluates it on the source and target test sets and writes
the table (JSON, CSV, Markdown) and the figures.
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
from sklearn.model_selection import train_test_split

from .. import __version__
from ..datasets import load_deepmerge, make_galaxy_mergers, train_valid_test_split
from ..inspection import METRICS
from ..metrics import compare_reports, domain_adaptation_report
from ..preprocessing import ChannelStandardizer, DomainStandardizer, pixel_units_differ
from ._figures import (
    gradcam_figure,
    history_figures,
    latent_figure,
    metrics_figure,
    score_histograms_figure,
)
from ._io import write_atomic, write_text
from ._methods import (
    PAPER_ACCURACY,
    PROFILES,
    TARGET_STANDARDIZATION,
    Method,
    Profile,
    methods_for,
)
from ._progress import epoch_progress

__all__ = ["ReproduceConfig", "run_reproduce"]

_PARTS = ("train", "valid", "test")


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
    command: str = ""


def _log(message: str = "") -> None:
    print(message, file=sys.stderr, flush=True)


# -- data ---------------------------------------------------------------------------
@dataclass
class _Data:
    """Standardised fitting and test data of one experiment."""

    X_fit: np.ndarray
    y_fit: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    X_target_fit: np.ndarray
    X_source_test: np.ndarray
    y_source_test: np.ndarray
    X_target_test: np.ndarray
    y_target_test: np.ndarray
    idx_source_test: np.ndarray
    idx_target_test: np.ndarray
    sizes: dict[str, dict[str, int]]
    description: str
    paired: bool
    standardization: str = "source statistics"


def _subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of a class-stratified random subset of ``n`` samples."""
    if n >= len(y):
        return np.arange(len(y))
    counts = np.bincount(y, minlength=2)
    stratify = y if counts.min() >= 2 else None
    idx, _ = train_test_split(
        np.arange(len(y)), train_size=n, stratify=stratify, random_state=seed
    )
    return np.sort(idx)


def _raw_data(experiment: str, profile: Profile, data: Path | None, seed: int):
    n = profile.n_samples[experiment]
    if data is None:
        Xs, ys, Xt, yt = make_galaxy_mergers(
            n,
            experiment=experiment,
            image_size=profile.image_size,
            merger_fraction=profile.merger_fraction[experiment],
            random_state=seed,
        )
        description = (
            f"simulator: make_galaxy_mergers({n}, experiment={experiment!r}, "
            f"image_size={profile.image_size}, random_state={seed})"
        )
        return Xs, ys, Xt, yt, experiment == "sim2sim", description
    Xs, ys, Xt, yt = load_deepmerge(data, experiment)
    # The sim2sim files hold the same galaxies twice (pristine and noisy) when they
    # have equal labels in the same order; keep the twins in the same split part.
    paired = (
        experiment == "sim2sim" and len(ys) == len(yt) and bool(np.array_equal(ys, yt))
    )
    if profile.use_all_files or n is None:
        idx_s, idx_t = np.arange(len(ys)), np.arange(len(yt))
    else:
        idx_s = _subset(ys, n, seed)
        idx_t = idx_s if paired else _subset(yt, n, seed + 1)
    description = (
        f"DeepMerge II files in {str(data)!r} ({len(idx_s)} of {len(ys)} source, "
        f"{len(idx_t)} of {len(yt)} target images)"
    )
    return (
        np.asarray(Xs[idx_s]),
        ys[idx_s],
        np.asarray(Xt[idx_t]),
        yt[idx_t],
        paired,
        description,
    )


def prepare_data(
    experiment: str, profile: Profile, data: Path | None, seed: int
) -> _Data:
    """Load, split 70/10/20 and standardise the data of one experiment.

    Parameters
    ----------
    experiment : {"sim2sim", "sim2real"}
        Pair of domains.
    profile : Profile
        Data sizes.
    data : Path or None
        Folder of the published files, or None for the simulator.
    seed : int
        Seed of the simulator, the subset and the split.

    Returns
    -------
    _Data
        The source training part, the source validation part (passed to the
        estimators as ``validation_data``, so that early stopping uses the
        70/10/20 split's validation images), the target training part
        (unlabelled for training) and both test parts, all standardised with
        statistics of the source fitting (training and validation) images; where
        ``TARGET_STANDARDIZATION`` is ``"auto"`` and the domains' pixel units
        differ, the target parts with statistics of the target training part.
    """
    Xs, ys, Xt, yt, paired, description = _raw_data(experiment, profile, data, seed)
    # Same galaxies in both domains (sim2sim): a target test galaxy is never the
    # twin of a source training galaxy.
    split = train_valid_test_split(Xs, ys, Xt, yt, paired=paired, random_state=seed)
    del Xs, Xt
    X_source_fit = np.concatenate([split.X_source_train, split.X_source_valid])
    if TARGET_STANDARDIZATION[experiment] == "auto" and pixel_units_differ(
        X_source_fit, split.X_target_train
    ):
        # Each domain with its own statistics, from its training images only.
        scaler = DomainStandardizer().fit(X_source_fit, X_target=split.X_target_train)
        transform_target = scaler.transform_target
        standardization = "per domain (pixel units differ)"
    else:
        scaler = ChannelStandardizer().fit(X_source_fit)
        transform_target = scaler.transform
        standardization = "source statistics"
    del X_source_fit
    sizes = {
        domain: {part: len(split[f"idx_{domain}_{part}"]) for part in _PARTS}
        for domain in ("source", "target")
    }
    return _Data(
        X_fit=scaler.transform(split.X_source_train),
        y_fit=split.y_source_train,
        X_valid=scaler.transform(split.X_source_valid),
        y_valid=split.y_source_valid,
        X_target_fit=transform_target(split.X_target_train),
        X_source_test=scaler.transform(split.X_source_test),
        y_source_test=split.y_source_test,
        X_target_test=transform_target(split.X_target_test),
        y_target_test=split.y_target_test,
        idx_source_test=split.idx_source_test,
        idx_target_test=split.idx_target_test,
        sizes=sizes,
        description=description,
        paired=paired,
        standardization=standardization,
    )


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
    data: _Data,
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
    (source_method,) = [
        m for m in methods_for("sim2sim", config.backbone) if m.name == "MMD"
    ]
    _log(
        "Transfer learning starts from a simulation-to-simulation model: training "
        "sim2sim MMD (Table A2) first."
    )
    data = prepare_data("sim2sim", profile, config.data, config.seed)
    _log(f"data: {data.description}")
    estimator, report, seconds = _fit_method(
        source_method, data, overrides, "sim2sim MMD"
    )
    path = _save_weights(
        estimator, config.out / "weights" / f"sim2sim_mmd_{config.backbone}.pt"
    )
    return path, {
        "weights": str(path),
        "method": "MMD",
        "data": data.description,
        "n_epochs": estimator.n_epochs_,
        "best_epoch": estimator.best_epoch_,
        "fit_seconds": round(seconds, 1),
        **report.to_dict(),
    }


# -- figures --------------------------------------------------------------------------
def _examples(data: _Data, per_domain: int = 2) -> tuple[np.ndarray, list[str]]:
    """Return a few merger test images of each domain, for the Grad-CAM figure."""
    images, titles = [], []
    for domain in ("source", "target"):
        y = getattr(data, f"y_{domain}_test")
        X = getattr(data, f"X_{domain}_test")
        idx = getattr(data, f"idx_{domain}_test")
        rows = np.flatnonzero(y == 1)[:per_domain]
        images.append(X[rows])
        titles += [f"{domain} #{idx[r]}" for r in rows]
    return np.concatenate(images), titles


def _latent_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    return _subset(np.asarray(y), n, seed)


def _figures(
    config: ReproduceConfig,
    profile: Profile,
    data: _Data,
    estimators: dict[str, Any],
    untrained,
    reports: dict[str, Any],
) -> list[Path]:
    out = config.out
    scores = {
        domain: {
            name: est.predict_proba(getattr(data, f"X_{domain}_test"))[:, 1]
            for name, est in estimators.items()
        }
        for domain in ("source", "target")
    }
    tables = {
        domain: {
            name: {key: getattr(r, domain)[key] for key in METRICS}
            for name, r in reports.items()
        }
        for domain in ("source", "target")
    }
    title = (
        f"{config.experiment}, {config.backbone}, profile {config.profile} "
        "(hatched/dashed: source, solid: target)"
    )
    written = [
        metrics_figure(
            out / "metrics.png",
            tables["source"],
            tables["target"],
            data.y_source_test,
            scores["source"],
            data.y_target_test,
            scores["target"],
            title=title,
        ),
        score_histograms_figure(
            out / "score_histograms.png",
            data.y_source_test,
            scores["source"],
            data.y_target_test,
            scores["target"],
        ),
    ]
    _log("drawing the latent space (t-SNE) ...")
    rows_s = _latent_subset(data.y_source_test, profile.n_latent, config.seed)
    rows_t = _latent_subset(data.y_target_test, profile.n_latent, config.seed)
    written.append(
        latent_figure(
            out / "latent_space.png",
            estimators,
            untrained,
            data.X_source_test[rows_s],
            data.y_source_test[rows_s],
            data.X_target_test[rows_t],
            data.y_target_test[rows_t],
            random_state=config.seed,
        )
    )
    images, titles = _examples(data)
    if len(images):
        written.append(gradcam_figure(out / "gradcam.png", estimators, images, titles))
    written += history_figures(out, estimators)
    return written


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
    methods = methods_for(config.experiment, config.backbone)
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
        if config.experiment == "sim2sim" and method.name == "MMD":
            path = config.out / "weights" / f"sim2sim_mmd_{config.backbone}.pt"
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
    figures = _figures(config, profile, data, estimators, untrained, reports)
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


def _notes(config: ReproduceConfig, methods, data: _Data) -> list[str]:
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
