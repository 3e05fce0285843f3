"""Conditional domain-adversarial training, CDAN (Long et al. 2018).

A domain discriminator sees the multilinear map of the latent features and the
class probabilities through a gradient reversal layer. The learning-rate
multiplier of the discriminator, the reversal schedule, the domain accuracies and
the collapse diagnostics are those of DANN (:mod:`.adversarial`).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..._param_validation import Interval, StrOptions
from ...losses import (
    conditional_adversarial_loss,
    entropy_conditioning_weights,
    gradient_reversal,
    grl_coefficient,
    multilinear_map,
    randomized_multilinear_map,
)
from ...nets import DomainClassifier
from ..history_keys import DOMAIN_ACC_SOURCE, DOMAIN_ACC_TARGET, GRL_COEFFICIENT
from ..module import DomainAdaptationModule
from ._adaptation import DomainBatch
from ._base import float32_losses
from ._registry import register_objective
from .adversarial import DOMAIN_CLASSIFIER, AdversarialObjective

__all__ = ["CDANObjective", "ConditionalDomainClassifier"]

#: Classes of the label predictor: the estimators are binary (labels 0/1).
N_CLASSES = 2
#: Size of the full multilinear map above which ``randomized="auto"`` randomizes
#: (the threshold of the CDAN paper, Sect. 3.2).
RANDOMIZE_ABOVE = 4096


class ConditionalDomainClassifier(nn.Module):
    """Domain discriminator on the multilinear map of features and predictions.

    Parameters
    ----------
    n_features : int
        Dimension ``d`` of the latent features.
    n_classes : int
        Number of classes ``C``.
    randomized : bool
        Use :func:`~skdamerge.losses.randomized_multilinear_map` with fixed
        Gaussian matrices (buffers ``random_features``, ``random_probabilities``,
        drawn here from torch's generator, saved with the weights) instead of
        the full ``d * C`` map.
    randomized_dim : int
        Output size ``m`` of the randomized map.
    hidden, dropout
        Of the :class:`~skdamerge.nets.DomainClassifier` that follows the map.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        *,
        randomized: bool,
        randomized_dim: int,
        hidden: int = 1024,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.randomized = randomized
        if randomized:
            self.register_buffer(
                "random_features", torch.randn(n_features, randomized_dim)
            )
            self.register_buffer(
                "random_probabilities", torch.randn(n_classes, randomized_dim)
            )
            n_inputs = randomized_dim
        else:
            n_inputs = n_features * n_classes
        self.discriminator = DomainClassifier(n_inputs, hidden=hidden, dropout=dropout)

    def conditioning(
        self, features: torch.Tensor, probabilities: torch.Tensor
    ) -> torch.Tensor:
        """Return the (randomized) multilinear map ``T(f, g)``."""
        if probabilities.shape[1] != self.n_classes:
            raise ValueError(
                f"the label predictor gives {probabilities.shape[1]} class scores; "
                f"the conditional domain classifier was built for {self.n_classes}."
            )
        if self.randomized:
            return randomized_multilinear_map(
                features,
                probabilities,
                self.random_features.to(features.dtype),
                self.random_probabilities.to(features.dtype),
            )
        return multilinear_map(features, probabilities)

    def forward(self, conditioning: torch.Tensor) -> torch.Tensor:
        """Return one domain logit per row of the map (source = positive)."""
        return self.discriminator(conditioning)


@register_objective
@dataclass
class CDANObjective(AdversarialObjective):
    """Domain discriminator on ``T(f, g)`` through gradient reversal (CDAN).

    The discriminator minimises its binary cross-entropy on the multilinear map
    of the features ``f`` and the softmax predictions ``g`` (detached, as in the
    authors' code: the adversarial gradient reaches the network through ``f``
    only); the reversed gradient makes the features confuse it. With
    ``entropy_conditioning`` (CDAN+E) each sample's loss is weighted by
    ``1 + exp(-H(g))``, normalised per domain.
    """

    domain_lr_multiplier: float = 0.01
    entropy_conditioning: bool = False
    randomized: bool | str = "auto"
    randomized_dim: int = 1024

    name = "cdan"
    label = "CDAN"
    parameter_constraints: ClassVar[dict[str, list]] = {
        **AdversarialObjective.parameter_constraints,
        "entropy_conditioning": ["boolean"],
        "randomized": ["boolean", StrOptions({"auto"})],
        "randomized_dim": [Interval(Integral, 1, None, closed="left")],
    }

    def uses_randomized_map(self, n_features: int) -> bool:
        """Whether the map is randomized for features of this dimension."""
        if self.randomized == "auto":
            return n_features * N_CLASSES > RANDOMIZE_ABOVE
        return bool(self.randomized)

    def extra_modules(self, n_features: int) -> dict[str, nn.Module]:
        """Return the conditional domain classifier (map → 1024 → 1024 → 1)."""
        return {
            DOMAIN_CLASSIFIER: ConditionalDomainClassifier(
                n_features,
                N_CLASSES,
                randomized=self.uses_randomized_map(n_features),
                randomized_dim=self.randomized_dim,
                hidden=self.domain_hidden,
                dropout=self.domain_dropout,
            )
        }

    def transfer(
        self,
        module: DomainAdaptationModule,
        source: DomainBatch,
        target: DomainBatch,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the conditional domain loss and the domain accuracies."""
        domain_classifier = getattr(module, DOMAIN_CLASSIFIER)
        features = torch.cat([source.features, target.features])
        probabilities = F.softmax(torch.cat([source.logits, target.logits]), 1).detach()
        conditioning = domain_classifier.conditioning(features, probabilities)
        coefficient = grl_coefficient(progress, self.grl_schedule)
        # The discriminator runs in the autocast precision, its loss in float32.
        domain_logits = domain_classifier(
            gradient_reversal(conditioning, coefficient)
        ).float()
        n_source = len(source.features)
        source_weights = target_weights = None
        if self.entropy_conditioning:
            weights = entropy_conditioning_weights(probabilities)
            source_weights, target_weights = weights[:n_source], weights[n_source:]
        with float32_losses(features.device.type):
            loss = conditional_adversarial_loss(
                domain_logits[:n_source],
                domain_logits[n_source:],
                source_weights,
                target_weights,
            )
        acc_source, acc_target = self._domain_accuracy(
            domain_classifier, conditioning[:n_source], conditioning[n_source:]
        )
        return loss, {
            DOMAIN_ACC_SOURCE: acc_source,
            DOMAIN_ACC_TARGET: acc_target,
            GRL_COEFFICIENT: coefficient,
        }
