"""Margin disparity discrepancy (MDD; Zhang, Liu, Long & Jordan 2019).

The objective, its auxiliary classifier head and learning-rate multiplier, and its
history records (the discrepancy and the reversal coefficient).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import torch
from torch import nn

from ..._param_validation import Interval, StrOptions
from ...losses import gradient_reversal, grl_coefficient, margin_disparity_discrepancy
from ..history_keys import GRL_COEFFICIENT, MARGIN_DISPARITY
from ..module import DomainAdaptationModule
from ._adaptation import AdaptationObjective, DomainBatch
from ._base import float32_losses
from ._registry import register_objective

__all__ = ["MDDObjective", "auxiliary_head"]

AUXILIARY_HEAD = "mdd_head"
# Dropout of the auxiliary head, as in the reference implementation.
AUXILIARY_DROPOUT = 0.5


def auxiliary_head(
    n_features: int,
    hidden: int | tuple[int, ...] = 1024,
    n_classes: int = 2,
    dropout: float = 0.5,
) -> nn.Module:
    """Return the auxiliary classifier ``n_features → hidden… → n_classes``.

    For each hidden width a dense layer, ReLU and dropout, then a dense layer to
    one logit per class. One width is the adversarial head of the MDD reference
    implementation; several (``(64, 32)``) give a head with the hidden layers of
    DeepMerge's own classifier.
    """
    widths = (hidden,) if isinstance(hidden, Integral) else tuple(hidden)
    layers: list[nn.Module] = []
    n_inputs = n_features
    for width in widths:
        layers += [nn.Linear(n_inputs, int(width)), nn.ReLU(), nn.Dropout(dropout)]
        n_inputs = int(width)
    layers.append(nn.Linear(n_inputs, n_classes))
    return nn.Sequential(*layers)


@register_objective
@dataclass
class MDDObjective(AdaptationObjective):
    """Margin disparity discrepancy through a gradient reversal layer.

    The transfer loss is ``-D`` with ``D`` the
    :func:`~skdamerge.losses.margin_disparity_discrepancy` of the auxiliary head
    against the main classifier's predictions. Every parameter minimises
    ``transfer_weight * -D``: the auxiliary head, which sees the features through
    a gradient reversal layer, therefore maximises ``D``, while the feature
    extractor receives ``grl_coefficient`` times the gradient of
    ``transfer_weight * D`` and minimises it. The main classifier gets no gradient
    from ``D`` (its predictions enter as fixed labels). The auxiliary head is
    trained at ``lr * auxiliary_lr_multiplier``.
    """

    mdd_margin: float = 4.0
    mdd_hidden: int | tuple[int, ...] = 1024
    auxiliary_lr_multiplier: float = 0.1
    grl_schedule: str = "ganin"
    grl_max_coefficient: float = 0.1

    name = "mdd"
    label = "MDD"
    parameter_constraints: ClassVar[dict[str, list]] = {
        **AdaptationObjective.parameter_constraints,
        "mdd_margin": [Interval(Real, 0, None, closed="neither")],
        "mdd_hidden": [Interval(Integral, 1, None, closed="left"), tuple],
        "auxiliary_lr_multiplier": [Interval(Real, 0, None, closed="left")],
        "grl_schedule": [StrOptions({"ganin", "constant"})],
        "grl_max_coefficient": [Interval(Real, 0, None, closed="left")],
    }
    records: ClassVar[tuple[str, ...]] = AdaptationObjective.records + (
        MARGIN_DISPARITY,
        GRL_COEFFICIENT,
    )
    adaptation_knobs: ClassVar[tuple[str, ...]] = (
        AdaptationObjective.adaptation_knobs + ("grl_max_coefficient",)
    )

    def validate(self) -> None:
        """Reject a tuple of hidden widths that is empty or not of positive ints."""
        super().validate()
        if not isinstance(self.mdd_hidden, tuple):
            return  # a single width: checked by parameter_constraints
        positive_ints = [
            isinstance(width, Integral) and not isinstance(width, bool) and width >= 1
            for width in self.mdd_hidden
        ]
        if not positive_ints or not all(positive_ints):
            raise ValueError(
                "mdd_hidden must be a positive int or a non-empty tuple of positive "
                "ints (the widths of the auxiliary head's hidden layers, such as "
                f"(64, 32)), got {self.mdd_hidden!r}."
            )

    def extra_modules(self, n_features: int) -> dict[str, nn.Module]:
        """Return the auxiliary head ``n_features → mdd_hidden… → 2``."""
        return {
            AUXILIARY_HEAD: auxiliary_head(
                n_features, hidden=self.mdd_hidden, dropout=AUXILIARY_DROPOUT
            )
        }

    def lr_multipliers(self) -> dict[str, float]:
        """Train the auxiliary head at ``lr * auxiliary_lr_multiplier``."""
        return {AUXILIARY_HEAD: self.auxiliary_lr_multiplier}

    def transfer(
        self,
        module: DomainAdaptationModule,
        source: DomainBatch,
        target: DomainBatch,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return ``-D`` (the transfer loss), ``D`` and the reversal coefficient."""
        head = getattr(module, AUXILIARY_HEAD)
        coefficient = grl_coefficient(
            progress, self.grl_schedule, max_coeff=self.grl_max_coefficient
        )
        reversed_features = gradient_reversal(
            torch.cat([source.features, target.features]), coefficient
        )
        # The head runs in the autocast precision, the discrepancy in float32.
        auxiliary_logits = head(reversed_features).float()
        n_source = len(source.features)
        with float32_losses(source.features.device.type):
            discrepancy = margin_disparity_discrepancy(
                source.logits,
                auxiliary_logits[:n_source],
                target.logits,
                auxiliary_logits[n_source:],
                margin=self.mdd_margin,
            )
        return -discrepancy, {
            MARGIN_DISPARITY: float(discrepancy.detach()),
            GRL_COEFFICIENT: coefficient,
        }
