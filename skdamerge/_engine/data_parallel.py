"""Data-parallel training over the processes of a ``torch.distributed`` group.

A fit with ``data_parallel=True`` runs in every process of a script launched with
``torchrun``, on the same arrays and seed. Each process (rank):

* draws the same shuffled order of the source and target sets and takes its
  contiguous share of every global batch (:class:`~skdamerge._engine.batches.\
SourceTargetBatches` with ``rank`` and ``world_size``);
* trains the same network, wrapped in PyTorch's
  :class:`~torch.nn.parallel.DistributedDataParallel` (DDP) through
  :class:`ObjectiveStep`, whose batch-normalisation layers take their statistics
  over the global batch (:func:`use_global_batch_norm`);
* computes the objective on the features, logits and labels of the whole global
  batch: inside a data-parallel step, :func:`gather_across_ranks` concatenates
  every rank's rows with an autograd-aware all-gather.

Gradient scaling. Every rank computes the same loss ``L`` of the global batch.
The backward pass of an autograd-aware collective sums the gradients that every
rank sends back, so the parameters before the gather (the feature extractor)
receive ``world_size`` times their share of ``dL/dθ`` on each rank, and DDP's
average over ranks gives the sum of the shares, ``dL/dθ``. The parameters after
the gather (e.g. DANN's domain classifier) see the whole batch on every rank and
get ``dL/dθ`` each; DDP's average leaves it unchanged. The gradient is therefore
that of a single process on the same global batch, up to rounding.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from skorch.callbacks import Callback
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .._batch_norm import ChannelsLastBatchNorm2d, update_running_statistics

__all__ = [
    "BroadcastEpochScores",
    "DataParallelGroup",
    "GlobalBatchNorm",
    "GlobalBatchNorm1d",
    "GlobalBatchNorm2d",
    "GlobalBatchNorm3d",
    "ObjectiveStep",
    "RankRandomness",
    "check_data_parallel",
    "check_same_data",
    "current_group",
    "data_parallel_device",
    "gather_across_ranks",
    "restore_batch_norm",
    "same_on_every_rank",
    "use_global_batch_norm",
    "wrap_step",
]

# Exactly these classes (not subclasses, whose behaviour may differ) are replaced.
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, ChannelsLastBatchNorm2d, nn.BatchNorm3d)

# Whether the objective being computed runs inside a data-parallel step.
_GATHERING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "skdamerge_gathering", default=False
)


@dataclass(frozen=True)
class DataParallelGroup:
    """Where this process stands in the default ``torch.distributed`` group.

    Attributes
    ----------
    rank : int
        This process's rank.
    world_size : int
        Number of processes.
    backend : str
        The group's backend (``"nccl"``, ``"gloo"``, ...).
    """

    rank: int
    world_size: int
    backend: str

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the one process that writes files."""
        return self.rank == 0


def current_group() -> DataParallelGroup | None:
    """Return the initialised default process group, or None without one."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return DataParallelGroup(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        backend=str(dist.get_backend()),
    )


@contextlib.contextmanager
def gathering() -> Iterator[None]:
    """Context of a data-parallel step: :func:`gather_across_ranks` gathers."""
    token = _GATHERING.set(True)
    try:
        yield
    finally:
        _GATHERING.reset(token)


def check_data_parallel(
    name: str, objective, batch_size: int, group: DataParallelGroup | None
) -> None:
    """Check that ``data_parallel=True`` can train: a group, a method, a size.

    Parameters
    ----------
    name : str
        The estimator's class name, for the messages.
    objective : Objective
        The method's objective (its ``supports_data_parallel``).
    batch_size : int
        The global batch size, split evenly over the processes.
    group : DataParallelGroup or None
        The initialised process group (None: none is).
    """
    if group is None:
        raise ValueError(
            f"{name}(data_parallel=True) trains over the processes of a "
            "torch.distributed process group, and none is initialised. "
            "Launch the script with torchrun (e.g. torchrun --nproc_per_node "
            "4 train.py) and call skdamerge.distributed.init_from_torchrun() "
            "before fit, or leave data_parallel=False to train in this "
            "process alone."
        )
    if not objective.supports_data_parallel:
        raise ValueError(
            f"{name} does not support data_parallel=True: its loss is not "
            "computed on the global batch of all processes. Train it in one "
            "process (data_parallel=False)."
        )
    if batch_size % group.world_size:
        raise ValueError(
            f"data_parallel=True splits each batch of batch_size={batch_size} "
            f"evenly over the {group.world_size} processes; choose a batch_size "
            "divisible by the number of processes (e.g. "
            f"{group.world_size * max(1, batch_size // group.world_size)})."
        )


def data_parallel_device(device: str, group: DataParallelGroup) -> str:
    """Return the device of this process in a data-parallel fit.

    ``"cuda"`` without an index becomes the current CUDA device (one GPU per
    process, the one :func:`skdamerge.distributed.init_from_torchrun` sets). A
    CPU device with a GPU-only (``nccl``) group is refused.
    """
    if device == "cuda":
        device = f"cuda:{torch.cuda.current_device()}"
    if group.backend == "nccl" and not device.startswith("cuda"):
        raise ValueError(
            f"data_parallel=True with device={device!r} needs a process group "
            "that runs on the CPU; this one uses the 'nccl' backend (GPUs only). "
            "Train on the GPUs (device='cuda') or initialise the group with "
            "backend='gloo'."
        )
    return device


def same_on_every_rank(seed: int) -> int:
    """Return rank 0's seed, so that every rank shuffles and initialises alike."""
    payload = [seed]
    dist.broadcast_object_list(payload, src=0)
    return int(payload[0])


