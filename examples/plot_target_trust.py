"""
==========================================
Trusting results on an unlabelled target
==========================================

The target domain has no labels, so the usual evidence that a model works, its
accuracy, is missing exactly where it matters. This example shows what skdamerge
watches instead: a run whose target predictions collapse onto one class although
its source validation accuracy looks fine, the warning that reports it, the
label-free estimate of the survey's merger fraction, and target decisions taken at
that fraction. The synthetic survey has known labels and a known merger fraction
(30%, where the training set has 50%), used here only to judge the results.
"""

# %%
# A training set, calibration images and a survey
# -----------------------------------------------
# :func:`~skdamerge.datasets.make_galaxy_mergers` renders every galaxy twice,
# pristine (the source) and noisy (the target), with the same merger fraction in
# both. Three calls with different seeds give three independent sets: labelled
# pristine images for training, other labelled pristine images for calibration
# (never trained on), and the noisy images of a survey with 30% mergers, whose
# pristine twins are discarded.
import warnings

import matplotlib.pyplot as plt
import numpy as np

from skdamerge import MMDClassifier
from skdamerge.datasets import make_galaxy_mergers
from skdamerge.exceptions import TargetCollapseWarning
from skdamerge.metrics import estimate_merger_fraction, make_im_scorer

X, y, _, _ = make_galaxy_mergers(1000, image_size=32, random_state=0)
X_cal, y_cal, _, _ = make_galaxy_mergers(1000, image_size=32, random_state=2)
_, _, X_survey, y_survey = make_galaxy_mergers(
    1000, image_size=32, merger_fraction=0.3, random_state=1
)
print(f"merger fraction: training {y.mean():.2f}, survey {y_survey.mean():.2f}")

# %%
# A healthy run and a collapsing one
# ----------------------------------
# Two :class:`~skdamerge.MMDClassifier` runs adapt to the survey: one with the
# default settings, one with a far too large ``entropy_weight``. Entropy
# minimisation rewards confident target predictions, and the cheapest way to be
# confident is to put every target image into one class.
#
# The networks see the images in linear flux units, without a stretch: the
# label-free merger-fraction estimate below puts calibration galaxies into the
# survey's sky by adding pixels, which only means something in linear units (the
# DeepMerge network's batch normalisation copes with the scale). The calibration
# images also serve as the validation set (``validation_data``), so that the
# estimate the estimator computes at the end of ``fit`` is calibrated on 1,000
# images rather than on the 125 of the default validation split
# (``validation_fraction=0.125``).
training = dict(max_epochs=10, batch_size=64, random_state=0)
runs = {
    "entropy_weight=0": MMDClassifier(**training),
    "entropy_weight=50": MMDClassifier(entropy_weight=50.0, **training),
}
for name, model in runs.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TargetCollapseWarning)
        model.fit(X, y, X_target=X_survey, validation_data=(X_cal, y_cal))
    print(f"{name}: target_collapse_.state = {model.target_collapse_.state!r}")
    for warning in caught:
        if issubclass(warning.category, TargetCollapseWarning):
            print(f"  TargetCollapseWarning: {warning.message}")

# %%
# The per-epoch record shows what the source validation accuracy hides. At the end
# of every epoch the estimator predicts (up to 1,024 of) the target training images
# and stores the fraction called merger in ``history_[:, "target_merger_fraction"]``
# and whether that is a collapse in ``history_[:, "target_collapsed"]``. The epoch
# whose weights the model keeps, ``best_epoch_``, is marked; early stopping never
# restores a collapsed epoch while a healthy one exists.
fig, (ax_fraction, ax_valid) = plt.subplots(
    1, 2, figsize=(10, 3.6), layout="constrained"
)
for name, model in runs.items():
    epochs = np.arange(1, len(model.history_) + 1)
    fraction = np.asarray(model.history_[:, "target_merger_fraction"])
    (line,) = ax_fraction.plot(epochs, fraction, "o-", label=name)
    best = model.best_epoch_
    ax_fraction.plot(best, fraction[best - 1], "*", ms=16, color=line.get_color())
    ax_valid.plot(epochs, model.history_[:, "valid_acc"], "o-", label=name)
