"""
=============================
Comparing adaptation methods
=============================

Every method of skdamerge is a scikit-learn classifier with the same
``fit(X, y, X_target=...)``, so comparing them is a loop. This example trains a
few of them on one simulated pair of domains and compares what a survey user
can see without target labels (the predicted merger fraction, the collapse
verdict, the label-free estimate of the merger fraction) with what the labels
reveal (target accuracy and AUC).
"""

# %%
# Two domains and five methods
# ----------------------------
# Pristine simulated galaxies (source, labelled) and the same kind of galaxies
# with sky noise (target, unlabelled during training), 32 × 32 pixels to keep the
# example fast. Each method gets the same preprocessing (an arcsinh stretch and
# a standardisation fitted on the source) and the same short training; the
# adversarial methods get the small domain-classifier learning rate that the
# paper's adversarial rows use.
import warnings

import matplotlib.pyplot as plt
import numpy as np

from skdamerge import (
    CDANClassifier,
    DeepJDOTClassifier,
    MMDClassifier,
    SinkhornClassifier,
    SourceOnlyClassifier,
)
from skdamerge.datasets import make_galaxy_mergers
from skdamerge.exceptions import TargetCollapseWarning
from skdamerge.inspection import MetricBarsDisplay
from skdamerge.pipeline import make_da_pipeline
from skdamerge.preprocessing import ArcsinhStretch, ChannelStandardizer

X_source, y_source, X_target, _ = make_galaxy_mergers(
    800, image_size=32, random_state=0
)
X_source_test, y_source_test, X_target_test, y_target_test = make_galaxy_mergers(
    400, image_size=32, random_state=1
)

training = dict(max_epochs=8, batch_size=64, random_state=0)
classifiers = {
    "noDA": SourceOnlyClassifier(**training),
    "MMD": MMDClassifier(**training),
    "CDAN": CDANClassifier(domain_lr_multiplier=0.01, **training),
    "DeepJDOT": DeepJDOTClassifier(**training),
    "Sinkhorn": SinkhornClassifier(**training),
}
models = {}
for name, classifier in classifiers.items():
    model = make_da_pipeline(ArcsinhStretch(), ChannelStandardizer(), classifier)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TargetCollapseWarning)
        models[name] = model.fit(X_source, y_source, X_target=X_target)
    collapsed = any(issubclass(w.category, TargetCollapseWarning) for w in caught)
    watched = hasattr(models[name][-1], "target_collapse_")
    print(
        f"{name:9s} collapse warning: "
        f"{('yes' if collapsed else 'no') if watched else 'target not watched'}"
    )

# %%
# What can be seen without target labels
# --------------------------------------
# The fitted estimators watch their own target predictions: the fraction they
# call mergers, a verdict on collapse, and a label-free estimate of the true
# merger fraction calibrated on source images injected into the target's sky
# (marked untrusted where its checks fail, as they do for most of these small,
# short fits: read it only when it is trusted). The source-only model calls
# nearly every noisy galaxy a non-merger; the simulated merger fraction is 0.5.
for name, model in models.items():
    classifier = model[-1]
    estimate = getattr(classifier, "target_merger_fraction_", None)
    if estimate is None:
        estimated = "none"
    else:
        trust = "" if estimate.trusted else " (untrusted)"
        estimated = f"{estimate.fraction:.2f}{trust}"
    predicted = model.predict(X_target_test, domain="target").mean()
    print(
        f"{name:9s} predicted merger fraction {predicted:.2f}, "
        f"label-free estimate {estimated}"
    )

# %%
# What the labels reveal
# ----------------------
# With the target labels (unknown in a real survey) the metric bars compare the
# methods on both test sets.
display = MetricBarsDisplay.from_estimators(
    models,
    X_source_test,
    y_source_test,
    X_target_test,
    y_target_test,
    metrics=("accuracy", "auc", "ece"),
)
plt.show()

for name, model in models.items():
    accuracy = np.mean(model.predict(X_target_test, domain="target") == y_target_test)
    print(f"{name:9s} target accuracy {accuracy:.3f}")

# %%
# A few fits on small images are one draw; the benchmark in
# ``benchmarks/RESULTS.md`` compares every method over three seeds at the size of
# the paper's images, and :ref:`choosing` turns it into a recommendation.