def check_same_data(X, y: np.ndarray, X_target, validation_data) -> None:
    """Refuse a data-parallel fit whose ranks were given different data sets.

    Every rank must pass the same arrays; the sizes, sample shapes and label
    counts are compared (not every pixel: the arrays may be on disk).
    """
    summary = {
        "X": (len(X), tuple(X.shape[1:])),
        "y": np.bincount(y, minlength=2).tolist(),
        "X_target": None if X_target is None else len(X_target),
        "validation_data": (
            None if validation_data is None else len(validation_data[0])
        ),
    }
    summaries: list = [None] * dist.get_world_size()
    dist.all_gather_object(summaries, summary)
    for rank, other in enumerate(summaries):
        if other != summaries[0]:
            raise ValueError(
                "data_parallel=True needs the same X, y, X_target and "
                "validation_data on every process; rank 0 has "
                f"{summaries[0]} and rank {rank} has {other}. Load the whole "
                "data set in every process: the fit shards the batches itself."
            )


class _GatherRows(torch.autograd.Function):
    """All-gather along the first axis whose backward sums the ranks' gradients.

    The forward pass concatenates every rank's rows in rank order; the backward
    pass adds up the gradients that every rank computed for the whole gathered
    tensor and returns this rank's rows of the sum: the gradient of the sum of
    the ranks' losses with respect to this rank's rows. (The same contract as
    ``torch.distributed.nn.functional.all_gather``, which PyTorch deprecates in
    favour of a private module; this uses the public collectives only.)
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        rank, world_size = dist.get_rank(), dist.get_world_size()
        parts = [torch.empty_like(tensor) for _ in range(world_size)]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rows = (rank * len(tensor), (rank + 1) * len(tensor))
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start, stop = ctx.rows
        return grad[start:stop]


def gather_across_ranks(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """Concatenate every rank's rows of ``tensor`` (in rank order) in a step.

    Outside a data-parallel step (single-process training, prediction) the
    tensor is returned as it is. Inside one, tensors that require a gradient
    go through an autograd-aware all-gather, whose backward pass sums the
    gradients of all ranks and hands each rank those of its own rows; others
    (labels) through the plain one. Every rank must pass tensors of the same
    shape.
    """
    if tensor is None or not _GATHERING.get():
        return tensor
    if tensor.requires_grad:
        return _GatherRows.apply(tensor)
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def _global_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over the ranks, in rank order, with gradients.

    The backward pass of the autograd-aware all-gather sums every rank's
    gradient, as an all-reduce's would; the sum in rank order gives every rank
    the same rounding.
    """
    rows = _GatherRows.apply(tensor.unsqueeze(0))
    return rows.sum(0)


