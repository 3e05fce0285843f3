"""Per-step training objectives: the paper's total loss (eq. 2) for each method.

An objective takes the network, a source batch with labels and a target batch, and
returns the total loss to minimise plus each of its components for the history.

Under mixed precision the training loop calls an objective inside an autocast
context: the network layers (backbone, domain classifier) run in the low precision,
while every loss is computed in float32 on float32 copies of the features and
logits, with autocast switched off (:func:`_float32_losses`), so that the MMD
distances, the Fisher scatter and the entropies keep their accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .losses import (
    domain_accuracy,
    domain_adversarial_loss,
    entropy_loss,
    fisher_loss,
    gradient_reversal,
    grl_coefficient,
    mmd_loss,
    total_loss,
)
from .nets import DomainClassifier, FeatureExtractor

__all__ = [
    "AdversarialObjective",
    "DomainAdaptationModule",
    "MMDObjective",
    "SourceOnlyObjective",
]


def _float32_losses(device_type: str):
    """Context in which losses run in float32 (autocast switched off)."""
    return torch.autocast(device_type, enabled=False)


class DomainAdaptationModule(nn.Module):
    """The trained network: a feature extractor and, for DANN, a domain classifier.

    Parameters
    ----------
    extractor : FeatureExtractor
        Backbone wrapped to return ``(features, logits)``.
    domain_classifier : nn.Module or None, default=None
        Discriminator on the latent features (domain-adversarial training only).
    """

    def __init__(
        self, extractor: FeatureExtractor, domain_classifier: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.extractor = extractor
        self.domain_classifier = domain_classifier
        self.frozen_norm_layers: list[str] = []

    def freeze_norm_layers(self, names: list[str]) -> None:
        """Keep these batch-norm layers of the extractor in evaluation mode.

        Frozen layers keep their weights *and* their running statistics: a
        batch-norm layer in training mode would otherwise go on updating its
        running mean and variance from the new data although its weights are
        fixed (``freeze_features=True``).
        """
        self.frozen_norm_layers = list(names)
        self.train(self.training)

    def train(self, mode: bool = True):
        """Set training mode; frozen batch-norm layers stay in evaluation mode."""
        super().train(mode)
        for name in getattr(self, "frozen_norm_layers", []):
            self.extractor.get_submodule(name).eval()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(features, logits)``."""
        return self.extractor(x)


class _Objective:
    """What every objective provides besides ``__call__``."""

    def components(self) -> tuple[str, ...]:
        """Names of the loss components recorded per batch."""
        return ("classification_loss",)

    def build_domain_classifier(self, n_features: int) -> nn.Module | None:
        """Return the extra network this objective trains, if any."""
        return None

    def acts_on_features(self) -> bool:
        """Whether a loss term acts on the latent features (not only the head)."""
        return False


@dataclass
class SourceOnlyObjective(_Objective):
    """Cross-entropy on the labelled source batch only (the "no DA" baseline)."""

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
        with _float32_losses(xs.device.type):
            classification = criterion(logits.float(), ys)
        return {"loss": classification, "classification_loss": classification}


