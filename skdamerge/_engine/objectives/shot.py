"""Source hypothesis transfer (SHOT; Liang, Hu & Feng 2020).

The target stage of SHOT: the classifier head (the source hypothesis) is frozen
and the feature extractor is trained on the unlabelled target alone, with the
information maximisation loss and the cross-entropy against self-supervised
pseudo-labels, recomputed from class centroids at the start of every epoch
(:meth:`SHOTObjective.epoch_start`). The source stage is a source-only training
with label smoothing (:class:`SHOTSourceObjective`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..._param_validation import HasMethods, Interval
from ...losses import entropy_loss, marginal_entropy, shot_pseudo_labels
from ..history_keys import (
    DIVERSITY,
    ENTROPY_LOSS,
    PSEUDO_LABEL_LOSS,
    PSEUDO_LABEL_MERGER_FRACTION,
)
from ..inference import forward_batches
from ..module import EXTRACTOR, DomainAdaptationModule
from ._base import Objective, float32_losses
from ._registry import register_objective
from .source_only import SourceOnlyObjective

__all__ = ["SHOTObjective", "SHOTSourceObjective", "features_and_probabilities"]

_WEIGHT = [Interval(Real, 0, None, closed="left")]


def features_and_probabilities(net, X, batch_size: int) -> tuple[np.ndarray, ...]:
    """Latent features and class probabilities of ``X``, in evaluation mode.

    One pass of :func:`~skdamerge._engine.inference.forward_batches`; the
    module's training mode is restored afterwards.
    """
    module = net.module_
    was_training = module.training
    features, logits = forward_batches(net, X, output=(0, 1), batch_size=batch_size)
    module.train(was_training)
    probabilities = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    return features, probabilities


@dataclass
class SHOTSourceObjective(SourceOnlyObjective):
    """SHOT's source stage: label-smoothing cross-entropy on the source batch."""

    label_smoothing: float = 0.1

    def classification(
        self, criterion: nn.Module, logits: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Return the label-smoothed cross-entropy of the source batch."""
        return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)


@register_objective
@dataclass
class SHOTObjective(Objective):
    """Information maximisation + ``shot_beta`` x pseudo-label cross-entropy.

    Steps see target images only (``xs`` is None): the loss is

    ``mean_i H(p_i) - diversity_weight * H(mean_i p_i) + shot_beta * CE(p, ŷ)``

    with ``ŷ`` the pseudo-labels of the batch's rows, set at the start of each
    epoch from the centroids of the whole target set
    (:func:`skdamerge.losses.shot_pseudo_labels`).
    """

    shot_beta: float = 0.0
    diversity_weight: float = 1.0
    label_smoothing: float = 0.1
    target_lr_multiplier: float = 0.1

    name = "shot"
    label = "SHOT"
    uses_target_indices = True
    parameter_constraints: ClassVar[dict[str, list]] = {
        "source_model": [HasMethods(["save_weights"]), str, os.PathLike, None],
        "shot_beta": _WEIGHT,
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "diversity_weight": _WEIGHT,
        "target_lr_multiplier": [Interval(Real, 0, None, closed="neither")],
        "target_epochs": [Interval(Integral, 1, None, closed="left"), None],
    }
    records: ClassVar[tuple[str, ...]] = (ENTROPY_LOSS, DIVERSITY, PSEUDO_LABEL_LOSS)
    adaptation_knobs: ClassVar[tuple[str, ...]] = ("shot_beta",)

    def __post_init__(self) -> None:
        self.pseudo_labels_: torch.Tensor | None = None

    def source_objective(self) -> SHOTSourceObjective:
        """Return the objective of the source stage."""
        return SHOTSourceObjective(label_smoothing=self.label_smoothing)

    def lr_multipliers(self) -> dict[str, float]:
        """Train the feature extractor at ``lr * target_lr_multiplier``."""
        return {EXTRACTOR: self.target_lr_multiplier}

    def epoch_start(self, net, X_target) -> None:
        """Label every target image with its nearest class centroid."""
        if X_target is None or self.shot_beta == 0:
            return
        features, probabilities = features_and_probabilities(
            net, X_target, net.batch_size
        )
        labels = shot_pseudo_labels(
            torch.from_numpy(features), torch.from_numpy(probabilities)
        )
        self.pseudo_labels_ = labels.cpu()
        net.history.record(
            PSEUDO_LABEL_MERGER_FRACTION, float(labels.double().mean().item())
        )

    def __call__(
        self,
        module: DomainAdaptationModule,
        criterion: nn.Module,
        xs: torch.Tensor | None,
        ys: torch.Tensor | None,
        xt: torch.Tensor | None,
        progress: float,
        target_index: np.ndarray | None = None,
    ) -> dict[str, torch.Tensor | float]:
        """Return the target-stage loss of one batch of target images."""
        if xt is None:
            raise ValueError("SHOT's target stage needs target images (X_target).")
        _, logits = module(xt)
        logits = logits.float()
        with float32_losses(xt.device.type):
            entropy = entropy_loss(logits)
            diversity = marginal_entropy(logits)
            loss = entropy - self.diversity_weight * diversity
            pseudo = 0.0
            if self.shot_beta > 0:
                if self.pseudo_labels_ is None or target_index is None:
                    raise RuntimeError(
                        "SHOT's pseudo-label loss needs the pseudo-labels of the "
                        "batch: the training loop calls epoch_start first and "
                        "passes target_index."
                    )
                index = torch.as_tensor(np.asarray(target_index), dtype=torch.long)
                labels = self.pseudo_labels_[index].to(logits.device)
                pseudo = F.cross_entropy(logits, labels)
                loss = loss + self.shot_beta * pseudo
        return {
            "loss": loss,
            ENTROPY_LOSS: entropy,
            DIVERSITY: diversity,
            PSEUDO_LABEL_LOSS: pseudo,
        }