class GlobalBatchNorm:
    """Batch normalisation with the statistics of the global batch, on any device.

    :class:`torch.nn.SyncBatchNorm` synchronises batch statistics on GPUs only;
    the subclasses of this mixin (:class:`GlobalBatchNorm1d`,
    :class:`GlobalBatchNorm2d`, :class:`GlobalBatchNorm3d`) do the same with two
    autograd-aware sums over the ranks (of the values, then of their squared
    deviations from the global mean), so they also run on CPUs with the
    ``gloo`` backend. Their parameters, buffers and state-dict keys are those
    of the batch-norm layer they replace. In evaluation mode, or without an
    initialised process group, they are ordinary batch-norm layers.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002
        """Normalise with the global batch statistics in training mode."""
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        dims = [0, *range(2, input.ndim)]
        shape = [1, -1] + [1] * (input.ndim - 2)
        x = input.float()
        count = torch.tensor(float(x.numel() // x.shape[1]), device=x.device)
        dist.all_reduce(count)
        mean = _global_sum(x.sum(dims)) / count
        centered = x - mean.view(shape)
        var = _global_sum((centered * centered).sum(dims)) / count
        out = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.weight is not None:
            out = out * self.weight.view(shape)
        if self.bias is not None:
            out = out + self.bias.view(shape)
        update_running_statistics(self, mean, var, count)
        return out.to(input.dtype)


class GlobalBatchNorm1d(GlobalBatchNorm, nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` with global batch statistics."""


