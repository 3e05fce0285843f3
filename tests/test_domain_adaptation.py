"""End-to-end: domain adaptation recovers the target accuracy that noise destroys.

The shift is the paper's simulation-to-simulation kind: the same population of
objects, rendered clean (source) and with strong pixel noise (target). A network
trained on the clean images alone is near chance on the noisy ones (DeepMerge II
Table B1, "noDA": almost every target image is called a non-merger).
"""

import warnings

import numpy as np
import pytest
from conftest import make_pair_shift
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier

pytestmark = pytest.mark.slow

TRAINING = dict(max_epochs=12, batch_size=16, random_state=0)

# The paper's Table A2 settings for the Fisher + entropy variants (DeepMerge), and
# the domain-classifier learning-rate multiplier of 0.01 that the paper recommends
# against domain-classifier collapse (Appendix A).
METHODS = {
    "MMD": (MMDClassifier, {}),
    "MMD+F": (MMDClassifier, dict(fisher_intra_weight=0.01, entropy_weight=0.05)),
    "ADA": (DANNClassifier, dict(domain_lr_multiplier=0.01)),
    "ADA+F": (
        DANNClassifier,
        dict(domain_lr_multiplier=0.01, fisher_intra_weight=1e-4, entropy_weight=1e-4),
    ),
}
# Target-accuracy gain over source-only required of each method, on held-out
# images. Measured with these settings (source only 0.47 on the held-out target):
# MMD 0.99, MMD+F 0.97, ADA 0.91, ADA+F 0.91. Each margin is about half of the
# measured gain or less; adversarial training is finicky, as the paper reports
# (plain DANN's gain varies with the seed, see the three-seed test below).
MARGIN = {"MMD": 0.25, "MMD+F": 0.25, "ADA": 0.2, "ADA+F": 0.15}
# How much closer to 0.5 than after source-only training the domain probe's AUC
# must come. Measured: source only 1.00, MMD 0.55, MMD+F 0.56, so MMD must gain at
# least 0.2 (about half). The adversarial variants reached their accuracy with
# features that stay separable along their leading directions (probe AUC 1.00 for
# ADA and ADA+F, also with a probe on all features), so only MMD is held to it.
PROBE_MARGIN = {"MMD": 0.2, "MMD+F": 0.2, "ADA": None, "ADA+F": None}


def domain_probe_auc(clf, Xs, Xt):
    """Cross-validated AUC of a logistic regression telling source from target.

    An independent measure of domain alignment, unlike the MMD that training
    minimises: the probe sees the latent features of held-out images, reduced to
    their two leading principal components (the directions along which the
    features vary most), and 0.5 means it cannot tell the domains apart.
    """
    features = np.concatenate([clf.transform(Xs), clf.transform(Xt)])
    domain = np.r_[np.zeros(len(Xs)), np.ones(len(Xt))]
    probe = make_pipeline(StandardScaler(), PCA(2), LogisticRegression())
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    return cross_val_score(probe, features, domain, cv=cv, scoring="roc_auc").mean()


@pytest.fixture(scope="module")
def held_out():
    """New draws of the same two domains, seen by no training."""
    Xs, ys, Xt, yt = make_pair_shift(150, size=75, noise=0.5, seed=12)
    return Xs, ys, Xt, yt


@pytest.fixture(scope="module")
def source_only(paper_like_shift, held_out):
    Xs, ys, Xt, _ = paper_like_shift
    Hs, hys, Ht, hyt = held_out
    clf = SourceOnlyClassifier(**TRAINING).fit(Xs, ys, X_target=Xt)
    return clf.score(Hs, hys), clf.score(Ht, hyt), domain_probe_auc(clf, Hs, Ht)


def test_source_only_fails_on_the_noisy_target(source_only):
    source_accuracy, target_accuracy, probe_auc = source_only
    assert source_accuracy > 0.9
    assert target_accuracy < 0.6
    # measured: 1.00, the noisy domain is obvious in the source-only features
    assert probe_auc > 0.95


@pytest.mark.parametrize("method", list(METHODS))
def test_domain_adaptation_beats_source_only(
    method, paper_like_shift, held_out, source_only
):
    Xs, ys, Xt, _ = paper_like_shift
    Hs, hys, Ht, hyt = held_out
    Estimator, params = METHODS[method]
    clf = Estimator(**TRAINING, **params).fit(Xs, ys, X_target=Xt)
    target_accuracy = clf.score(Ht, hyt)
    probe_auc = domain_probe_auc(clf, Hs, Ht)
    print(
        f"{method}: held-out source {clf.score(Hs, hys):.3f} target "
        f"{target_accuracy:.3f} domain probe AUC {probe_auc:.3f} (source only: "
        f"{source_only[1]:.3f}, {source_only[2]:.3f})"
    )
    assert clf.score(Hs, hys) > 0.85
    assert target_accuracy >= source_only[1] + MARGIN[method]
    # The transfer loss aligned the domains: on held-out images a probe finds
    # them harder to tell apart than after source-only training.
    if PROBE_MARGIN[method] is not None:
        assert abs(probe_auc - 0.5) < abs(source_only[2] - 0.5) - PROBE_MARGIN[method]


# -- DANN over three seeds -------------------------------------------------------
# Measured on this 32x32 shift (256 training images per domain, 15 epochs), the
# target accuracy of plain DANN on held-out target images exceeded source-only by
# 0.20, 0.13 and 0.00 with seeds 0, 1 and 2 at domain_lr_multiplier=1 (mean 0.11;
# 0.1 and noise 0.3: 0.03, 0.05, 0.26), and by 0.016, 0.125 and 0.031 (mean 0.057)
# with the default 0.01, which adapts less in these 120 steps but, unlike 1, never
# fell below source-only on the simulator at longer trainings
# (benchmarks/RESULTS.md). Single seeds range from no gain to a large one, so the
# mean over the three seeds is required to beat source-only by 0.05, and no seed
# may do clearly worse than source-only.
DANN_MEAN_GAIN = 0.05


@pytest.fixture(scope="module")
def small_noisy_shift():
    Xs, ys, Xt, yt = make_pair_shift(384, size=32, noise=0.2, seed=3)
    fit, held_out = slice(0, 256), slice(256, None)
    return (Xs[fit], ys[fit], Xt[fit]), (Xt[held_out], yt[held_out])


def test_dann_beats_source_only_on_average_over_three_seeds(small_noisy_shift):
    (Xs, ys, Xt), (Xt_test, yt_test) = small_noisy_shift
    gains = []
    with warnings.catch_warnings():
        # single seeds may shift the decision threshold; the gain is what counts
        warnings.simplefilter("ignore", UserWarning)
        for seed in range(3):
            training = dict(max_epochs=15, batch_size=32, random_state=seed)
            source_only = SourceOnlyClassifier(**training).fit(Xs, ys, X_target=Xt)
            dann = DANNClassifier(**training).fit(Xs, ys, X_target=Xt)
            gains.append(
                dann.score(Xt_test, yt_test) - source_only.score(Xt_test, yt_test)
            )
    print("DANN target-accuracy gains over source-only:", np.round(gains, 3))
    assert np.mean(gains) > DANN_MEAN_GAIN
    assert min(gains) > -0.05
