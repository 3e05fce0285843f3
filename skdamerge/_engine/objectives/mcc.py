"""Minimum class confusion, MCC (Jin et al. 2020), as the transfer loss."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import ClassVar

import torch

from ..._param_validation import Interval
from ...losses import mcc_loss
from ..module import DomainAdaptationModule
from ._adaptation import AdaptationObjective, DomainBatch
from ._base import float32_losses
from ._registry import register_objective

__all__ = ["MCCObjective"]


@register_objective
@dataclass
class MCCObjective(AdaptationObjective):
    """Class confusion of the target predictions as the transfer loss (MCC).

    The loss reads the target logits only; it reaches the feature extractor
    through the label predictor, like entropy minimisation.
    """

    mcc_temperature: float = 2.5

    name = "mcc"
    label = "MCC"
    parameter_constraints: ClassVar[dict[str, list]] = {
        **AdaptationObjective.parameter_constraints,
        "mcc_temperature": [Interval(Real, 0, None, closed="neither")],
    }

    def acts_on_features(self) -> bool:
        """Whether the Fisher loss is on: MCC acts on the predictions.

        Like entropy minimisation, the class confusion still trains the label
        predictor when the features are frozen (a head fine-tune).
        """
        return self.uses_fisher

    def transfer(
        self,
        module: DomainAdaptationModule,
        source: DomainBatch,
        target: DomainBatch,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the minimum-class-confusion loss of the target predictions."""
        with float32_losses(target.logits.device.type):
            loss = mcc_loss(target.logits, temperature=self.mcc_temperature)
        return loss, {}