class GlobalBatchNorm2d(GlobalBatchNorm, nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d` with global batch statistics."""


class GlobalBatchNorm3d(GlobalBatchNorm, nn.BatchNorm3d):
    """:class:`torch.nn.BatchNorm3d` with global batch statistics."""


_GLOBAL = {
    nn.BatchNorm1d: GlobalBatchNorm1d,
    nn.BatchNorm2d: GlobalBatchNorm2d,
    ChannelsLastBatchNorm2d: GlobalBatchNorm2d,
    nn.BatchNorm3d: GlobalBatchNorm3d,
}


def _swap_norms(
    module: nn.Module, make, prefix: str = ""
) -> list[tuple[str, nn.Module]]:
    """Replace each batch-norm layer under ``module`` by ``make(layer)``.

    Returns the replaced layers, by their names under ``module``.
    """
    replaced = []
    for name, child in list(module.named_children()):
        path = f"{prefix}{name}"
        if type(child) in _BATCH_NORMS:
            setattr(module, name, make(child))
            replaced.append((path, child))
        else:
            replaced += _swap_norms(child, make, prefix=f"{path}.")
    return replaced


def _synchronised(layer: nn.Module, cls: type[nn.Module]) -> nn.Module:
    """Return a ``cls`` layer sharing ``layer``'s parameters and buffers."""
    out = cls(
        layer.num_features,
        eps=layer.eps,
        momentum=layer.momentum,
        affine=layer.affine,
        track_running_stats=layer.track_running_stats,
    )
    out.weight = layer.weight
    out.bias = layer.bias
    out.running_mean = layer.running_mean
    out.running_var = layer.running_var
    out.num_batches_tracked = layer.num_batches_tracked
    out.train(layer.training)
    return out


def use_global_batch_norm(
    module: nn.Module, *, cuda: bool
) -> list[tuple[str, nn.Module]]:
    """Make every batch-norm layer of ``module`` normalise over the global batch.

    On CUDA the layers become :class:`torch.nn.SyncBatchNorm`, elsewhere
    the :class:`GlobalBatchNorm` of their dimension (DDP accepts
    ``SyncBatchNorm`` on GPUs only). The new layers share the parameters (so the
    optimizer keeps training them) and the buffers of the old ones.

    Returns
    -------
    list of (str, nn.Module)
        The replaced layers by name, for :func:`restore_batch_norm`.
    """
    return _swap_norms(
        module,
        lambda layer: _synchronised(
            layer, nn.SyncBatchNorm if cuda else _GLOBAL[type(layer)]
        ),
    )


def restore_batch_norm(module: nn.Module, replaced: list[tuple[str, nn.Module]]):
    """Put back the layers :func:`use_global_batch_norm` replaced, trained.

    The original layers get the trained state of their replacements and the
    training mode of the module, so that the network is the one a
    single-process fit builds (plain batch-norm layers, usable without a
    process group).
    """
    for path, original in replaced:
        parent_name, _, name = path.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        current = getattr(parent, name)
        original.load_state_dict(current.state_dict())
        original.train(current.training)
        setattr(parent, name, original)


class RankRandomness:
    """Draw the random numbers of the feature extractor from this rank's stream.

    Every rank starts from the same random state, which the layers after the
    gather need (e.g. the domain classifier's dropout acts on the global batch
    and must draw the same masks on every rank). The feature extractor, though,
    runs on each rank's own share: with the shared state its dropout would give
    the same masks to every share. Within a data-parallel step this swaps in a
    random state of the rank's own for the extractor's forward pass (forward
    hooks), and the shared state back after it. Outside a step it does nothing.

    Parameters
    ----------
    extractor : nn.Module
        The network part that runs on the rank's share.
    seed : int
        The fit's seed; the rank's stream is seeded from it and the rank.
    rank : int
        This process's rank.
    device : torch.device
        Training device (its CUDA generator is swapped too).
    """

    def __init__(
        self, extractor: nn.Module, seed: int, rank: int, device: torch.device
    ) -> None:
        self.device = device
        self._saved = None
        rank_seed = int(np.random.SeedSequence([seed, rank, 2]).generate_state(1)[0])
        cuda = None
        if device.type == "cuda":
            cuda = torch.Generator(device).manual_seed(rank_seed).get_state()
        self._own = (torch.Generator().manual_seed(rank_seed).get_state(), cuda)
        self._handles = [
            extractor.register_forward_pre_hook(self._enter),
            extractor.register_forward_hook(self._leave),
        ]

    def _get(self) -> tuple:
        cuda = (
            torch.cuda.get_rng_state(self.device)
            if self.device.type == "cuda"
            else None
        )
        return torch.get_rng_state(), cuda

    def _set(self, state: tuple) -> None:
        cpu, cuda = state
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, self.device)

    def _enter(self, module, args) -> None:
        if _GATHERING.get():
            self._saved = self._get()
            self._set(self._own)

    def _leave(self, module, args, output) -> None:
        if self._saved is not None:
            self._own = self._get()
            self._set(self._saved)
            self._saved = None

    def remove(self) -> None:
        """Remove the hooks: the extractor draws from the shared state again."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


class ObjectiveStep(nn.Module):
    """One training step's loss as a module, so that DDP can wrap the whole step.

    The forward pass calls the objective on the network with the rank's shard
    of the batch, inside :func:`gathering`: the objective's losses see the
    global batch. Every parameter of the network (feature extractor and the
    objective's extra modules) is then registered with one DDP reducer, which
    averages the gradients over ranks.

    Parameters
    ----------
    module : DomainAdaptationModule
        The network (registered as a submodule; its parameters are shared).
    objective : callable
        The method's objective.
    criterion : nn.Module
        The classification loss.
    """

    def __init__(self, module: nn.Module, objective, criterion: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.objective = objective
        self.criterion = criterion

    def forward(self, xs, ys, xt, progress: float, **extra) -> dict:
        """Return the objective's result for the global batch."""
        with gathering():
            return self.objective(
                self.module, self.criterion, xs, ys, xt, progress, **extra
            )


def wrap_step(
    module: nn.Module,
    objective,
    criterion: nn.Module,
    device: torch.device,
    *,
    find_unused_parameters: bool = False,
) -> DistributedDataParallel:
    """Return the training step of ``module`` wrapped in DDP.

    DDP checks that every rank's network has the same shapes and broadcasts
    rank 0's parameters and buffers, so every rank starts from the same
    weights.
    """
    step = ObjectiveStep(module, objective, criterion)
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(
        step,
        device_ids=device_ids,
        find_unused_parameters=find_unused_parameters,
    )


class BroadcastEpochScores(Callback):
    """Give every rank rank 0's epoch record, before any decision is taken on it.

    Every rank evaluates the same validation set with the same weights, so
    their scores agree up to the rounding of non-deterministic kernels; this
    callback removes even that: the decisions that follow (the kept best
    weights, early stopping) read rank 0's record on every rank.
    """

    def on_epoch_end(self, net, **kwargs) -> None:
        """Replace this epoch's record (not its batches) by rank 0's."""
        row = net.history[-1]
        payload = [{key: value for key, value in row.items() if key != "batches"}]
        dist.broadcast_object_list(payload, src=0)
        row.update(payload[0])
