"""Correlation alignment as the transfer loss (Deep CORAL; Sun & Saenko 2016)."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import ClassVar

import torch

from ..._param_validation import Interval
from ...losses import coral_loss
from ..module import DomainAdaptationModule
from ._adaptation import AdaptationObjective, DomainBatch
from ._base import float32_losses
from ._registry import register_objective

__all__ = ["CORALObjective"]


@register_objective
@dataclass
class CORALObjective(AdaptationObjective):
    """Distance between source and target feature covariances as the transfer loss.

    The transfer loss is :func:`~skdamerge.losses.coral_loss` of the source and
    target latent features, ``||C_S - C_T||_F^2 / (4 d^2)`` plus
    ``coral_mean_weight * ||mu_S - mu_T||^2 / d``.
    """

    coral_mean_weight: float = 1.0

    name = "coral"
    label = "CORAL"
    parameter_constraints: ClassVar[dict[str, list]] = {
        **AdaptationObjective.parameter_constraints,
        "coral_mean_weight": [Interval(Real, 0, None, closed="left")],
    }

    def transfer(
        self,
        module: DomainAdaptationModule,
        source: DomainBatch,
        target: DomainBatch,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the CORAL loss between the two feature batches."""
        with float32_losses(source.features.device.type):
            loss = coral_loss(
                source.features, target.features, mean_weight=self.coral_mean_weight
            )
        return loss, {}
