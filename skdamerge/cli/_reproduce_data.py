"""The data of a ``skdamerge reproduce`` run: load, split 70/10/20, standardise.

One run takes the data of one experiment (the built-in simulator, or the published
files), splits each domain 70/10/20 (training / validation / test) and
standardises every channel with statistics of the labelled source images used for
fitting only (for ``sim2real`` domains in different pixel units, the target with
statistics of its own training images).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from ..datasets import load_deepmerge, make_galaxy_mergers, train_valid_test_split
from ..preprocessing import ChannelStandardizer, DomainStandardizer, pixel_units_differ
from ._profiles import TARGET_STANDARDIZATION, Profile

__all__ = ["ExperimentData", "prepare_data", "stratified_subset"]

_PARTS = ("train", "valid", "test")


@dataclass
class ExperimentData:
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


def stratified_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
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
        idx_s = stratified_subset(ys, n, seed)
        idx_t = idx_s if paired else stratified_subset(yt, n, seed + 1)
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
) -> ExperimentData:
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
    ExperimentData
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
    return ExperimentData(
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
