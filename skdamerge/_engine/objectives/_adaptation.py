"""The shared part of the domain-adaptation objectives (DeepMerge II eq. 2).

Total loss = cross-entropy on the source + ``transfer_weight`` x transfer loss
(defined by each method) + the Fisher loss on the source features +
``entropy_weight`` x entropy of the target predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import ClassVar, NamedTuple

import torch
from torch import nn

from ..._param_validation import Interval, StrOptions
from ...losses import check_fisher_weights, entropy_loss, fisher_loss, total_loss
from ..data_parallel import gather_across_ranks
from ..history_keys import (
    CLASSIFICATION_LOSS,
    ENTROPY_LOSS,
    FISHER_LOSS,
    TRANSFER_LOSS,
)
from ..module import DomainAdaptationModule
from ._base import Objective, float32_losses

__all__ = ["AdaptationObjective", "DomainBatch", "gather_domains"]

_WEIGHT = [Interval(Real, 0, None, closed="left")]


class DomainBatch(NamedTuple):
    """What the network produced for one domain's part of a step's batch.

    Attributes
    ----------
    features : Tensor of shape (n, n_features)
        Latent features (float32).
    logits : Tensor of shape (n, 2)
        Class logits (float32).
    labels : Tensor of shape (n,) or None
        Class labels (source only; None for the unlabelled target).
    """

    features: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor | None = None


@dataclass
class AdaptationObjective(Objective):
    """Source cross-entropy + transfer loss + Fisher loss + target entropy (eq. 2).

    One forward pass over the concatenated source and target batch gives the
    features and logits of both domains; the classification loss and the Fisher
    loss use the source part, entropy minimisation the target part, and the
    transfer loss (:meth:`transfer`, defined by subclasses) both. In
    data-parallel training every loss is computed on the global batch: the
    features, logits and labels of all ranks, gathered (:func:`gather_domains`).
    """

    transfer_weight: float = 1.0
    fisher_intra_weight: float = 0.0
    fisher_inter_weight: float = 1.0
    fisher_kind: str = "ratio"
    entropy_weight: float = 0.0

    parameter_constraints: ClassVar[dict[str, list]] = {
        "transfer_weight": _WEIGHT,
        "fisher_intra_weight": _WEIGHT,
        "fisher_inter_weight": _WEIGHT,
        "fisher_kind": [StrOptions({"ratio", "difference"})],
        "entropy_weight": _WEIGHT,
    }
    records: ClassVar[tuple[str, ...]] = (
        CLASSIFICATION_LOSS,
        TRANSFER_LOSS,
        FISHER_LOSS,
        ENTROPY_LOSS,
    )
    adaptation_knobs: ClassVar[tuple[str, ...]] = (
        "entropy_weight",
        "fisher_intra_weight",
        "transfer_weight",
    )
    supports_data_parallel: ClassVar[bool] = True

    @property
    def uses_fisher(self) -> bool:
        """Whether the Fisher loss contributes to the total loss.

        The trace ratio needs ``fisher_intra_weight > 0`` (its numerator); the
        trace difference acts as soon as either weight is positive.
        """
        if self.fisher_kind == "ratio":
            return self.fisher_intra_weight > 0
        return self.fisher_intra_weight > 0 or self.fisher_inter_weight > 0

    def validate(self) -> None:
        """Reject Fisher weights that make no loss or divide by zero."""
        check_fisher_weights(
            self.fisher_intra_weight,
            self.fisher_inter_weight,
            self.fisher_kind,
            names=("fisher_intra_weight", "fisher_inter_weight"),
        )

    def acts_on_features(self) -> bool:
        """Whether the transfer or Fisher loss is on (both act on the features)."""
        return self.transfer_weight > 0 or self.uses_fisher

    def transfer(
        self,
        module: DomainAdaptationModule,
        source: DomainBatch,
        target: DomainBatch,
        progress: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the transfer loss and extra per-batch records.

        Parameters
        ----------
        module : DomainAdaptationModule
            The network, with the objective's extra modules.
        source, target : DomainBatch
            Features and logits of the two domains (and the source labels),
            from one forward pass over the concatenated batch.
        progress : float
            Fraction of the planned optimisation steps done, in [0, 1].
        """
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
        source, target = gather_domains(
            DomainBatch(features[:n_source], logits[:n_source], ys),
            None if xt is None else DomainBatch(features[n_source:], logits[n_source:]),
        )
        ys = source.labels
        with float32_losses(device_type):
            classification = criterion(source.logits, ys)
            fisher = None
            if self.uses_fisher:
                fisher = fisher_loss(
                    source.features,
                    ys,
                    intra_weight=self.fisher_intra_weight,
                    inter_weight=self.fisher_inter_weight,
                    kind=self.fisher_kind,
                )
        transfer = entropy = None
        records: dict[str, float] = {}
        if target is not None:
            transfer, records = self.transfer(module, source, target, progress)
            if self.entropy_weight > 0:
                with float32_losses(device_type):
                    entropy = entropy_loss(target.logits)
        with float32_losses(device_type):
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
            CLASSIFICATION_LOSS: classification,
        }
        for name, value in (
            (TRANSFER_LOSS, transfer),
            (FISHER_LOSS, fisher),
            (ENTROPY_LOSS, entropy),
        ):
            result[name] = 0.0 if value is None else value
        result.update(records)
        return result


def gather_domains(
    source: DomainBatch, target: DomainBatch | None
) -> tuple[DomainBatch, DomainBatch | None]:
    """Return the global batch of each domain: every rank's rows, in rank order.

    In a data-parallel step this is the one place where an objective's inputs
    are gathered (:func:`~skdamerge._engine.data_parallel.gather_across_ranks`);
    in a single process the batches are returned as they are.
    """

    def gather(batch: DomainBatch | None) -> DomainBatch | None:
        if batch is None:
            return None
        return DomainBatch(*(gather_across_ranks(part) for part in batch))

    return gather(source), gather(target)
