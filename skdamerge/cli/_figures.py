"""Figures of ``skdamerge reproduce``: the paper's Figures 3, 5, 6 and B1 as PNG files.

Every figure is drawn with the Display objects of :mod:`skdamerge.inspection` on a
plain :class:`matplotlib.figure.Figure` (no pyplot state, no GUI backend needed)
and written atomically.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import RocCurveDisplay, auc, roc_curve

from ..inspection import (
    DomainRocDisplay,
    GradCAMDisplay,
    LatentSpaceDisplay,
    MetricBarsDisplay,
    ScoreHistogramDisplay,
    TrainingHistoryDisplay,
)
from ._io import write_atomic

__all__ = [
    "gradcam_figure",
    "history_figures",
    "latent_figure",
    "metrics_figure",
    "score_histograms_figure",
]

_DPI = 110


def slug(name: str) -> str:
    """File-name form of a method name: ``"MMD+F"`` -> ``"mmd_f"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _save(figure, path: Path) -> Path:
    write_atomic(
        path,
        lambda handle: figure.savefig(
            handle, format="png", dpi=_DPI, bbox_inches="tight"
        ),
    )
    return path


def _grid(n_rows: int, n_cols: int, figsize, *, constrained: bool = True):
    figure = Figure(figsize=figsize, layout="constrained" if constrained else None)
    return figure, figure.subplots(n_rows, n_cols, squeeze=False)


