"""MMD transfer loss (DeepMerge II Sect. 2.1.1; Long et al. 2015)."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import torch

from ..._param_validation import Interval
from ...losses import mmd_loss
from ..module import DomainAdaptationModule
from ._adaptation import AdaptationObjective, DomainBatch
from ._base import float32_losses
from ._registry import register_objective

__all__ = ["MMDObjective"]


@register_objective
@dataclass
class MMDObjective(AdaptationObjective):
    """Multi-kernel MMD between source and target features as the transfer loss."""

    mmd_kernels: int = 5
    mmd_kernel_mul: float = 2.0

    name = "mmd"
    label = "MMD"
    parameter_constraints: ClassVar[dict[str, list]] = {
        **AdaptationObjective.parameter_constraints,
        "mmd_kernels": [Interval(Integral, 1, None, closed="left")],
        "mmd_kernel_mul": [Interval(Real, 1, None, closed="left")],
    }

    def transfer(
        self,
        module: DomainAdaptationModule,
        source: DomainBatch,
        target: DomainBatch,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the MMD between the two feature batches."""
        with float32_losses(source.features.device.type):
            loss = mmd_loss(
                source.features,
                target.features,
                n_kernels=self.mmd_kernels,
                kernel_mul=self.mmd_kernel_mul,
            )
        return loss, {}
