"""
================================================
Inspecting source-only and MMD models with plots
================================================

The figures of DeepMerge II (Ćiprijanović et al. 2021, MNRAS 506, 677) that show
*what* domain adaptation changes, as scikit-learn Display objects:

* :class:`~skdamerge.inspection.LatentSpaceDisplay`: t-SNE of the latent features of
  both domains (paper Figure 5), including the state before training;
* :class:`~skdamerge.inspection.GradCAMDisplay`: which pixels make the network say
  "merger" (Figure 6);
* :class:`~skdamerge.inspection.ScoreHistogramDisplay`: output scores per class
  (Figure B1);
* :class:`~skdamerge.inspection.MetricBarsDisplay` and
  :class:`~skdamerge.inspection.DomainRocDisplay`: metrics and ROC curves of
  several models on both domains (Figure 3);
* :class:`~skdamerge.inspection.TrainingHistoryDisplay`: losses, learning rate and
  validation metrics per epoch.

A small synthetic shift stands in for the simulated galaxies: the source images
are clean, the target images are the same kind of objects with pixel noise added,
like the pristine/noisy pair of the paper. The models train for a few epochs only,
so that the whole example runs in about a minute on a CPU.

The figures are saved as PNG files in the folder named by the environment variable
``SKDAMERGE_EXAMPLE_OUTPUT``, or in a new temporary folder.
"""

# %%
# Setup
# -----
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from skdamerge import MMDClassifier, SourceOnlyClassifier
from skdamerge.inspection import (
    DomainRocDisplay,
    GradCAMDisplay,
    LatentSpaceDisplay,
    MetricBarsDisplay,
    ScoreHistogramDisplay,
    TrainingHistoryDisplay,
)

# The networks are small: one CPU thread is enough and avoids thread contention.
torch.set_num_threads(1)

OUTPUT = Path(
    os.environ.get("SKDAMERGE_EXAMPLE_OUTPUT")
    or tempfile.mkdtemp(prefix="skdamerge-inspection-")
)
OUTPUT.mkdir(parents=True, exist_ok=True)


def save(figure, name):
    """Write a figure to the output folder."""
    figure.savefig(OUTPUT / name, dpi=100)


# %%
# A synthetic domain shift
# ------------------------
# Non-mergers are single galaxies with an exponential profile; mergers have a
# fainter companion and a faint tidal arc. The target domain adds Gaussian noise
# that buries the faint structure, as the paper's "noisy" images do.


def make_galaxies(n, *, size=32, noise=0.0, seed=0):
    """Return images (n, 3, size, size) and labels (1 = merger)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    grid_y, grid_x = np.mgrid[:size, :size] - (size - 1) / 2
    centre = rng.normal(0, size / 20, (n, 2, 1, 1))
    radius = rng.uniform(0.06, 0.1, (n, 1, 1)) * size
    dx, dy = grid_x - centre[:, 0], grid_y - centre[:, 1]
    images = np.exp(-np.hypot(dx, dy) / radius)
    angle = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    distance = rng.uniform(0.2, 0.3, (n, 1, 1)) * size
    cx, cy = distance * np.cos(angle), distance * np.sin(angle)
    companion = rng.uniform(0.3, 0.6, (n, 1, 1)) * np.exp(
        -np.hypot(dx - cx, dy - cy) / (0.6 * radius)
    )
    # A tidal arc: a ring segment at the companion's distance on the far side.
    ring = np.exp(-((np.hypot(dx, dy) - distance) ** 2) / (2 * (0.04 * size) ** 2))
    facing = np.cos(np.arctan2(dy, dx) - angle - np.pi)
    arc = 0.15 * ring * np.clip(facing, 0, None) ** 4
    images = images + y[:, None, None] * (companion + arc)
    X = np.repeat(images[:, None], 3, axis=1)
    X *= np.array([0.8, 1.0, 1.2])[None, :, None, None]  # redder in the last band
    X += rng.normal(0, noise, X.shape)
    return X.astype(np.float32), y


X_source, y_source = make_galaxies(600, seed=0)
X_target, y_target = make_galaxies(600, noise=0.15, seed=1)  # labels unused in fit
X_source_test, y_source_test = make_galaxies(200, seed=2)
X_target_test, y_target_test = make_galaxies(200, noise=0.15, seed=3)

# %%
# Two models: no domain adaptation and MMD
# ----------------------------------------
settings = dict(max_epochs=12, batch_size=32, lr=2e-3, patience=None, random_state=0)
source_only = SourceOnlyClassifier(**settings).fit(X_source, y_source)
mmd = MMDClassifier(**settings).fit(X_source, y_source, X_target=X_target)
models = {"noDA": source_only, "MMD": mmd}
for name, model in models.items():
    print(
        f"{name}: source accuracy {model.score(X_source_test, y_source_test):.2f}, "
        f"target accuracy {model.score(X_target_test, y_target_test):.2f}"
    )

# %%
# Latent space (Figure 5)
# -----------------------
# Before training the two domains already fall apart; without domain adaptation
# they stay apart; the MMD transfer loss pulls them together. An unfitted
# estimator shows the initial network, without being fitted itself.
fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
panels = {"before training": MMDClassifier(random_state=0), **models}
for ax, (title, model) in zip(axes, panels.items(), strict=True):
    LatentSpaceDisplay.from_estimator(
        model,
        X_source_test,
        X_target_test,
        y_source_test,
        y_target_test,
        random_state=0,
        ax=ax,
        legend=ax is axes[0],
    )
    ax.set_title(title)
save(fig, "latent_space.png")

# %%
# Grad-CAM (Figure 6)
# -------------------
# The same kind of merger in the source (clean) and the target (noisy) domain: the
# regions of the last convolutional layer that raise the merger score.
mergers_source = X_source_test[y_source_test == 1][:3]
mergers_target = X_target_test[y_target_test == 1][:3]
images = np.concatenate([mergers_source, mergers_target])
titles = ["source"] * 3 + ["target"] * 3
for name, model in models.items():
    display = GradCAMDisplay.from_estimator(model, images, titles=titles)
    display.figure_.suptitle(f"{name}: Grad-CAM for the merger class")
    save(display.figure_, f"grad_cam_{name}.png")

# %%
# Score histograms (Figure B1)
# ----------------------------
# The merger score of true mergers and one minus it for non-mergers: mass near 1
# means confident and right.
fig, axes = plt.subplots(2, 2, figsize=(8, 6), layout="constrained")
for row, (name, model) in zip(axes, models.items(), strict=True):
    ScoreHistogramDisplay.from_estimator(
        model,
        X_source_test,
        y_source_test,
        X_target_test,
        y_target_test,
        name=name,
        ax=row,
    )
save(fig, "score_histograms.png")

# %%
# Metrics and ROC curves (Figure 3)
# ---------------------------------
# Hatched bars and dashed curves: source; solid: target.
fig, (ax_bars, ax_roc) = plt.subplots(
    1, 2, figsize=(12, 4.5), width_ratios=(1.8, 1), layout="constrained"
)
test_data = (X_source_test, y_source_test, X_target_test, y_target_test)
MetricBarsDisplay.from_estimators(models, *test_data, ax=ax_bars)
DomainRocDisplay.from_estimators(models, *test_data, ax=ax_roc)
save(fig, "metrics_roc.png")

# %%
# Training history
# ----------------
# The loss components, the one-cycle learning rate and the source validation
# metrics of the MMD model, per epoch; the grey line marks the kept epoch.
display = TrainingHistoryDisplay.from_estimator(mmd)
save(display.figure_, "training_history_mmd.png")

print(f"Figures written to {OUTPUT}")
