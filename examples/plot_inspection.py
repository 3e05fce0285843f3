"""
========================================
Looking inside the model
========================================

The figures of DeepMerge II (Ćiprijanović et al. 2021, MNRAS 506, 677) that show
*what* domain adaptation changes, as scikit-learn Display objects from
:mod:`skdamerge.inspection`:

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

The data are the built-in synthetic analogue of the paper's pristine/noisy pair,
at 32 × 32 pixels, and the models train for a few epochs only, so that the example
runs in about a minute on a CPU.
"""

# %%
# Data and preprocessing
# ----------------------
# The displays call the estimator directly (Grad-CAM needs its network), so the
# preprocessing is applied here by hand: an arcsinh stretch and a per-band
# standardisation, fitted on the source training images and applied to everything.
# Non-mergers are single galaxies or chance projections; mergers are interacting
# pairs and post-mergers with tidal features. The target adds sky noise that buries
# the faint structure.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline

from skdamerge import MMDClassifier, SourceOnlyClassifier
from skdamerge.datasets import make_galaxy_mergers
from skdamerge.inspection import (
    DomainRocDisplay,
    GradCAMDisplay,
    LatentSpaceDisplay,
    MetricBarsDisplay,
    ScoreHistogramDisplay,
    TrainingHistoryDisplay,
)
from skdamerge.preprocessing import ArcsinhStretch, ChannelStandardizer

X_source, y_source, X_target, y_target = make_galaxy_mergers(
    600, image_size=32, random_state=0
)
X_source_test, y_source_test, X_target_test, y_target_test = make_galaxy_mergers(
    200, image_size=32, random_state=1
)
preprocessing = make_pipeline(ArcsinhStretch(), ChannelStandardizer()).fit(X_source)
X_source, X_target, X_source_test, X_target_test = (
    preprocessing.transform(X)
    for X in (X_source, X_target, X_source_test, X_target_test)
)

# %%
# Two models: no domain adaptation and MMD
# ----------------------------------------
settings = dict(max_epochs=10, batch_size=64, random_state=0)
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

# %%
# Without adaptation the maps of the noisy target images are scattered over the
# noise: the features learned on clean images do not find the merger in them. With
# MMD the target maps look like the source maps, concentrated on the outskirts of
# the galaxy where the companion and the tidal debris are, as in the paper's
# Figure 6.

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

# %%
# Training history
# ----------------
# The loss components, the one-cycle learning rate and the source validation
# metrics of the MMD model, per epoch; the grey line marks the kept epoch.
display = TrainingHistoryDisplay.from_estimator(mmd)

# %%
# Every display keeps its matplotlib objects (``figure_``, ``ax_``), so a figure
# is saved as usual, e.g. ``display.figure_.savefig("history.png", dpi=150)``. For
# a :class:`~skdamerge.DANNClassifier` the history has a panel with the domain
# classifier's accuracy on each domain, the first thing to look at when adversarial
# training misbehaves (see :ref:`choosing`).
