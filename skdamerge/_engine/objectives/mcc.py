"""Minimum class confusion, MCC (Jin et al. 2020), as the transfer loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real
from typing import ClassVar

import torch

from ..._param_validation import Interval
from ...losses import mcc_loss
from ..module import DomainAdaptationModule, head_parameter_names
from ._adaptation import AdaptationObjective, DomainBatch
from ._base import float32_losses
from ._registry import register_objective

__all__ = ["MCCObjective"]


def through_features_only(
    loss: torch.Tensor, head_parameters: list[torch.nn.Parameter]
) -> torch.Tensor:
    """Return ``loss`` with no gradient for ``head_parameters``.

    The value is unchanged, and so is the gradient of every other parameter:
    the features still receive the loss's gradient through the head, which
    serves as a fixed function telling them where to move. The head's own
    share of the gradient is computed once and subtracted.

    Parameters
    ----------
    loss : Tensor
        Scalar loss with its autograd graph.
    head_parameters : list of Parameter
        The parameters to give no gradient (the classifier head's).

    Returns
    -------
    Tensor
        ``loss``'s value, with the gradient described above.
    """
    if not head_parameters:
        return loss
    gradients = torch.autograd.grad(
        loss, head_parameters, retain_graph=True, allow_unused=True
    )
    correction = sum(
        (param * gradient).sum()
        for param, gradient in zip(head_parameters, gradients, strict=True)
        if gradient is not None
    )
    if not isinstance(correction, torch.Tensor):
        return loss
    return loss - (correction - correction.detach())


@register_objective
@dataclass
class MCCObjective(AdaptationObjective):
    """Class confusion of the target predictions as the transfer loss (MCC).

    The loss reads the target logits only. With ``mcc_trains_head=True`` (the
    paper's) it trains the classifier head and, through it, the feature
    extractor, like entropy minimisation; with False only the feature extractor,
    the head being held fixed for this loss (it still learns from the source
    cross-entropy).
    """

    mcc_temperature: float = 5.0
    mcc_trains_head: bool = False
    head_names: frozenset[str] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    name = "mcc"
    label = "MCC"
    parameter_constraints: ClassVar[dict[str, list]] = {
        **AdaptationObjective.parameter_constraints,
        "mcc_temperature": [Interval(Real, 0, None, closed="neither")],
        "mcc_trains_head": ["boolean"],
    }

    def acts_on_features(self) -> bool:
        """Whether the loss needs trainable features.

        With ``mcc_trains_head=True`` the class confusion still trains the label
        predictor when the features are frozen (a head fine-tune), so only the
        Fisher loss needs them; otherwise the class confusion acts on the
        features alone.
        """
        if self.mcc_trains_head:
            return self.uses_fisher
        return self.transfer_weight > 0 or self.uses_fisher

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
        if not self.mcc_trains_head and target.features.requires_grad:
            if self.head_names is None:
                self.head_names = head_parameter_names(
                    module.extractor, target.features
                )
            head = [
                param
                for name, param in module.extractor.named_parameters()
                if name in self.head_names
            ]
            loss = through_features_only(loss, head)
        return loss, {}
