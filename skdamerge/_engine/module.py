"""The trained network: a feature extractor plus the extra modules of a method."""

from __future__ import annotations

import torch
from torch import nn

from ..nets import FeatureExtractor

__all__ = ["EXTRACTOR", "DomainAdaptationModule", "head_parameter_names"]

#: Attribute name of the feature extractor (with its classifier head).
EXTRACTOR = "extractor"


class DomainAdaptationModule(nn.Module):
    """A feature extractor and the extra networks a method trains alongside it.

    Parameters
    ----------
    extractor : FeatureExtractor
        Backbone wrapped to return ``(features, logits)``.
    extra_modules : dict of str to nn.Module or None, default=None
        Extra networks of the method's objective, registered as submodules under
        their names (e.g. DANN's ``domain_classifier``); each may get its own
        learning rate (:meth:`Objective.lr_multipliers
        <skdamerge._engine.objectives.Objective.lr_multipliers>`).
    """

    def __init__(
        self,
        extractor: FeatureExtractor,
        extra_modules: dict[str, nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.extractor = extractor
        self.extra_module_names: tuple[str, ...] = tuple(extra_modules or {})
        for name, module in (extra_modules or {}).items():
            if name == EXTRACTOR or hasattr(self, name):
                raise ValueError(f"extra module name {name!r} is already taken.")
            self.add_module(name, module)
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


def head_parameter_names(
    extractor: nn.Module, features: torch.Tensor
) -> frozenset[str]:
    """Names of the extractor's trainable parameters that ``features`` do not use.

    The latent features depend on every layer up to the feature layer; the
    trainable parameters they do not depend on are those of the classifier head
    (the layers after the feature layer).

    Parameters
    ----------
    extractor : nn.Module
        The feature extractor with its classifier head.
    features : Tensor
        Latent features that ``extractor`` computed, with their autograd graph.

    Returns
    -------
    frozenset of str
        Parameter names as in ``extractor.named_parameters()``; every trainable
        parameter when ``features`` carry no gradient.
    """
    named = [
        (name, param)
        for name, param in extractor.named_parameters()
        if param.requires_grad
    ]
    if not features.requires_grad:
        return frozenset(name for name, _ in named)
    gradients = torch.autograd.grad(
        features.sum(),
        [param for _, param in named],
        retain_graph=True,
        allow_unused=True,
    )
    pairs = zip(named, gradients, strict=True)
    return frozenset(name for (name, _), gradient in pairs if gradient is None)