def metrics_figure(
    path: str | os.PathLike,
    source_metrics: Mapping[str, Mapping[str, float]],
    target_metrics: Mapping[str, Mapping[str, float]],
    y_source: np.ndarray,
    scores_source: Mapping[str, np.ndarray],
    y_target: np.ndarray,
    scores_target: Mapping[str, np.ndarray],
    *,
    title: str,
) -> Path:
    """Metric bars and ROC curves of every method on both domains (Figure 3).

    Parameters
    ----------
    path : str or path-like
        Destination PNG.
    source_metrics, target_metrics : mapping
        ``{method: {metric: value}}`` (keys of :data:`skdamerge.inspection.METRICS`).
    y_source, y_target : ndarray
        Test labels.
    scores_source, scores_target : mapping
        ``{method: merger probabilities on the test images}``.
    title : str
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    n_methods = len(source_metrics)
    figure = Figure(figsize=(6.0 + 1.2 * n_methods, 4.6), layout="constrained")
    bars, roc = figure.subplots(
        1, 2, gridspec_kw={"width_ratios": [1.0 + 0.35 * n_methods, 1.6]}
    )
    MetricBarsDisplay.from_metrics(source_metrics, target_metrics, ax=bars)
    # One RocCurveDisplay per method and domain, drawn together.
    curves = {}
    for name in scores_source:
        for domain, y, scores in (
            ("source", y_source, scores_source),
            ("target", y_target, scores_target),
        ):
            fpr, tpr, _ = roc_curve(y, scores[name], pos_label=1)
            curves[(name, domain)] = RocCurveDisplay(
                fpr=fpr, tpr=tpr, roc_auc=auc(fpr, tpr), pos_label=1
            )
    DomainRocDisplay(curves).plot(ax=roc)
    roc.set_title("ROC (dashed: source, solid: target)", fontsize="medium")
    figure.suptitle(title)
    return _save(figure, Path(path))


def score_histograms_figure(
    path: str | os.PathLike,
    y_source: np.ndarray,
    scores_source: Mapping[str, np.ndarray],
    y_target: np.ndarray,
    scores_target: Mapping[str, np.ndarray],
) -> Path:
    """Histograms of the output scores per class, one row per method (Figure B1).

    Parameters
    ----------
    path : str or path-like
        Destination PNG.
    y_source, y_target : ndarray
        Test labels.
    scores_source, scores_target : mapping
        ``{method: merger probabilities}``.

    Returns
    -------
    Path
        The written file.
    """
    names = list(scores_source)
    figure, axes = _grid(len(names), 2, (8.0, 2.9 * len(names)))
    for row, name in zip(axes, names, strict=True):
        ScoreHistogramDisplay.from_predictions(
            y_source,
            scores_source[name],
            y_target,
            scores_target[name],
            name=name,
            ax=row,
        )
    return _save(figure, Path(path))


def latent_figure(
    path: str | os.PathLike,
    estimators: Mapping[str, object],
    untrained: object,
    X_source: np.ndarray,
    y_source: np.ndarray,
    X_target: np.ndarray,
    y_target: np.ndarray,
    *,
    random_state: int,
) -> Path:
    """t-SNE of the latent features before training and for each method (Figure 5).

    Parameters
    ----------
    path : str or path-like
        Destination PNG.
    estimators : mapping
        ``{method: fitted estimator}``.
    untrained : estimator
        An unfitted estimator, for the "before training" panel.
    X_source, y_source, X_target, y_target : ndarray
        Test images (standardised) and labels to embed.
    random_state : int
        Seed of t-SNE.

    Returns
    -------
    Path
        The written file.
    """
    panels = {"before training": untrained, **estimators}
    n_cols = min(3, len(panels))
    n_rows = -(-len(panels) // n_cols)
    figure, axes = _grid(n_rows, n_cols, (4.2 * n_cols, 3.9 * n_rows))
    flat = axes.ravel()
    for ax, (name, estimator) in zip(flat, panels.items(), strict=False):
        LatentSpaceDisplay.from_estimator(
            estimator,
            X_source,
            X_target,
            y_source,
            y_target,
            method="tsne",
            random_state=random_state,
            ax=ax,
            legend=ax is flat[0],
        )
        ax.set_title(name)
    for ax in flat[len(panels) :]:
        ax.set_visible(False)
    return _save(figure, Path(path))


def gradcam_figure(
    path: str | os.PathLike,
    estimators: Mapping[str, object],
    images: np.ndarray,
    titles: list[str],
) -> Path:
    """Grad-CAM maps of the merger class for a few images, one row per method.

    The top row shows the images alone (arcsinh stretch), each further row the
    Grad-CAM of one method on the last convolutional layer (Figures 6 and 7).

    Parameters
    ----------
    path : str or path-like
        Destination PNG.
    estimators : mapping
        ``{method: fitted estimator}``.
    images : ndarray of shape (n, channels, height, width)
        Standardised images, as the networks see them.
    titles : list of str
        One title per image.

    Returns
    -------
    Path
        The written file.
    """
    names = list(estimators)
    n = len(images)
    figure, axes = _grid(len(names) + 1, n, (1.9 * n + 0.6, 1.9 * (len(names) + 1)))
    for row, name in enumerate(names, start=1):
        display = GradCAMDisplay.from_estimator(
            estimators[name], images, ax=axes[row], show_image=False
        )
        axes[row, 0].set_ylabel(name)
    for ax, image, title in zip(axes[0], display.display_images_, titles, strict=True):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image")
    figure.suptitle("Grad-CAM of the merger class (last convolutional layer)")
    return _save(figure, Path(path))


def history_figures(
    folder: str | os.PathLike, estimators: Mapping[str, object]
) -> list[Path]:
    """Training curves of each method, ``training_<method>.png``.

    Parameters
    ----------
    folder : str or path-like
        Destination folder.
    estimators : mapping
        ``{method: fitted estimator}``.

    Returns
    -------
    list of Path
        The written files.
    """
    written = []
    for name, estimator in estimators.items():
        figure, axes = _grid(3, 3, (10.0, 8.0))
        TrainingHistoryDisplay.from_estimator(estimator, ax=axes.ravel())
        figure.suptitle(f"{name}: training history")
        path = Path(folder) / f"training_{slug(name)}.png"
        written.append(_save(figure, path))
    return written
