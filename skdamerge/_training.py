"""The training loop: a skorch net whose steps see a source and a target batch.

skorch runs the epochs, the history and the callbacks (early stopping with the best
model kept, the cyclic learning rate, validation scoring, progress printing). This
module only changes what a step is: the batches come from
:class:`~skdamerge._batches.SourceTargetBatches`, and the loss is the method's
objective (paper eq. 2) instead of a plain criterion.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from sklearn.metrics import accuracy_score, roc_auc_score
from skorch import NeuralNet
from skorch.callbacks import (
    EarlyStopping,
    EpochScoring,
    LRScheduler,
    PassthroughScoring,
)
from torch.optim.lr_scheduler import CyclicLR

from ._batches import ArrayBatches, SourceTargetBatches
from ._inference import forward_batches, predict_proba_batches
from ._precision import Precision
from ._target_monitor import SELECTION_LOSS, TargetMonitor
from .exceptions import NonFiniteLossError

__all__ = [
    "DomainAdaptationNet",
    "TrainingData",
    "forward_batches",
    "make_callbacks",
    "predict_proba_batches",
]


class TrainingData(NamedTuple):
    """Everything one fit needs, already split and encoded."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_target: np.ndarray | None
    X_valid: np.ndarray | None
    y_valid: np.ndarray | None


