"""The "no DA" baseline: cross-entropy on the labelled source batch only."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..data_parallel import gather_across_ranks
from ..module import DomainAdaptationModule
from ._base import Objective, float32_losses
from ._registry import register_objective

__all__ = ["SourceOnlyObjective"]


@register_objective
@dataclass
class SourceOnlyObjective(Objective):
    """Cross-entropy on the labelled source batch only (DeepMerge II "noDA")."""

    name = "source-only"
    label = "noDA"
    uses_target = False
    supports_data_parallel = True

    def __call__(
        self,
        module: DomainAdaptationModule,
        criterion: nn.Module,
        xs: torch.Tensor,
        ys: torch.Tensor,
        xt: torch.Tensor | None,
        progress: float,
    ) -> dict[str, torch.Tensor | float]:
        """Compute the loss of one training step."""
        _, logits = module(xs)
        # The global batch in data-parallel training (unchanged otherwise).
        logits, ys = gather_across_ranks(logits.float()), gather_across_ranks(ys)
        with float32_losses(xs.device.type):
            classification = self.classification(criterion, logits, ys)
        return {"loss": classification, "classification_loss": classification}

    def classification(
        self, criterion: nn.Module, logits: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Return the classification loss of the source batch (the criterion's)."""
        return criterion(logits, labels)
