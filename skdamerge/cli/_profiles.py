"""How much data and training a ``skdamerge reproduce`` run gets: the profiles.

A profile sets the data sizes and the training length on top of the tables'
hyperparameters (:mod:`skdamerge.cli._methods`): ``paper`` is the paper's data
sizes and training length (for a GPU), ``quick`` a smaller run for a laptop,
``tiny`` a smoke test. The experiments, backbones and the standardisation of each
experiment's target are set here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "BACKBONES",
    "EXPERIMENTS",
    "PROFILES",
    "TARGET_STANDARDIZATION",
    "Profile",
]

EXPERIMENTS = ("sim2sim", "sim2real")
BACKBONES = ("deepmerge", "resnet18")

#: How ``reproduce`` standardises the target of each experiment: ``"source"`` with
#: the statistics of the source fitting images (ChannelStandardizer); ``"auto"``
#: each domain with its own statistics (DomainStandardizer, as the paper's reference
#: code) when :func:`skdamerge.preprocessing.pixel_units_differ` finds the source
#: and target training images in different pixel units, else as ``"source"``.
TARGET_STANDARDIZATION = {"sim2sim": "source", "sim2real": "auto"}


@dataclass(frozen=True)
class Profile:
    """How much data and training one ``reproduce`` run gets.

    Parameters
    ----------
    name : str
        Profile name.
    description : str
        One line for ``--help`` and the results.
    n_samples : dict of str to int or None
        Images per domain drawn from the simulator, per experiment; None keeps
        every image of the published files (``--data``). With ``--data``, an int
        takes a random, class-stratified subset of that size.
    merger_fraction : dict of str to float
        Fraction of mergers the simulator draws, per experiment.
    image_size : int
        Side of the simulated images (the paper's is 75).
    max_epochs, batch_size : int
        Training length and source batch size.
    patience : int or None
        Overrides the tables' early-stopping patience; None keeps them.
    cycle_length : float or None
        Overrides the tables' learning-rate cycle length; None keeps them.
    n_latent : int
        Test images per domain drawn in the latent-space figure (t-SNE).
    use_all_files : bool
        With ``--data``, train and test on every image of the files instead of a
        subset of ``n_samples``.
    """

    name: str
    description: str
    n_samples: dict[str, int | None]
    merger_fraction: dict[str, float]
    image_size: int
    max_epochs: int
    batch_size: int
    patience: int | None = None
    cycle_length: float | None = None
    n_latent: int = 500
    use_all_files: bool = False

    def training_overrides(self) -> dict[str, Any]:
        """Return the constructor arguments that the profile sets over the tables."""
        overrides: dict[str, Any] = {
            "max_epochs": self.max_epochs,
            "batch_size": self.batch_size,
        }
        if self.patience is not None:
            overrides["patience"] = self.patience
        if self.cycle_length is not None:
            overrides["cycle_length"] = self.cycle_length
        return overrides


# Paper Sect. 4: 8120 mergers and 7306 non-mergers per sim2sim domain; 3000 + 3000
# per sim2real domain.
_PAPER_SIM2SIM = 8120 + 7306

PROFILES = {
    "paper": Profile(
        name="paper",
        description="the paper's data sizes and up to 100 epochs with early "
        "stopping (for a GPU)",
        n_samples={"sim2sim": _PAPER_SIM2SIM, "sim2real": 6000},
        merger_fraction={"sim2sim": 8120 / _PAPER_SIM2SIM, "sim2real": 0.5},
        image_size=75,
        max_epochs=100,
        batch_size=128,
        n_latent=1000,
        use_all_files=True,
    ),
    "quick": Profile(
        name="quick",
        description="2,000 images per domain and 16 epochs: under 10 minutes on "
        "two CPU cores",
        n_samples={"sim2sim": 2000, "sim2real": 2000},
        merger_fraction={"sim2sim": 0.5, "sim2real": 0.5},
        image_size=75,
        max_epochs=16,
        batch_size=64,
        n_latent=300,
    ),
    "tiny": Profile(
        name="tiny",
        description="a smoke test in seconds (60 images of 32x32, 2 epochs); "
        "the numbers mean nothing",
        n_samples={"sim2sim": 60, "sim2real": 60},
        merger_fraction={"sim2sim": 0.5, "sim2real": 0.5},
        image_size=32,
        max_epochs=2,
        batch_size=16,
        n_latent=12,
    ),
}
