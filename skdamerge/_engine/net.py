"""The training loop: a skorch net whose steps see a source and a target batch.

skorch runs the epochs, the history and the callbacks (early stopping with the best
model kept, the cyclic learning rate, validation scoring, progress printing). This
module only changes what a step is: the batches come from
:class:`~skdamerge._engine.batches.SourceTargetBatches`, and the loss is the method's
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

from ..exceptions import NonFiniteLossError
from .batches import ArrayBatches, SourceTargetBatches
from .best_weights import BestWeights
from .data_parallel import (
    BroadcastEpochScores,
    DataParallelGroup,
    RankRandomness,
    restore_batch_norm,
    use_global_batch_norm,
    wrap_step,
)
from .history_keys import (
    LEARNING_RATE,
    SELECTION_LOSS,
    VALID_ACC,
    VALID_AUC,
    VALID_LOSS,
    train_key,
)
from .inference import forward_batches, predict_proba_batches
from .module import EXTRACTOR
from .orientation import RandomOrientation
from .precision import Precision
from .target_monitor import TargetMonitor

__all__ = [
    "DomainAdaptationNet",
    "group_lr_multipliers",
    "parameter_groups",
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
    size (the source part None when ``X_train`` is None: a training on the target
    alone) and minimises ``objective(module, criterion, ...)["loss"]``; every other
    entry the objective returns is recorded per batch as ``train_<name>`` and
    averaged per epoch by :class:`skorch.callbacks.PassthroughScoring`. Validation
    batches are source images with labels; their cross-entropy is ``valid_loss``.

    Parameters
    ----------
    module : nn.Module
        A :class:`~skdamerge._engine.module.DomainAdaptationModule`.
    *args, **kwargs
        Passed to :class:`skorch.NeuralNet`.
    objective : callable
        One of the objectives in :mod:`skdamerge._engine.objectives`; its
        :meth:`~skdamerge._engine.objectives.Objective.lr_multipliers` set the
        learning rates of the module's extra networks.
    total_steps : int, default=1
        Number of optimisation steps of the whole fit (``max_epochs`` times the
        batches per epoch); the gradient-reversal schedule runs over it.
    shuffle_seed : int, default=0
        Seed of the batch order.
    precision : Precision or None, default=None
        Autocast dtype and gradient scaling of the steps (see
        :mod:`skdamerge._engine.precision`); None is plain float32.
    channels_last : bool, default=False
        Send image batches in the channels-last memory format (the module should
        be converted too); faster convolutions on CPUs and tensor cores.
    augment : bool, default=False
        Turn every training image (source and target) to a random one of the
        eight orientations of the square, anew each step.
    data_parallel : DataParallelGroup or None, default=None
        Train data-parallel over the processes of the default
        ``torch.distributed`` group (see :mod:`skdamerge._engine.data_parallel`):
        each rank trains on its share of every global batch of ``batch_size``,
        through DDP, with the losses computed on the global batch; only rank 0
        writes files. None trains in this process alone.
    """

    def __init__(
        self,
        module,
        *args,
        objective=None,
        total_steps: int = 1,
        shuffle_seed: int = 0,
        precision: Precision | None = None,
        channels_last: bool = False,
        augment: bool = False,
        data_parallel: DataParallelGroup | None = None,
        **kwargs,
    ) -> None:
        super().__init__(module, *args, **kwargs)
        self.objective = objective
        self.total_steps = total_steps
        self.shuffle_seed = shuffle_seed
        self.precision = precision
        self.channels_last = channels_last
        self.augment = augment
        self.data_parallel = data_parallel
        self._parallel_state: tuple | None = None

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
        """Create the optimizer with one parameter group per network.

        The first group is the feature extractor and classifier at ``lr``; each
        extra network of the objective (e.g. DANN's domain classifier) follows in
        its own group at ``lr`` times the objective's multiplier for it, in the
        order of ``module.extra_module_names``. Every network is trained (the
        DeepMerge II reference code left its domain classifier out of the
        optimizer).
        """
        kwargs = self.get_params_for("optimizer")
        kwargs.pop("lr", None)
        groups = [
            {"params": params, "lr": lr}
            for params, lr in parameter_groups(self.module_, self.objective, self.lr)
        ]
        self.optimizer_ = self.optimizer(groups, **kwargs)
        return self

    def get_split_datasets(self, X, y=None, **fit_params):
        """Return the training and validation batch iterables of ``X``."""
        data: TrainingData = X
        rng = np.random.default_rng(self.shuffle_seed)
        group = getattr(self, "data_parallel", None)
        rank, world_size = (0, 1) if group is None else (group.rank, group.world_size)
        augment = None
        if self.augment:
            # A stream of its own: the batch order is that of a fit without it.
            augment = RandomOrientation(
                np.random.default_rng([self.shuffle_seed, 1]), rank, world_size
            )
        train = SourceTargetBatches(
            data.X_train,
            data.y_train,
            data.X_target,
            self.batch_size,
            torch.device(self.device),
            rng,
            channels_last=self.channels_last,
            augment=augment,
            target_indices=getattr(self.objective, "uses_target_indices", False),
            rank=rank,
            world_size=world_size,
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

    # -- data-parallel training -----------------------------------------------------
    @property
    def _parallel(self) -> tuple | None:
        """The data-parallel set-up while training (None in older pickles)."""
        return getattr(self, "_parallel_state", None)

    @property
    def writes_files(self) -> bool:
        """Whether this process writes files (checkpoints): rank 0 or alone."""
        group = getattr(self, "data_parallel", None)  # None in older pickles
        return group is None or group.is_main

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Set up data-parallel training (global batch norm, DDP) if asked."""
        super().on_train_begin(net, X=X, y=y, **kwargs)
        if getattr(self, "data_parallel", None) is None or self._parallel is not None:
            return
        device = torch.device(self.device)
        replaced = use_global_batch_norm(self.module_, cuda=device.type == "cuda")
        # Without a target batch the objective's extra networks get no gradient.
        no_target = isinstance(X, TrainingData) and X.X_target is None
        step = wrap_step(
            self.module_,
            self.objective,
            self.criterion_,
            device,
            find_unused_parameters=no_target
            and bool(getattr(self.module_, "extra_module_names", ())),
        )
        randomness = RankRandomness(
            getattr(self.module_, "extractor", self.module_),
            self.shuffle_seed,
            self.data_parallel.rank,
            device,
        )
        self._parallel_state = (replaced, step, randomness)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """Leave data-parallel training: the module is a plain one again."""
        self.stop_data_parallel()
        super().on_train_end(net, X=X, y=y, **kwargs)

    def stop_data_parallel(self) -> None:
        """Drop the DDP wrapper and restore plain batch-norm layers (idempotent).

        Called at the end of training, and by the estimator when training
        stops on an error, so that the fitted module is the one a
        single-process fit builds, usable (and picklable) without a process
        group.
        """
        if self._parallel is None:
            return
        replaced, _, randomness = self._parallel_state
        self._parallel_state = None
        randomness.remove()
        restore_batch_norm(self.module_, replaced)

    # -- steps --------------------------------------------------------------------
    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Open the epoch's history row, then let the objective prepare the epoch."""
        super().on_epoch_begin(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )
        if self.objective is not None and dataset_train is not None:
            self.objective.epoch_start(self, getattr(dataset_train, "X_target", None))

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
        self.module_.train(True)
        xs, ys, xt, *rows = batch
        # Batches carry the target rows only for objectives that ask for them.
        extra = {"target_index": rows[0]} if rows else {}
        progress = min(self.steps_done_ / max(self.total_steps, 1), 1.0)
        with self.precision_policy.autocast():
            if self._parallel is not None:
                step = self._parallel[1]
                step.train(True)
                result = step(xs, ys, xt, progress, **extra)
            else:
                result = self.objective(
                    self.module_, self.criterion_, xs, ys, xt, progress, **extra
                )
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
            self.history.record_batch(train_key(name), value)
        self.history.record_batch(LEARNING_RATE, self.optimizer_.param_groups[0]["lr"])
        return {"loss": loss, "y_pred": None}

    def train_step(self, batch, **fit_params):
        """One optimisation step: gradients, callbacks, then the optimizer step.

        The step is taken without a closure, so that float16 AMP can go through
        its gradient scaler: the gradients are unscaled before the
        ``on_grad_computed`` callbacks (gradient clipping sees true values) and
        the step is skipped when they overflowed.
        """
        self.optimizer_.zero_grad()
        step = self.train_step_single(batch, **fit_params)
        scaler = getattr(self, "grad_scaler_", None)
        if scaler is not None:
            scaler.unscale_(self.optimizer_)
        self.notify(
            "on_grad_computed",
            named_parameters=list(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        if scaler is None:
            self.optimizer_.step()
        else:
            scaler.step(self.optimizer_)
            scaler.update()
        return step

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
        """Weights of the best validation epoch kept so far, if any."""
        keeper = dict(self.callbacks_).get("best_weights")
        return None if keeper is None else keeper.weights

    def selection_key(self) -> str:
        """History key that chooses the kept model."""
        has_monitor = "target_monitor" in dict(self.callbacks_)
        return SELECTION_LOSS if has_monitor else VALID_LOSS

    def best_epoch(self) -> int | None:
        """Epoch (1-based) of the kept weights, if any are kept.

        This is the epoch whose weights are restored at the end of training: the
        last one whose monitored loss improved on the best so far by more than
        early stopping's threshold.
        """
        keeper = dict(self.callbacks_).get("best_weights")
        return None if keeper is None or keeper.weights is None else keeper.epoch

    def validation_step(self, batch, **fit_params):
        """Classification loss and logits on a batch of labelled source images.

        Runs in inference mode (no autograd bookkeeping at all), as prediction does.
        """
        self.module_.train(False)
        xv, yv = batch
        with torch.inference_mode():
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


def group_lr_multipliers(objective, extra_names) -> list[float]:
    """Learning-rate multiplier of each optimizer group, in group order.

    The network itself (the objective's ``"extractor"`` multiplier), then each
    extra network named in ``extra_names``
    (:meth:`~skdamerge._engine.objectives.Objective.lr_multipliers`; 1 where
    not listed).
    """
    multipliers = objective.lr_multipliers() if objective is not None else {}
    return [multipliers.get(name, 1.0) for name in (EXTRACTOR, *extra_names)]


def parameter_groups(module, objective, lr: float) -> list[tuple[list, float]]:
    """Trainable parameters and learning rate of each optimizer group.

    The first group holds every trainable parameter outside the objective's extra
    networks, each extra network follows; each group trains at ``lr`` times its
    multiplier (:func:`group_lr_multipliers`).
    """
    extra = tuple(getattr(module, "extra_module_names", ()))
    groups: list[tuple[list, float]] = [
        ([], lr * multiplier) for multiplier in group_lr_multipliers(objective, extra)
    ]
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        owner = name.split(".", 1)[0]
        index = extra.index(owner) + 1 if owner in extra else 0
        groups[index][0].append(param)
    return [group for group in groups if group[0]]


def make_callbacks(
    components: tuple[str, ...],
    *,
    validation: bool,
    patience: int | None,
    group_lrs: list[float],
    cycle_length: float | None,
    batches_per_epoch: int,
    target_monitor: TargetMonitor | None = None,
    data_parallel: bool = False,
) -> list:
    """Return the skorch callbacks of one fit.

    Parameters
    ----------
    components : tuple of str
        Batch-level records of the objective, averaged per epoch.
    validation : bool
        Whether a source validation set exists (scores, early stopping and the
        kept best model).
    patience : int or None
        Epochs without improvement of the monitored loss before stopping. None
        or 0 disables early stopping (the best model is still kept).
    group_lrs : list of float
        Maximum learning rate of each optimizer group (see
        :func:`parameter_groups`).
    cycle_length : float or None
        Length in epochs of one triangular learning-rate cycle (min = max/10);
        None or 0 keeps the learning rate constant.
    batches_per_epoch : int
        Optimisation steps per epoch.
    target_monitor : TargetMonitor or None, default=None
        Records the target class fractions per epoch; with it, the kept model and
        early stopping follow ``valid_selection_loss`` (collapsed epochs
        penalised) instead of ``valid_loss``.
    data_parallel : bool, default=False
        Data-parallel training: every rank takes rank 0's epoch scores
        (:class:`~skdamerge._engine.data_parallel.BroadcastEpochScores`) before
        the kept weights and early stopping are decided, so that all ranks
        decide alike.
    """
    callbacks: list = [
        (train_key(name), PassthroughScoring(train_key(name), None, on_train=True))
        for name in components
    ]
    callbacks.append(
        (LEARNING_RATE, PassthroughScoring(LEARNING_RATE, None, on_train=True))
    )
    if cycle_length:
        half_cycle = max(1, round(cycle_length * batches_per_epoch / 2))
        callbacks.append(
            (
                "lr_scheduler",
                LRScheduler(
                    CyclicLR,
                    step_every="batch",
                    event_name=None,
                    base_lr=[value / 10 for value in group_lrs],
                    max_lr=list(group_lrs),
                    step_size_up=half_cycle,
                    cycle_momentum=False,
                ),
            )
        )
    if target_monitor is not None:
        callbacks.append(("target_monitor", target_monitor))
    if validation:
        monitor = SELECTION_LOSS if target_monitor else VALID_LOSS
        callbacks += [
            (
                VALID_ACC,
                EpochScoring(_validation_accuracy, False, name=VALID_ACC),
            ),
            (VALID_AUC, EpochScoring(_validation_auc, False, name=VALID_AUC)),
        ]
        if data_parallel:
            callbacks.append(("broadcast_epoch_scores", BroadcastEpochScores()))
        if patience:
            callbacks.append(
                ("best_weights", BestWeights(monitor)),
            )
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(monitor=monitor, patience=patience, load_best=False),
                )
            )
    return callbacks