ax_fraction.axhline(y_survey.mean(), color="gray", ls="--", label="true (unknown)")
ax_fraction.set(xlabel="epoch", ylabel="fraction predicted merger", ylim=(-0.05, 1.05))
ax_fraction.set_title("target merger fraction (star: kept epoch)", fontsize=10)
ax_fraction.legend(fontsize=8)
ax_valid.set(xlabel="epoch", ylabel="accuracy")
ax_valid.set_title("source validation accuracy", fontsize=10)
ax_valid.legend(fontsize=8)

for name, model in runs.items():
    collapsed = int(np.sum(model.history_[:, "target_collapsed"]))
    print(
        f"{name}: {collapsed} of {len(model.history_)} epochs collapsed, "
        f"kept epoch {model.best_epoch_}, "
        f"final source validation accuracy {model.history_[-1, 'valid_acc']:.2f}"
    )

# %%
# The label-free scorers of :mod:`skdamerge.metrics` ask the same question before
# scoring, and give a collapsed model a score below their range, so that a
# hyperparameter search ranks it last (information maximisation: -1 for a
# collapse, between 0 and log 2 otherwise).
im_scorer = make_im_scorer(X_survey)
for name, model in runs.items():
    print(f"{name}: information maximisation score {im_scorer(model):.3f}")

# %%
# The merger fraction of the survey
# ---------------------------------
# The fraction of survey images that ``predict`` calls merger, the plain count,
# mixes the true fraction with the classifier's error rates on the survey, which
# domain shift changes. :func:`~skdamerge.metrics.estimate_merger_fraction`
# measures those rates on the labelled calibration images after putting them into
# sky cut from the survey images themselves
# (:func:`~skdamerge.metrics.inject_into_target_sky`), corrects the count
# (probabilistic adjusted classify-and-count), bootstraps an uncertainty and says
# whether the result can be trusted. Compare the estimate and the plain count with
# the truth, which a real survey would not give.
healthy = runs["entropy_weight=0"]
estimate = estimate_merger_fraction(healthy, X_survey, X_cal, y_cal, random_state=0)
print("estimate:   ", estimate)
print(f"plain count: {healthy.predict(X_survey).mean():.3f}")
print(f"truth:       {y_survey.mean():.3f}")

# %%
# The collapsed model cannot be corrected: it calls every calibration galaxy the
# same, so its rates do not separate the classes, and the estimate says so.
collapsed_estimate = estimate_merger_fraction(
    runs["entropy_weight=50"], X_survey, X_cal, y_cal, random_state=0
)
print("trusted:", collapsed_estimate.trusted)
print("reason: ", collapsed_estimate.reason)

# %%
# Deciding survey images at the estimated fraction
# ------------------------------------------------
# ``fit`` has already made the same estimate, calibrated on the validation images
# injected into the sky of the training target: ``target_merger_fraction_``. When
# it is trusted, ``target_threshold_`` is the merger-probability threshold at
# which the target training images' predicted merger fraction equals it, and
# ``predict(X, domain="target")`` decides at that threshold instead of at 0.5. The
# ranking of the images is the same; only the cut moves. Compare the two
# predicted fractions, and their accuracies, with the truth.
print("fitted estimate:", healthy.target_merger_fraction_)
print("target_threshold_:", healthy.target_threshold_)
for domain in ("source", "target"):
    predicted = healthy.predict(X_survey, domain=domain)
    print(
        f'predict(X, domain="{domain}"): merger fraction {predicted.mean():.3f}, '
        f"accuracy {np.mean(predicted == y_survey):.3f}"
    )

# %%
# Where the estimate does not apply
# ---------------------------------
# Injection reproduces a survey that differs from the training images by its sky:
# noise, background, artefacts. When the galaxies themselves differ (another
# population, resolution or PSF, as between simulations and real
# observations), the calibration images are not survey-like and the checks catch
# only some of the failures. The estimate also needs images in linear flux units:
# a :func:`~skdamerge.pipeline.make_da_pipeline` with a stretch such as
# :class:`~skdamerge.preprocessing.ArcsinhStretch` redoes it on the raw images
# after fitting, and ``estimate_merger_fraction(pipeline, X_survey, X_cal, y_cal)``
# with raw images lets the pipeline transform them. The :ref:`user guide <trust>`
# explains each check.
