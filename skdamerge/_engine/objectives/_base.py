"""What every objective provides: the contract between a method and the engine.

An objective is the whole of a method's training-time knowledge: its loss
components (paper eq. 2 for the DeepMerge II methods), the extra networks it
trains, their learning-rate multipliers, the hyperparameters it reads from its
estimator and their constraints, the history records it writes and the
diagnostics it runs on them. The estimator base, the training loop and the
command line learn about a method only through this interface and the registry
(:mod:`skdamerge._engine.objectives._registry`).

Under mixed precision the training loop calls an objective inside an autocast
context: the network layers run in the low precision, while every loss is computed
in float32 on float32 copies of the features and logits, with autocast switched
off (:func:`float32_losses`), so that the MMD distances, the Fisher scatter and the
entropies keep their accuracy.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import nn

from ..history_keys import CLASSIFICATION_LOSS
from ..module import DomainAdaptationModule

__all__ = ["Objective", "float32_losses"]


def float32_losses(device_type: str):
    """Context in which losses run in float32 (autocast switched off)."""
    return torch.autocast(device_type, enabled=False)


class Objective:
    """Base class of the per-step training objectives.

    Subclasses are dataclasses whose fields are the method's hyperparameters,
    spelled as the estimator's constructor arguments, so that
    :meth:`from_params` builds one from ``estimator.get_params()``.

    Class attributes
    ----------------
    name : str
        Registry name of the method (``skdamerge fit --method NAME``).
    label : str
        Row name in reports and ``skdamerge reproduce`` (e.g. the paper's "MMD").
    uses_target : bool
        Whether the method trains on target images (False: ``X_target`` is
        ignored).
    parameter_constraints : dict
        scikit-learn parameter constraints of the method's own hyperparameters;
        the estimator validates them at ``fit`` entry with the common ones.
    records : tuple of str
        Names of the per-batch records (loss components, diagnostics), written to
        the history as ``train_<name>``.
    adaptation_knobs : tuple of str
        Hyperparameters that push the target predictions (named in the collapse
        warning when they are non-zero).
    uses_target_indices : bool
        Whether each training step needs the row numbers of its target images in
        ``X_target`` (False: the batches do not carry them). When True, the
        training loop passes them to :meth:`__call__` as ``target_index``.
    supports_data_parallel : bool
        Whether the objective computes its losses on the global batch in
        data-parallel training, by passing the features, logits and labels it
        uses through :func:`~skdamerge._engine.data_parallel.gather_across_ranks`
        (``data_parallel=True`` refuses the others).
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    uses_target: ClassVar[bool] = True
    parameter_constraints: ClassVar[dict[str, list]] = {}
    records: ClassVar[tuple[str, ...]] = (CLASSIFICATION_LOSS,)
    adaptation_knobs: ClassVar[tuple[str, ...]] = ()
    uses_target_indices: ClassVar[bool] = False
    supports_data_parallel: ClassVar[bool] = False

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Objective:
        """Build the objective from an estimator's parameters (fields by name)."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in params.items() if key in names})

    def components(self) -> tuple[str, ...]:
        """Names of the records written per batch (see ``records``)."""
        return self.records

    def validate(self) -> None:
        """Reject combinations of hyperparameters that cannot train.

        Called at ``fit`` entry after the per-parameter constraints; raises a
        ValueError naming the parameters and the fix.
        """

    def extra_modules(self, n_features: int) -> dict[str, nn.Module]:
        """Extra networks trained with the feature extractor, by attribute name."""
        return {}

    def lr_multipliers(self) -> dict[str, float]:
        """Learning-rate multiplier of each network, by attribute name.

        Keys are the names of the extra modules, and ``"extractor"`` for the
        feature extractor and its classifier head; a network not listed trains
        at ``lr``.
        """
        return {}

    def acts_on_features(self) -> bool:
        """Whether a loss term acts on the latent features (not only the head)."""
        return False

    def active_knobs(self) -> list[str]:
        """Return the ``adaptation_knobs`` that are switched on (non-zero)."""
        return [name for name in self.adaptation_knobs if getattr(self, name, 0)]

    def check_history(self, history, *, stacklevel: int = 2) -> None:
        """Diagnose the fitted history (warn about a failed training); no-op here."""

    def epoch_start(self, net, X_target) -> None:
        """Prepare a training epoch (e.g. label the target images); no-op here.

        Called by the training loop at the start of every training epoch, after
        the epoch's history row is opened.

        Parameters
        ----------
        net : DomainAdaptationNet
            The net being trained (``net.module_`` is the network).
        X_target : array-like or None
            The target training images, whole (None without a target domain).
        """

    def __call__(
        self,
        module: DomainAdaptationModule,
        criterion: nn.Module,
        xs: torch.Tensor,
        ys: torch.Tensor,
        xt: torch.Tensor | None,
        progress: float,
    ) -> dict[str, torch.Tensor | float]:
        """Return the total loss of one step (``"loss"``) and its records.

        Parameters
        ----------
        module : DomainAdaptationModule
            The network being trained.
        criterion : nn.Module
            The classification loss (cross-entropy).
        xs, ys : Tensor
            Source images and their labels.
        xt : Tensor or None
            Target images (None without a target domain).
        progress : float
            Fraction of the planned optimisation steps done, in [0, 1].

        Objectives with ``uses_target_indices`` also receive ``target_index``,
        the rows of ``X_target`` in ``xt`` (an int ndarray); ``xs`` and ``ys``
        are None in a training on the target alone (``X_train`` is None).
        """
        raise NotImplementedError
