"""End-to-end: domain adaptation recovers the target accuracy that noise destroys.

The shift is the paper's simulation-to-simulation kind: the same population of
objects, rendered clean (source) and with strong pixel noise (target). A network
trained on the clean images alone is near chance on the noisy ones (DeepMerge II
Table B1, "noDA": almost every target image is called a non-merger).
"""

import pytest
import torch

from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge.losses import mmd_loss

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
# Target-accuracy gain over source-only required of each method. Adversarial
# training is finicky, as the paper reports: on this shift plain DANN's target
# accuracy varies from chance to ~0.9 with the seed, so it is only required to do
# no harm while aligning the domains; with the paper's Fisher + entropy terms it
# must beat source-only clearly.
MARGIN = {"MMD": 0.25, "MMD+F": 0.25, "ADA": 0.0, "ADA+F": 0.15}


def domain_distance(clf, Xs, Xt):
    """Squared MMD between the source and target latent features (median bandwidth)."""
    return mmd_loss(
        torch.from_numpy(clf.transform(Xs)), torch.from_numpy(clf.transform(Xt))
    ).item()


@pytest.fixture(scope="module")
def source_only(paper_like_shift):
    Xs, ys, Xt, yt = paper_like_shift
    clf = SourceOnlyClassifier(**TRAINING).fit(Xs, ys, X_target=Xt)
    return clf.score(Xs, ys), clf.score(Xt, yt), domain_distance(clf, Xs, Xt)


def test_source_only_fails_on_the_noisy_target(source_only):
    source_accuracy, target_accuracy, _ = source_only
    assert source_accuracy > 0.9
    assert target_accuracy < 0.6


@pytest.mark.parametrize("method", list(METHODS))
def test_domain_adaptation_beats_source_only(method, paper_like_shift, source_only):
    Xs, ys, Xt, yt = paper_like_shift
    Estimator, params = METHODS[method]
    clf = Estimator(**TRAINING, **params).fit(Xs, ys, X_target=Xt)
    target_accuracy = clf.score(Xt, yt)
    distance = domain_distance(clf, Xs, Xt)
    print(
        f"{method}: source {clf.score(Xs, ys):.3f} target {target_accuracy:.3f} "
        f"MMD {distance:.3f} (source only: {source_only[2]:.3f})"
    )
    assert clf.score(Xs, ys) > 0.85
    assert target_accuracy >= source_only[1] + MARGIN[method]
    # The transfer loss did its job: the domains are closer in latent space.
    assert distance < 0.7 * source_only[2]
