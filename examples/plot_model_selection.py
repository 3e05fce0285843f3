"""
=================================================
Choosing hyperparameters without target labels
=================================================

How strongly should the MMD loss pull the domains together? On telescope images
there are no labels to measure the target accuracy, and the source accuracy that
``GridSearchCV`` measures by default rewards the model that fits the *simulations*
best. This example runs a scikit-learn grid search over ``transfer_weight``
(the paper's λ_TL) with the label-free criteria of :mod:`skdamerge.metrics`, and,
because the synthetic target here does have labels, compares their choices with the
target accuracy they try to predict.
"""

# %%
# Data
# ----
# The simulated pristine/noisy pair, small. ``X_target`` is the unlabelled target
# available for training; ``X_target_test, y_target_test`` are labelled target
# images we would not have in practice, kept aside to judge the criteria.
import numpy as np

from skdamerge.datasets import make_galaxy_mergers

X, y, X_target, _ = make_galaxy_mergers(600, image_size=32, random_state=0)
_, _, X_target_test, y_target_test = make_galaxy_mergers(
    300, image_size=32, random_state=1
)

# %%
# The search
# ----------
# Three things differ from a plain search:
#
# * the target goes into ``fit`` wrapped in :class:`~skdamerge.TargetDomain`.
#   Scikit-learn splits every fit parameter of the same length as ``X`` with the
#   source folds; here ``len(X_target) == len(X)``, so without the wrapper each
#   candidate would adapt to a different half of the target;
# * the preprocessing runs in a :func:`~skdamerge.pipeline.make_da_pipeline`, which
#   also transforms the target before it reaches the classifier;
# * the scorers are built with the target images: a scorer only receives the
#   held-out *source* fold, so ``make_*_scorer(X_target)`` binds the target to it.
from sklearn.model_selection import GridSearchCV

from skdamerge import MMDClassifier, TargetDomain
from skdamerge.metrics import (
    DEV_COLLAPSE_SCORE,
    make_dev_scorer,
    make_im_scorer,
    make_target_scorer,
    source_accuracy_scorer,
)
from skdamerge.pipeline import make_da_pipeline
from skdamerge.preprocessing import ArcsinhStretch, ChannelStandardizer

pipeline = make_da_pipeline(
    ArcsinhStretch(),
    ChannelStandardizer(),
    MMDClassifier(max_epochs=8, batch_size=32, random_state=0),
)
scoring = {
    "information maximisation": make_im_scorer(X_target),
    "deep embedded validation": make_dev_scorer(X_target),
    "source accuracy": source_accuracy_scorer,
    # An oracle for this demonstration only: it uses target labels.
    "target accuracy (oracle)": make_target_scorer(X_target_test, y_target_test),
}
search = GridSearchCV(
    pipeline,
    {"mmdclassifier__transfer_weight": [0.0, 0.1, 1.0, 10.0]},
    scoring=scoring,
    refit="information maximisation",
    cv=2,
)
search.fit(X, y, X_target=TargetDomain(X_target))

# %%
# Results
# -------
# Each row is a value of λ_TL, each column a criterion (mean over the two folds);
# a star marks the value each criterion would choose. ``transfer_weight=0`` trains
# the same network without adaptation.
weights = search.cv_results_["param_mmdclassifier__transfer_weight"]
means = {name: search.cv_results_[f"mean_test_{name}"] for name in scoring}
print("λ_TL   " + "".join(f"{name[:24]:>26s}" for name in scoring))
for row, weight in enumerate(weights):
    cells = [
        f"{values[row]:8.3f}{' *' if row == np.argmax(values) else '  '}"
        for values in means.values()
    ]
    print(f"{weight:<7}" + "".join(f"{cell:>26s}" for cell in cells))
print("chosen:", search.best_params_)

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, len(scoring), figsize=(13, 3.2), layout="constrained")
positions = np.arange(len(weights))
for ax, (name, values) in zip(axes, means.items(), strict=True):
    # Deep embedded validation gives a candidate whose target predictions collapsed
    # (in a fold) DEV_COLLAPSE_SCORE, -1e6: mark it instead of plotting it.
    collapsed = values < DEV_COLLAPSE_SCORE / 10
    ax.plot(positions, np.where(collapsed, np.nan, values), "o-")
    for position in positions[collapsed]:
        ax.annotate(
            "collapsed",
            (position, 0.5),
            xycoords=("data", "axes fraction"),
            ha="center",
            rotation=90,
            color="tab:red",
        )
    ax.set_xticks(positions, [str(w) for w in weights])
    ax.set_xlabel("transfer_weight (λ_TL)")
    ax.set_title(name, fontsize=10)

# %%
# Reading the results
# -------------------
# Without adaptation (λ_TL = 0) the target accuracy is at chance, and any amount of
# MMD lifts it. The source accuracy measures the fit to the pristine simulations
# only: nothing in it looks at the target, so where it agrees with the target
# accuracy it does so by chance. Information maximisation looks at the target
# predictions, which must be confident *and* spread over both classes; it clearly
# rejects λ_TL = 0. Deep embedded validation weights the source-fold errors by how
# target-like each image is; it too ranks λ_TL = 0 last, but its estimate is noisy
# (a few large importance weights can dominate it, and on small folds they often
# do: its values jump from one λ_TL to the next), which is its known weakness.
#
# A candidate whose target predictions collapsed onto one class would score below
# the range of every label-free criterion (deep embedded validation gives it
# ``DEV_COLLAPSE_SCORE``, -1e6, marked "collapsed" in the plot). A candidate whose
# decision threshold merely drifted on the target is scored as usual; ``fit``
# reports it with a :class:`~skdamerge.exceptions.TargetCollapseWarning`. No
# label-free criterion is guaranteed to pick the best value: compare several, and
# look at the chosen model's predicted merger fraction on the target, which exposes
# a collapse to one class at a glance:
from skdamerge.metrics import domain_adaptation_report

report = domain_adaptation_report(search.best_estimator_, X, y, X_target)
print(
    f"predicted merger fraction on the target: {report.target['merger_fraction']:.2f}"
)

# %%
# Every candidate and fold is a full training: on a CPU keep grids and images
# small. The :ref:`user guide <model_selection>` lists the criteria and their blind
# spots; :ref:`trust` explains the collapse guards and the label-free estimate of
# the merger fraction.
