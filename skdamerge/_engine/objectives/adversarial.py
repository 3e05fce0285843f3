"""Domain-adversarial training through gradient reversal (DANN; paper Sect. 2.1.2).

The objective, its domain classifier and learning-rate multiplier, its history
records (the domain classifier's accuracies and the reversal coefficient) and the
diagnostics read from them (:func:`domain_classifier_state`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Real
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..._param_validation import Interval, StrOptions
from ...exceptions import DomainClassifierWarning
from ...losses import (
    domain_accuracy,
    domain_adversarial_loss,
    gradient_reversal,
    grl_coefficient,
)
from ...nets import DomainClassifier
from ..history_keys import (
    DOMAIN_ACC_SOURCE,
    DOMAIN_ACC_TARGET,
    GRL_COEFFICIENT,
    train_key,
)
from ..module import DomainAdaptationModule
from ._adaptation import AdaptationObjective, DomainBatch
from ._base import float32_losses
from ._registry import register_objective

__all__ = [
    "AdversarialObjective",
    "domain_classifier_state",
    "warn_if_domain_classifier_failed",
]

DOMAIN_CLASSIFIER = "domain_classifier"


@register_objective
@dataclass
class AdversarialObjective(AdaptationObjective):
    """Domain-classifier loss through a gradient reversal layer (DANN).

    The domain classifier minimises its binary cross-entropy; the reversed gradient,
    scaled by the schedule's coefficient, makes the feature extractor maximise it.
    The domain classifier is trained at ``lr * domain_lr_multiplier``.
    """

    domain_lr_multiplier: float = 0.01
    grl_schedule: str = "ganin"
    domain_hidden: int = 1024
    domain_dropout: float = 0.5

    name = "dann"
    label = "ADA"
    parameter_constraints: ClassVar[dict[str, list]] = {
        **AdaptationObjective.parameter_constraints,
        "domain_lr_multiplier": [Interval(Real, 0, None, closed="left")],
        "grl_schedule": [StrOptions({"ganin", "constant"})],
    }
    records: ClassVar[tuple[str, ...]] = AdaptationObjective.records + (
        DOMAIN_ACC_SOURCE,
        DOMAIN_ACC_TARGET,
        GRL_COEFFICIENT,
    )
    adaptation_knobs: ClassVar[tuple[str, ...]] = (
        AdaptationObjective.adaptation_knobs + ("domain_lr_multiplier",)
    )

    def extra_modules(self, n_features: int) -> dict[str, nn.Module]:
        """Return the domain classifier ``n_features → 1024 → 1024 → 1``."""
        return {
            DOMAIN_CLASSIFIER: DomainClassifier(
                n_features, hidden=self.domain_hidden, dropout=self.domain_dropout
            )
        }

    def lr_multipliers(self) -> dict[str, float]:
        """Train the domain classifier at ``lr * domain_lr_multiplier``."""
        return {DOMAIN_CLASSIFIER: self.domain_lr_multiplier}

    def check_history(self, history, *, stacklevel: int = 2) -> None:
        """Warn when the domain classifier collapsed or separates perfectly."""
        warn_if_domain_classifier_failed(history, stacklevel=stacklevel + 1)

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
        source: DomainBatch,
        target: DomainBatch,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the domain-classifier loss and the domain accuracies."""
        source_features, target_features = source.features, target.features
        domain_classifier = getattr(module, DOMAIN_CLASSIFIER)
        coefficient = grl_coefficient(progress, self.grl_schedule)
        reversed_features = gradient_reversal(
            torch.cat([source_features, target_features]), coefficient
        )
        # The domain classifier runs in the autocast precision, its loss in float32.
        domain_logits = domain_classifier(reversed_features).float()
        n_source = len(source_features)
        source_logits = domain_logits[:n_source]
        target_logits = domain_logits[n_source:]
        with float32_losses(source_features.device.type):
            loss = domain_adversarial_loss(source_logits, target_logits)
        acc_source, acc_target = self._domain_accuracy(
            domain_classifier, source_features, target_features
        )
        return loss, {
            DOMAIN_ACC_SOURCE: acc_source,
            DOMAIN_ACC_TARGET: acc_target,
            GRL_COEFFICIENT: coefficient,
        }


def domain_classifier_state(history, *, last_epochs: int = 3) -> str:
    """Classify the domain classifier's behaviour over the last epochs.

    Parameters
    ----------
    history : skorch.History or list of dict
        Per-epoch records with ``train_domain_acc_source`` and
        ``train_domain_acc_target`` (fraction of each domain classified correctly).
    last_epochs : int, default=3
        Number of final epochs averaged.

    Returns
    -------
    {"collapsed", "separating", "confused", "unknown"}
        ``"collapsed"``: every image is assigned to one domain (one accuracy near 1,
        the other near 0; DeepMerge II Appendix A). ``"separating"``: both
        accuracies near 1, the domains are told apart perfectly and the reversed
        gradient vanishes. ``"confused"``: anything else, the intended state of
        adversarial training. ``"unknown"``: no domain accuracies recorded.
    """
    source_key, target_key = train_key(DOMAIN_ACC_SOURCE), train_key(DOMAIN_ACC_TARGET)
    rows = [row for row in history if source_key in row and target_key in row]
    if not rows:
        return "unknown"
    rows = rows[-last_epochs:]
    source = float(np.mean([row[source_key] for row in rows]))
    target = float(np.mean([row[target_key] for row in rows]))
    if min(source, target) >= 0.98:
        return "separating"
    if (source >= 0.98 and target <= 0.02) or (target >= 0.98 and source <= 0.02):
        return "collapsed"
    return "confused"


def warn_if_domain_classifier_failed(history, *, stacklevel: int = 3) -> str:
    """Warn with a :class:`~skdamerge.exceptions.DomainClassifierWarning` if needed.

    Returns
    -------
    str
        The state found by :func:`domain_classifier_state`.
    """
    state = domain_classifier_state(history)
    if state == "collapsed":
        warnings.warn(
            "The domain classifier collapsed: over the last epochs it assigned "
            "every image to one domain, so the features were not aligned. Lower "
            "domain_lr_multiplier (tenfold, say; the default is 0.01) or "
            "transfer_weight.",
            DomainClassifierWarning,
            stacklevel=stacklevel,
        )
    elif state == "separating":
        warnings.warn(
            "The domain classifier separates source and target perfectly over the "
            "last epochs, so the reversed gradient vanished and the features were "
            "not aligned. Lower domain_lr_multiplier (tenfold, say; the default is "
            "0.01) so that the feature extractor can keep up.",
            DomainClassifierWarning,
            stacklevel=stacklevel,
        )
    return state
