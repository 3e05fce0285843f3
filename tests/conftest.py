"""Shared fixtures: small synthetic domain shifts that train in seconds."""

import numpy as np
import pytest
import torch

from skdamerge._engine.module import DomainAdaptationModule
from skdamerge.nets import FeatureExtractor, make_backbone

# One thread per test process: on a busy 2-core machine a second torch thread
# mostly waits, and trainings become many times slower.
torch.set_num_threads(1)


def make_pair_shift(n, *, size=32, noise=0.5, seed=0):
    """Single blobs (class 0) vs blob pairs (class 1), clean source, noisy target.

    The same kind of shift as the paper's pristine/noisy pair: the target is drawn
    from the same object distribution with Gaussian pixel noise added, so a network
    trained on clean images alone sees unfamiliar feature statistics on the target.
    """
    rng = np.random.default_rng(seed)
    grid_y, grid_x = np.mgrid[:size, :size] - size / 2

    def render(n_images, sigma_noise):
        y = rng.integers(0, 2, n_images)
        centre = rng.normal(0, size / 16, (n_images, 2, 1, 1))
        width = size / 10
        images = np.exp(
            -((grid_x - centre[:, 0]) ** 2 + (grid_y - centre[:, 1]) ** 2)
            / (2 * width**2)
        )
        angle = rng.uniform(0, 2 * np.pi, (n_images, 1, 1))
        distance = rng.uniform(0.2, 0.28, (n_images, 1, 1)) * size
        cx = centre[:, 0] + distance * np.cos(angle)
        cy = centre[:, 1] + distance * np.sin(angle)
        companion = 0.5 * np.exp(
            -((grid_x - cx) ** 2 + (grid_y - cy) ** 2) / (2 * (0.7 * width) ** 2)
        )
        images = images + y[:, None, None] * companion
        X = np.repeat(images[:, None], 3, axis=1)
        X *= np.array([0.8, 1.0, 1.2])[None, :, None, None]
        X += rng.normal(0, sigma_noise, X.shape)
        return X.astype(np.float32), y

    X_source, y_source = render(n, 0.0)
    X_target, y_target = render(n, noise)
    return X_source, y_source, X_target, y_target


@pytest.fixture(scope="session")
def tiny_shift():
    """200 images of 16x16 per domain, for API tests."""
    return make_pair_shift(200, size=16, seed=1)


@pytest.fixture(scope="session")
def paper_like_shift():
    """300 images of 3x75x75 per domain: clean source, noisy target."""
    return make_pair_shift(300, size=75, noise=0.5, seed=2)


def objective_module(objective, n_in=6, seed=0):
    """A small MLP network with the objective's extra modules, in eval mode.

    Evaluation mode (no dropout, fixed batch-norm statistics) makes the objective
    and a hand computation of its terms see the same numbers.
    """
    torch.manual_seed(seed)
    extractor = FeatureExtractor(make_backbone("mlp", (n_in,)), None)
    with torch.no_grad():
        n_features = extractor(torch.zeros(2, n_in))[0].shape[1]
    module = DomainAdaptationModule(extractor, objective.extra_modules(n_features))
    return module.eval()


def objective_batches(seed=1):
    """Source images with labels and target images from another domain."""
    generator = torch.Generator().manual_seed(seed)
    xs = torch.randn(8, 6, generator=generator)
    xt = torch.randn(8, 6, generator=generator) * 2 + 1  # another domain
    ys = torch.tensor([0, 1, 0, 1, 1, 0, 1, 0])
    return xs, ys, xt
