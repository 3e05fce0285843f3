"""Constraints of the hyperparameters every estimator shares.

Each estimator's ``_parameter_constraints`` is this table plus its objective's
``parameter_constraints``; ``fit`` validates them first, before any data work.
Checks that scikit-learn's constraint types cannot express (the pair ``betas``, a
torch device string) are in :func:`check_common_values`.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import torch
from torch import nn

from .._engine.precision import PRECISIONS
from .._param_validation import HasMethods, Interval, StrOptions
from ..nets import BACKBONES

__all__ = ["COMMON_CONSTRAINTS", "check_common_values"]

_PATH = [str, os.PathLike, None]

COMMON_CONSTRAINTS: dict[str, list] = {
    "backbone": [StrOptions({"auto", *BACKBONES}), nn.Module],
    "feature_layer": [str, None],
    "dropout": [Interval(Real, 0, 1, closed="left"), None],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    # Batch normalisation needs at least two samples per batch.
    "batch_size": [Interval(Integral, 2, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "betas": [tuple, list],
    "eps": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "cycle_length": [Interval(Real, 0, None, closed="left"), None],
    "patience": [Interval(Integral, 0, None, closed="left"), None],
    "validation_fraction": [Interval(Real, 0, 1, closed="left"), None],
    "augment": ["boolean", StrOptions({"auto"})],
    "init_weights": [HasMethods(["save_weights"]), *_PATH],
    "freeze_features": ["boolean"],
    "checkpoint_path": _PATH,
    "resume_from": _PATH,
    "callbacks": [list, None],
    "random_state": ["random_state"],
    "device": [str, torch.device],
    "precision": [StrOptions(set(PRECISIONS))],
    "data_parallel": ["boolean"],
    "verbose": ["verbose"],
}


def check_common_values(estimator) -> None:
    """Check ``betas`` and ``device``, which a type constraint cannot fully check."""
    betas = estimator.betas
    if len(betas) != 2 or not all(
        isinstance(beta, Real) and 0 <= beta < 1 for beta in betas
    ):
        raise ValueError(
            f"The 'betas' parameter of {type(estimator).__name__} must be a pair of "
            f"numbers in [0, 1) (Adam's averaging coefficients); got {betas!r}."
        )
    device = estimator.device
    if device != "auto":
        try:
            torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(
                f"The 'device' parameter of {type(estimator).__name__} must be "
                f"'auto', 'cpu', 'cuda' or a torch device such as 'cuda:1'; got "
                f"{device!r}."
            ) from error
