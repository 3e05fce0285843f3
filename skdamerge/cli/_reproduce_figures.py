"""Which figures a ``skdamerge reproduce`` run draws, from which test images."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..inspection import METRICS
from ._figures import (
    gradcam_figure,
    history_figures,
    latent_figure,
    metrics_figure,
    score_histograms_figure,
)
from ._profiles import Profile
from ._reproduce_data import ExperimentData, stratified_subset

if TYPE_CHECKING:
    from ._reproduce_run import ReproduceConfig

__all__ = ["draw_figures"]


def _examples(
    data: ExperimentData, per_domain: int = 2
) -> tuple[np.ndarray, list[str]]:
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
    return stratified_subset(np.asarray(y), n, seed)


def draw_figures(
    config: ReproduceConfig,
    profile: Profile,
    data: ExperimentData,
    estimators: dict[str, Any],
    untrained,
    reports: dict[str, Any],
) -> list[Path]:
    """Draw the figures of a run into its output folder.

    Parameters
    ----------
    config : ReproduceConfig
        The run's options (output folder, experiment, backbone, seed).
    profile : Profile
        The run's profile (images per domain in the latent-space figure).
    data : ExperimentData
        The standardised test images and labels.
    estimators : dict
        ``{method: fitted estimator}``, in the order of the table.
    untrained : estimator
        An unfitted estimator, for the "before training" panel of the t-SNE.
    reports : dict
        ``{method: DomainAdaptationReport}`` on the test images.

    Returns
    -------
    list of Path
        ``metrics.png``, ``score_histograms.png``, ``latent_space.png``,
        ``gradcam.png`` (when the test images hold a merger) and one
        ``training_<method>.png`` per method.
    """
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
    print("drawing the latent space (t-SNE) ...", file=sys.stderr, flush=True)
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
