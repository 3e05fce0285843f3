"""DeepJDOT: optimal transport of the joint feature-label distributions.

Damodaran, Kellenberger, Flamary, Tuia & Courty (2018), ECCV. The transfer loss is
the cost of the exact optimal transport plan between the source and target batches,
with a cost that joins the feature distance and the loss of each target prediction
against each source label (:func:`skdamerge.losses.jdot_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import ClassVar

import torch

from ..._param_validation import Interval
from ...losses import jdot_loss
from ..history_keys import JDOT_FEATURE_COST, JDOT_LABEL_COST
from ..module import DomainAdaptationModule
from ._adaptation import AdaptationObjective, DomainBatch
from ._base import float32_losses
from ._registry import register_objective

__all__ = ["DeepJDOTObjective"]


@register_objective
@dataclass
class DeepJDOTObjective(AdaptationObjective):
    """Exact-OT joint distribution matching of the two batches as the transfer loss.

    The weighted feature and label parts of the transport cost are recorded as
    ``jdot_feature_cost`` and ``jdot_label_cost`` (their sum is the transfer loss).
    """

    jdot_alpha: float = 0.001
    jdot_lambda: float = 0.0001

    name = "deepjdot"
    label = "DeepJDOT"
    parameter_constraints: ClassVar[dict[str, list]] = {
        **AdaptationObjective.parameter_constraints,
        "jdot_alpha": [Interval(Real, 0, None, closed="left")],
        "jdot_lambda": [Interval(Real, 0, None, closed="left")],
    }
    records: ClassVar[tuple[str, ...]] = AdaptationObjective.records + (
        JDOT_FEATURE_COST,
        JDOT_LABEL_COST,
    )
    adaptation_knobs: ClassVar[tuple[str, ...]] = (
        AdaptationObjective.adaptation_knobs + ("jdot_lambda",)
    )

    def validate(self) -> None:
        """Reject a transport cost that is identically zero."""
        super().validate()
        if self.jdot_alpha == 0 and self.jdot_lambda == 0:
            raise ValueError(
                "jdot_alpha and jdot_lambda are both 0, so the transport cost and "
                "the transfer loss vanish; set one of them above 0 (or use "
                "transfer_weight=0 to switch the transfer loss off)."
            )

    def transfer(
        self,
        module: DomainAdaptationModule,
        source: DomainBatch,
        target: DomainBatch,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the DeepJDOT transport cost and its feature and label parts."""
        with float32_losses(source.features.device.type):
            loss, feature_term, label_term = jdot_loss(
                source.features,
                source.labels,
                target.features,
                target.logits,
                alpha=self.jdot_alpha,
                lambda_t=self.jdot_lambda,
                return_terms=True,
            )
        return loss, {
            JDOT_FEATURE_COST: float(feature_term.detach()),
            JDOT_LABEL_COST: float(label_term.detach()),
        }
