"""Sinkhorn-divergence alignment with learned loss weights, after SIDDA.

Pandya, Patel, Nord, Walmsley & Ćiprijanović (2025), "SIDDA: SInkhorn Dynamic
Domain Adaptation for Image Classification with Equivariant Neural Networks". The
transfer loss is the debiased Sinkhorn divergence between the source and target
feature batches, with an entropic regularisation set from each batch's distances
(:func:`skdamerge.losses.sinkhorn_divergence`); the balance between the
classification and alignment terms is learned with homoscedastic-uncertainty
weights (Kendall, Gal & Cipolla 2018), held by an extra module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import torch
from torch import nn

from ..._param_validation import Interval
from ...losses import sinkhorn_divergence
from ...losses import sinkhorn_epsilon as batch_epsilon
from ..history_keys import (
    ALIGNMENT_WEIGHT,
    CLASSIFICATION_LOSS,
    CLASSIFICATION_WEIGHT,
    ENTROPY_LOSS,
    FISHER_LOSS,
    SINKHORN_EPSILON,
    TRANSFER_LOSS,
)
from ..module import DomainAdaptationModule
from ._adaptation import AdaptationObjective, DomainBatch
from ._base import float32_losses
from ._registry import register_objective

__all__ = ["LossWeights", "SinkhornObjective"]

LOSS_WEIGHTS = "loss_weights"
# SIDDA clamps its alignment scale at a quarter of the classification scale
# (eta_2 >= eta_1 / 4), so that the alignment weight is at most 16 times the
# classification weight: in log-variances, s_2 >= s_1 - log 16.
_MAX_WEIGHT_RATIO = 16.0


class LossWeights(nn.Module):
    """Two learned log-variances ``(s_1, s_2)``, both starting at 0 (weights 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.log_variances = nn.Parameter(torch.zeros(2))

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``s_1`` and ``s_2``, the latter clamped at ``s_1 - log 16``."""
        s1, s2 = self.log_variances[0], self.log_variances[1]
        s2 = torch.maximum(s2, s1.detach() - math.log(_MAX_WEIGHT_RATIO))
        return s1, s2


@register_objective
@dataclass
class SinkhornObjective(AdaptationObjective):
    """Debiased Sinkhorn divergence, weighted against the cross-entropy by learning.

    With ``dynamic_weights=True`` the total loss is
    ``exp(-s_1) CE + exp(-s_2) transfer_weight S + s_1 + s_2`` (+ the Fisher and
    entropy terms), with ``s_1, s_2`` trained with the network; the weights
    ``exp(-s_1)`` and ``exp(-s_2)`` are recorded as ``classification_weight`` and
    ``alignment_weight``, the regularisation of each batch as ``sinkhorn_epsilon``.
    """

    sinkhorn_blur: float = 0.05
    sinkhorn_epsilon: float | None = None
    sinkhorn_max_iter: int = 1000
    sinkhorn_normalize: bool = True
    dynamic_weights: bool = True

    name = "sinkhorn"
    label = "Sinkhorn"
    parameter_constraints: ClassVar[dict[str, list]] = {
        **AdaptationObjective.parameter_constraints,
        "sinkhorn_blur": [Interval(Real, 0, None, closed="neither")],
        "sinkhorn_epsilon": [Interval(Real, 0, None, closed="neither"), None],
        "sinkhorn_max_iter": [Interval(Integral, 1, None, closed="left")],
        "sinkhorn_normalize": ["boolean"],
        "dynamic_weights": ["boolean"],
    }
    records: ClassVar[tuple[str, ...]] = AdaptationObjective.records + (
        CLASSIFICATION_WEIGHT,
        ALIGNMENT_WEIGHT,
        SINKHORN_EPSILON,
    )

    def extra_modules(self, n_features: int) -> dict[str, nn.Module]:
        """Return the learned loss weights (with ``dynamic_weights``)."""
        return {LOSS_WEIGHTS: LossWeights()} if self.dynamic_weights else {}

    def transfer(
        self,
        module: DomainAdaptationModule,
        source: DomainBatch,
        target: DomainBatch,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the Sinkhorn divergence and the batch's regularisation."""
        with float32_losses(source.features.device.type):
            epsilon = self.sinkhorn_epsilon
            if epsilon is None:
                epsilon = batch_epsilon(
                    source.features, target.features, self.sinkhorn_blur
                )
            loss = sinkhorn_divergence(
                source.features,
                target.features,
                epsilon=epsilon,
                max_iter=self.sinkhorn_max_iter,
                normalize=self.sinkhorn_normalize,
            )
        return loss, {SINKHORN_EPSILON: float(epsilon)}

    def __call__(
        self,
        module: DomainAdaptationModule,
        criterion: nn.Module,
        xs: torch.Tensor,
        ys: torch.Tensor,
        xt: torch.Tensor | None,
        progress: float,
    ) -> dict[str, torch.Tensor | float]:
        """Eq. 2 with the classification and alignment terms weighted by learning."""
        result = super().__call__(module, criterion, xs, ys, xt, progress)
        result.setdefault(SINKHORN_EPSILON, 0.0)
        if not self.dynamic_weights or xt is None:
            result[CLASSIFICATION_WEIGHT] = 1.0
            result[ALIGNMENT_WEIGHT] = float(self.transfer_weight)
            return result
        s1, s2 = getattr(module, LOSS_WEIGHTS)()
        with float32_losses(xs.device.type):
            s1, s2 = s1.float(), s2.float()
            loss = (
                torch.exp(-s1) * result[CLASSIFICATION_LOSS]
                + torch.exp(-s2) * self.transfer_weight * result[TRANSFER_LOSS]
                + s1
                + s2
            )
            loss = loss + result[FISHER_LOSS]
            loss = loss + self.entropy_weight * result[ENTROPY_LOSS]
        result["loss"] = loss
        result[CLASSIFICATION_WEIGHT] = float(torch.exp(-s1).detach())
        result[ALIGNMENT_WEIGHT] = float(torch.exp(-s2).detach())
        return result