@dataclass
class _AdaptationObjective(_Objective):
    """Shared part of the domain-adaptation objectives (paper eq. 2).

    One forward pass over the concatenated source and target batch gives the
    features and logits of both domains; the classification loss and the Fisher
    loss use the source part, entropy minimisation the target part, and the
    transfer loss (defined by subclasses) both.
    """

    transfer_weight: float = 1.0
    fisher_intra_weight: float = 0.0
    fisher_inter_weight: float = 1.0
    fisher_kind: str = "ratio"
    entropy_weight: float = 0.0

    @property
    def uses_fisher(self) -> bool:
        """Whether the Fisher loss contributes to the total loss.

        The trace ratio needs ``fisher_intra_weight > 0`` (its numerator); the
        trace difference acts as soon as either weight is positive.
        """
        if self.fisher_kind == "ratio":
            return self.fisher_intra_weight > 0
        return self.fisher_intra_weight > 0 or self.fisher_inter_weight > 0

    def acts_on_features(self) -> bool:
        """Whether the transfer or Fisher loss is on (both act on the features)."""
        return self.transfer_weight > 0 or self.uses_fisher

    def components(self) -> tuple[str, ...]:
        """Names of the loss components recorded per batch."""
        return (
            "classification_loss",
            "transfer_loss",
            "fisher_loss",
            "entropy_loss",
        )

    def transfer(
        self,
        module: DomainAdaptationModule,
        source_features: torch.Tensor,
        target_features: torch.Tensor,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the transfer loss and extra per-batch records."""
        raise NotImplementedError

    def __call__(
        self,
        module: DomainAdaptationModule,
        criterion: nn.Module,
        xs: torch.Tensor,
        ys: torch.Tensor,
        xt: torch.Tensor | None,
        progress: float,
    ) -> dict[str, torch.Tensor | float]:
        """Compute the total loss of one training step and its components."""
        n_source = len(xs)
        inputs = xs if xt is None else torch.cat([xs, xt])
        features, logits = module(inputs)
        # No-ops in float32; under autocast the losses get float32 inputs.
        features, logits = features.float(), logits.float()
        device_type = inputs.device.type
        source_features = features[:n_source]
        with _float32_losses(device_type):
            classification = criterion(logits[:n_source], ys)
            fisher = None
            if self.uses_fisher:
                fisher = fisher_loss(
                    source_features,
                    ys,
                    intra_weight=self.fisher_intra_weight,
                    inter_weight=self.fisher_inter_weight,
                    kind=self.fisher_kind,
                )
        transfer = entropy = None
        records: dict[str, float] = {}
        if xt is not None:
            transfer, records = self.transfer(
                module, source_features, features[n_source:], progress
            )
            if self.entropy_weight > 0:
                with _float32_losses(device_type):
                    entropy = entropy_loss(logits[n_source:])
        with _float32_losses(device_type):
            loss = total_loss(
                classification,
                transfer=transfer,
                fisher=fisher,
                entropy=entropy,
                transfer_weight=self.transfer_weight,
                entropy_weight=self.entropy_weight,
            )
        result: dict[str, torch.Tensor | float] = {
            "loss": loss,
            "classification_loss": classification,
        }
        for name, value in (
            ("transfer_loss", transfer),
            ("fisher_loss", fisher),
            ("entropy_loss", entropy),
        ):
            result[name] = 0.0 if value is None else value
        result.update(records)
        return result


@dataclass
class MMDObjective(_AdaptationObjective):
    """Multi-kernel MMD between source and target features as the transfer loss."""

    n_kernels: int = 5
    kernel_mul: float = 2.0

    def transfer(
        self,
        module: DomainAdaptationModule,
        source_features: torch.Tensor,
        target_features: torch.Tensor,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the MMD between the two feature batches."""
        with _float32_losses(source_features.device.type):
            loss = mmd_loss(
                source_features.float(),
                target_features.float(),
                n_kernels=self.n_kernels,
                kernel_mul=self.kernel_mul,
            )
        return loss, {}


@dataclass
class AdversarialObjective(_AdaptationObjective):
    """Domain-classifier loss through a gradient reversal layer (DANN).

    The domain classifier minimises its binary cross-entropy; the reversed gradient,
    scaled by the schedule's coefficient, makes the feature extractor maximise it.
    """

    grl_schedule: str = "ganin"
    domain_hidden: int = 1024
    domain_dropout: float = 0.5

    def components(self) -> tuple[str, ...]:
        """Names of the loss components and domain accuracies recorded per batch."""
        return super().components() + (
            "domain_acc_source",
            "domain_acc_target",
            "grl_coefficient",
        )

    def build_domain_classifier(self, n_features: int) -> nn.Module | None:
        """Return the domain classifier ``n_features → 1024 → 1024 → 1``."""
        return DomainClassifier(
            n_features, hidden=self.domain_hidden, dropout=self.domain_dropout
        )

    @staticmethod
    def _domain_accuracy(
        domain_classifier: nn.Module,
        source_features: torch.Tensor,
        target_features: torch.Tensor,
    ) -> tuple[float, float]:
        """Domain accuracies of the classifier with dropout off (evaluation mode).

        The training forward pass runs with dropout, which makes the classifier
        look weaker than it is; the recorded accuracies, and the collapse
        diagnostics read from them, use a second pass without dropout.
        """
        was_training = domain_classifier.training
        domain_classifier.eval()
        with torch.no_grad():
            logits = domain_classifier(
                torch.cat([source_features, target_features]).detach()
            ).float()
        domain_classifier.train(was_training)
        n_source = len(source_features)
        return domain_accuracy(logits[:n_source], logits[n_source:])

    def transfer(
        self,
        module: DomainAdaptationModule,
        source_features: torch.Tensor,
        target_features: torch.Tensor,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the domain-classifier loss and the domain accuracies."""
        coefficient = grl_coefficient(progress, self.grl_schedule)
        reversed_features = gradient_reversal(
            torch.cat([source_features, target_features]), coefficient
        )
        # The domain classifier runs in the autocast precision, its loss in float32.
        domain_logits = module.domain_classifier(reversed_features).float()
        n_source = len(source_features)
        source_logits = domain_logits[:n_source]
        target_logits = domain_logits[n_source:]
        with _float32_losses(source_features.device.type):
            loss = domain_adversarial_loss(source_logits, target_logits)
        acc_source, acc_target = self._domain_accuracy(
            module.domain_classifier, source_features, target_features
        )
        return loss, {
            "domain_acc_source": acc_source,
            "domain_acc_target": acc_target,
            "grl_coefficient": coefficient,
        }