class DomainAdaptationNet(NeuralNet):
    """skorch ``NeuralNet`` for unsupervised domain adaptation.

    Each training step receives ``(X_source, y_source, X_target)`` batches of equal
    size and minimises ``objective(module, criterion, ...)["loss"]``; every other
    entry the objective returns is recorded per batch as ``train_<name>`` and
    averaged per epoch by :class:`skorch.callbacks.PassthroughScoring`. Validation
    batches are source images with labels; their cross-entropy is ``valid_loss``.

    Parameters
    ----------
    module : nn.Module
        A :class:`~skdamerge._objectives.DomainAdaptationModule`.
    *args, **kwargs
        Passed to :class:`skorch.NeuralNet`.
    objective : callable
        One of the objectives in :mod:`skdamerge._objectives`.
    domain_lr_multiplier : float, default=1.0
        The domain classifier's learning rate is ``lr * domain_lr_multiplier``.
    total_steps : int, default=1
        Number of optimisation steps of the whole fit (``max_epochs`` times the
        batches per epoch); the gradient-reversal schedule runs over it.
    shuffle_seed : int, default=0
        Seed of the batch order.
    precision : Precision or None, default=None
        Autocast dtype and gradient scaling of the steps (see
        :mod:`skdamerge._precision`); None is plain float32.
    channels_last : bool, default=False
        Send image batches in the channels-last memory format (the module should
        be converted too); faster convolutions on CPUs and tensor cores.
    """

    def __init__(
        self,
        module,
        *args,
        objective=None,
        domain_lr_multiplier: float = 1.0,
        total_steps: int = 1,
        shuffle_seed: int = 0,
        precision: Precision | None = None,
        channels_last: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(module, *args, **kwargs)
        self.objective = objective
        self.domain_lr_multiplier = domain_lr_multiplier
        self.total_steps = total_steps
        self.shuffle_seed = shuffle_seed
        self.precision = precision
        self.channels_last = channels_last

    @property
    def precision_policy(self) -> Precision:
        """The precision of the steps (float32 when none was given).

        A model trained with CUDA autocast and loaded where CUDA is not available
        (skorch then moves it to the CPU) predicts in float32.
        """
        device_type = torch.device(self.device).type
        if self.precision is None or self.precision.device_type != device_type:
            return Precision(device_type=device_type)
        return self.precision

    # -- set-up -------------------------------------------------------------------
    def initialize_optimizer(self, triggered_directly=None):
        """Create the optimizer with the domain classifier in its own group.

        The domain classifier is trained (it is part of the optimizer, unlike in
        the DeepMerge II reference code) at ``lr * domain_lr_multiplier``.
        """
        kwargs = self.get_params_for("optimizer")
        kwargs.pop("lr", None)
        network, domain = [], []
        for name, param in self.module_.named_parameters():
            if not param.requires_grad:
                continue
            (domain if name.startswith("domain_classifier.") else network).append(param)
        groups = [{"params": network, "lr": self.lr}]
        if domain:
            groups.append({"params": domain, "lr": self.lr * self.domain_lr_multiplier})
        self.optimizer_ = self.optimizer(groups, **kwargs)
        return self

    def get_split_datasets(self, X, y=None, **fit_params):
        """Return the training and validation batch iterables of ``X``."""
        data: TrainingData = X
        rng = np.random.default_rng(self.shuffle_seed)
        train = SourceTargetBatches(
            data.X_train,
            data.y_train,
            data.X_target,
            self.batch_size,
            torch.device(self.device),
            rng,
            channels_last=self.channels_last,
        )
        valid = None
        if data.X_valid is not None:
            valid = ArrayBatches(
                data.X_valid,
                data.y_valid,
                max(self.batch_size, 256),
                torch.device(self.device),
                channels_last=self.channels_last,
            )
        return train, valid

    def get_iterator(self, dataset, training=False):
        """Batches are already formed by :meth:`get_split_datasets`."""
        return dataset

    # -- steps --------------------------------------------------------------------
    def initialize(self):
        """Initialise the module, optimizer and callbacks, the step count and scaler.

        The gradient scaler of float16 AMP is created here, so that a resumed fit
        (which initialises, loads a checkpoint and continues with ``partial_fit``)
        has one too, and can load the saved scaler state.
        """
        super().initialize()
        self.steps_done_ = 0
        self.grad_scaler_ = self.precision_policy.make_grad_scaler()
        return self

    def train_step_single(self, batch, **fit_params):
        """Compute the objective on one source/target batch pair and backpropagate."""
        self._set_training(True)
        xs, ys, xt = batch
        progress = min(self.steps_done_ / max(self.total_steps, 1), 1.0)
        with self.precision_policy.autocast():
            result = self.objective(self.module_, self.criterion_, xs, ys, xt, progress)
        loss = result["loss"]
        if not torch.isfinite(loss):
            self._raise_non_finite(result)
        scaler = getattr(self, "grad_scaler_", None)
        (loss if scaler is None else scaler.scale(loss)).backward()
        self.steps_done_ += 1
        for name in self.objective.components():
            value = result.get(name, 0.0)
            if isinstance(value, torch.Tensor):
                value = value.item()
            self.history.record_batch("train_" + name, value)
        self.history.record_batch("lr", self.optimizer_.param_groups[0]["lr"])
        return {"loss": loss, "y_pred": None}

    def _step_optimizer(self, step_fn):
        """Step the optimizers, through the gradient scaler under float16 AMP.

        A :class:`torch.amp.GradScaler` cannot take an optimizer closure: the
        gradients are computed first, then each optimizer steps on unscaled
        gradients (the step is skipped when they overflowed) and the scale is
        updated.
        """
        scaler = getattr(self, "grad_scaler_", None)
        if scaler is None or step_fn is None:
            return super()._step_optimizer(step_fn)
        step_fn()
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()
        return None

    def _raise_non_finite(self, result: dict) -> None:
        epoch = len(self.history)
        components = {
            name: float(value.detach() if isinstance(value, torch.Tensor) else value)
            for name, value in result.items()
            if name != "loss"
        }
        details = ", ".join(f"{name}={value:.4g}" for name, value in components.items())
        loss = float(result["loss"].detach())
        raise NonFiniteLossError(
            f"The training loss became {loss} in epoch {epoch} "
            f"({details}). Training stopped and the best model so far is kept. "
            "Lower lr, check the input for extreme values, or standardise it "
            "(skdamerge.preprocessing.ChannelStandardizer).",
            epoch=epoch,
            components=components,
        )

    def best_weights(self) -> dict | None:
        """Weights of the best validation epoch kept by early stopping, if any."""
        callbacks = dict(self.callbacks_)
        early_stopping = callbacks.get("early_stopping")
        return getattr(early_stopping, "best_model_weights_", None)

    def selection_key(self) -> str:
        """History key that early stopping monitors to choose the kept model."""
        has_monitor = "target_monitor" in dict(self.callbacks_)
        return SELECTION_LOSS if has_monitor else "valid_loss"

    def best_epoch(self) -> int | None:
        """Epoch (1-based) of the weights early stopping keeps, if it keeps any.

        This is the epoch whose weights are restored at the end of training: the
        last one whose monitored loss improved on the best so far by more than
        early stopping's threshold.
        """
        early_stopping = dict(self.callbacks_).get("early_stopping")
        if getattr(early_stopping, "best_model_weights_", None) is None:
            return None
        return int(early_stopping.best_epoch_)

    def validation_step(self, batch, **fit_params):
        """Classification loss and logits on a batch of labelled source images."""
        self._set_training(False)
        xv, yv = batch
        with torch.no_grad():
            with self.precision_policy.autocast():
                _, logits = self.module_(xv)
            logits = logits.float()
            loss = self.criterion_(logits, yv)
        return {"loss": loss, "y_pred": logits}


def _validation_accuracy(net, X, y) -> float:
    return accuracy_score(y, net.predict_proba(X).argmax(axis=1))


def _validation_auc(net, X, y) -> float:
    if len(np.unique(y)) < 2:
        return float("nan")
    return roc_auc_score(y, net.predict_proba(X)[:, 1])


def make_callbacks(
    components: tuple[str, ...],
    *,
    validation: bool,
    patience: int | None,
    lr: float,
    domain_lr_multiplier: float,
    has_domain_classifier: bool,
    cycle_length: float | None,
    batches_per_epoch: int,
    target_monitor: TargetMonitor | None = None,
) -> list:
    """Return the skorch callbacks of one fit.

    Parameters
    ----------
    components : tuple of str
        Batch-level records of the objective, averaged per epoch.
    validation : bool
        Whether a source validation set exists (scores and early stopping).
    patience : int or None
        Epochs without improvement of ``valid_loss`` before stopping; the best
        model is restored at the end. None or 0 disables early stopping.
    lr, domain_lr_multiplier : float
        Maximum learning rates of the network and of the domain classifier.
    has_domain_classifier : bool
        Whether the optimizer has a second parameter group.
    cycle_length : float or None
        Length in epochs of one triangular learning-rate cycle (min = max/10);
        None or 0 keeps the learning rate constant.
    batches_per_epoch : int
        Optimisation steps per epoch.
    target_monitor : TargetMonitor or None, default=None
        Records the target class fractions per epoch; with it, early stopping
        monitors ``valid_selection_loss`` (collapsed epochs penalised) instead of
        ``valid_loss``.
    """
    callbacks: list = [
        (f"train_{name}", PassthroughScoring(f"train_{name}", None, on_train=True))
        for name in components
    ]
    callbacks.append(("lr", PassthroughScoring("lr", None, on_train=True)))
    if cycle_length:
        max_lr = [lr] + ([lr * domain_lr_multiplier] if has_domain_classifier else [])
        half_cycle = max(1, round(cycle_length * batches_per_epoch / 2))
        callbacks.append(
            (
                "lr_scheduler",
                LRScheduler(
                    CyclicLR,
                    step_every="batch",
                    event_name=None,
                    base_lr=[value / 10 for value in max_lr],
                    max_lr=max_lr,
                    step_size_up=half_cycle,
                    cycle_momentum=False,
                ),
            )
        )
    if target_monitor is not None:
        callbacks.append(("target_monitor", target_monitor))
    if validation:
        callbacks += [
            (
                "valid_acc",
                EpochScoring(_validation_accuracy, False, name="valid_acc"),
            ),
            ("valid_auc", EpochScoring(_validation_auc, False, name="valid_auc")),
        ]
        if patience:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor=SELECTION_LOSS if target_monitor else "valid_loss",
                        patience=patience,
                        load_best=True,
                    ),
                )
            )
    return callbacks
