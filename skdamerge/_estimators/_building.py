"""Build what one fit trains: the network, its module and the skorch net.

The network builder (:func:`build_extractor`) is shared by the estimators and
by the latent-space inspection of an unfitted estimator
(:func:`skdamerge.inspection.LatentSpaceDisplay`), so that both start from the
same weights.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._engine.checkpoint import EpochCheckpoint
from .._engine.data_parallel import DataParallelGroup
from .._engine.module import DomainAdaptationModule, head_parameter_names
from .._engine.net import (
    DomainAdaptationNet,
    TrainingData,
    group_lr_multipliers,
    make_callbacks,
)
from .._engine.objectives import Objective
from .._engine.precision import Precision
from .._files import load_skdamerge_file
from ..nets import FeatureExtractor, make_backbone

__all__ = [
    "WEIGHTS_FORMAT",
    "backbone_state",
    "build_extractor",
    "build_module",
    "build_net",
    "freeze_part",
    "uses_channels_last",
]

WEIGHTS_FORMAT = "skdamerge-weights"

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def backbone_state(source) -> dict[str, torch.Tensor]:
    """Return the backbone weights of ``init_weights`` (estimator or file)."""
    if isinstance(source, str | os.PathLike):
        saved = load_skdamerge_file(
            source,
            argument="init_weights",
            file_format=WEIGHTS_FORMAT,
            kind="weights file",
            hint="a file written by save_weights() or a fitted estimator",
        )
        return saved["state_dict"]
    if hasattr(source, "save_weights"):
        check_is_fitted(source, "net_")
        return source.module_.extractor.backbone.state_dict()
    raise TypeError(
        "init_weights must be a fitted skdamerge estimator, a path to a file "
        f"written by save_weights(), or None; got {type(source).__name__}."
    )


def build_extractor(estimator, input_shape: tuple[int, ...]) -> FeatureExtractor:
    """Build the estimator's network for samples of ``input_shape``, untrained.

    Uses the estimator's ``backbone``, ``feature_layer``, ``dropout`` and
    ``init_weights`` (the starting weights of transfer learning). The caller
    seeds torch's generator for reproducible initial weights.
    """
    backbone = make_backbone(
        estimator.backbone, tuple(input_shape), dropout=estimator.dropout
    )
    extractor = FeatureExtractor(backbone, estimator.feature_layer)
    if estimator.init_weights is not None:
        state = backbone_state(estimator.init_weights)
        try:
            extractor.backbone.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(
                "init_weights do not fit this backbone (was it trained with "
                f"another backbone or image shape?): {error}"
            ) from error
    return extractor


def _frozen_norm_layers(extractor: nn.Module) -> list[str]:
    """Return the names of the batch-norm layers whose parameters are all frozen."""
    names = []
    for name, layer in extractor.named_modules():
        if isinstance(layer, _BATCH_NORMS):
            params = list(layer.parameters())
            if params and not any(p.requires_grad for p in params):
                names.append(name)
    return names


def freeze_part(extractor: FeatureExtractor, X, part: str | None) -> int:
    """Run two samples through the network; freeze its head or its features.

    The head is the classifier layers after the latent features
    (:func:`head_parameter_names`); every other parameter is a feature
    parameter. ``part="features"`` stops the feature parameters requiring
    gradients (``freeze_features``), ``part="head"`` the head's (SHOT's target
    stage), ``None`` neither. Returns the dimension of the latent features.
    """
    extractor.eval()
    sample = torch.from_numpy(np.ascontiguousarray(X[:2]))
    features, _ = extractor(sample)
    if part is not None:
        head = head_parameter_names(extractor, features)
        for name, param in extractor.named_parameters():
            if (name in head) == (part == "head"):
                param.requires_grad_(False)
    extractor.train()
    return features.shape[1]


def build_module(
    estimator, objective: Objective, X_train: np.ndarray
) -> DomainAdaptationModule:
    """Build the feature extractor plus the objective's extra modules."""
    extractor = build_extractor(estimator, tuple(X_train.shape[1:]))
    part = "features" if estimator.freeze_features else None
    n_features = freeze_part(extractor, X_train, part)
    module = DomainAdaptationModule(extractor, objective.extra_modules(n_features))
    if estimator.freeze_features:
        module.freeze_norm_layers(_frozen_norm_layers(extractor))
    return module


def uses_channels_last(estimator) -> bool:
    """Whether images go channels-last: built-in CNNs only.

    The channels-last memory format makes the convolutions of DeepMerge and
    ResNet18 faster (about 1.3x in float32 and 2x in bfloat16 on a CPU with
    bf16 instructions; see ``benchmarks/RESULTS.md``). A user module may
    ``view`` its activations, which fails on channels-last tensors, so it
    keeps the default format.
    """
    return len(estimator.input_shape_) == 3 and isinstance(estimator.backbone, str)


def build_net(
    estimator,
    objective: Objective,
    module: DomainAdaptationModule,
    data: TrainingData,
    seed: int,
    device: str,
    *,
    target_monitor=None,
    checkpoint_metadata: dict | None = None,
    precision: Precision | None = None,
    channels_last: bool = False,
    valid_index: np.ndarray | None = None,
    augment: bool = False,
    data_parallel: DataParallelGroup | None = None,
) -> DomainAdaptationNet:
    """Build the skorch net of one fit, with its callbacks.

    With ``data_parallel`` (the process group of a data-parallel fit) each
    rank trains on its share of every global batch of ``batch_size``.
    """
    batch_size = estimator.batch_size
    epochs = estimator._training_epochs()
    # Without labelled source images (X_train None) an epoch is a pass over the
    # target, and nothing early-stops: the source validation loss, if any, is
    # recorded but is not what a training on the target alone minimises.
    source_free = data.X_train is None
    n_train = len(data.X_target if source_free else data.X_train)
    # As SourceTargetBatches: a last partial batch is cut to a multiple of the
    # number of processes and dropped below two images.
    world_size = 1 if data_parallel is None else data_parallel.world_size
    n_full, remainder = divmod(n_train, batch_size)
    remainder -= remainder % world_size
    batches_per_epoch = max(1, n_full + (remainder > 1))
    extra = {} if estimator.verbose else {"callbacks__print_log": None}
    multipliers = group_lr_multipliers(objective, module.extra_module_names)
    callbacks = make_callbacks(
        objective.components(),
        validation=data.X_valid is not None,
        patience=None if source_free else estimator.patience,
        group_lrs=[estimator.lr * m for m in multipliers],
        cycle_length=estimator.cycle_length,
        batches_per_epoch=batches_per_epoch,
        target_monitor=target_monitor,
        data_parallel=data_parallel is not None,
    )
    callbacks += list(estimator.callbacks or [])
    if estimator.checkpoint_path is not None:
        callbacks.append(
            (
                "checkpoint",
                EpochCheckpoint(
                    estimator.checkpoint_path,
                    checkpoint_metadata or {},
                    valid_index=valid_index,
                ),
            )
        )
    return DomainAdaptationNet(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=estimator.lr,
        optimizer__betas=tuple(estimator.betas),
        optimizer__eps=estimator.eps,
        optimizer__weight_decay=estimator.weight_decay,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        callbacks=callbacks,
        device=device,
        verbose=estimator.verbose,
        objective=objective,
        total_steps=epochs * batches_per_epoch,
        shuffle_seed=seed,
        precision=precision,
        channels_last=channels_last,
        augment=augment,
        data_parallel=data_parallel,
        **extra,
    )
