"""Scale out: distributed inference with Dask, and data-parallel training.

**Inference over a survey-sized catalogue.**
:func:`predict_proba_dask` maps a fitted estimator over the chunks of a dask array
of images ``(n, channels, height, width)`` (chunked along the first axis only) and
returns a lazy dask array of class probabilities, one block per chunk;
:func:`predict_zarr` reads a zarr store and writes the merger probability of every
image to another zarr store, chunk by chunk, so that neither the images nor the
probabilities ever need to fit in memory::

    from distributed import Client
    from skdamerge.distributed import predict_zarr

    client = Client("scheduler-address:8786")   # or LocalCluster()
    predict_zarr(clf, "cutouts.zarr", "p_merger.zarr", client=client)

**How the fitted model reaches the workers.** A fitted estimator pickles like any
scikit-learn estimator; its skorch net serialises the torch weights to CPU bytes, so
a model trained on a GPU loads on CPU-only workers (skorch warns and uses the
CPU). With ``client=`` the estimator is pickled once and sent to every worker with
``client.scatter(estimator, broadcast=True)``; each task then refers to that
future, and every worker unpickles the model once and keeps it for all its chunks.
Without a client the estimator is one ``dask.delayed`` node of the task graph: it is
serialised once per graph and moved to a worker like any other intermediate
result, never once per chunk. Each worker process runs PyTorch with its own thread
pool: with several worker threads per process, pass ``torch_threads=1`` (or start
workers with ``threads_per_worker=1`` and as many processes as cores) to avoid
oversubscription.

**Data-parallel training.** Launch the training script with ``torchrun``, one
process per GPU (or per CPU worker), and pass ``data_parallel=True``::

    # train.py, run with: torchrun --nproc_per_node 4 train.py
    from skdamerge import MMDClassifier
    from skdamerge.distributed import init_from_torchrun

    context = init_from_torchrun()      # process group, and this rank's GPU
    clf = MMDClassifier(batch_size=128, random_state=0, data_parallel=True,
                        device=context.device)
    clf.fit(X, y, X_target=X_target)   # the same arrays in every process
    if context.rank == 0:
        clf.save_weights("weights.pt")

Every process draws the same shuffled order and trains on its share of each
global batch of ``batch_size`` (``batch_size / world_size`` images per process);
the network is wrapped in PyTorch's ``DistributedDataParallel``, its batch-norm
layers take their statistics over the global batch, and every loss (cross-entropy,
MMD, CORAL, Fisher, entropy, the adversarial losses) is computed on the features
and logits of the global batch, gathered from all processes. The gradients are
those of one process training on the same global batch, up to rounding. Every
process evaluates the same validation set and takes rank 0's scores, so early
stopping and the kept weights are decided alike; only rank 0 writes checkpoints.
After ``fit`` every process holds the same fitted estimator, a plain one that
predicts and pickles without a process group. See the performance guide for the
details and the measured agreement with a single process.
"""

from __future__ import annotations

import os
from numbers import Integral
from typing import NamedTuple

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._param_validation import HasMethods, Interval, StrOptions, validate_params
from ._validation import check_image_shape

__all__ = [
    "TorchrunContext",
    "init_from_torchrun",
    "predict_proba_dask",
    "predict_zarr",
]

#: Variables torchrun sets in every process it starts.
_TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class TorchrunContext(NamedTuple):
    """Where this process stands in a ``torchrun`` launch.

    Attributes
    ----------
    rank : int
        Rank of this process among all of them (0 writes files).
    local_rank : int
        Rank of this process on its machine (its GPU index).
    world_size : int
        Number of processes.
    device : str
        The device to train on: ``"cuda:<local_rank>"`` with the ``"nccl"``
        backend, ``"cpu"`` otherwise; pass it as the estimator's ``device``.
    """

    rank: int
    local_rank: int
    world_size: int
    device: str


@validate_params(
    {"backend": [StrOptions({"nccl", "gloo"}), None]},
    prefer_skip_nested_validation=True,
)
def init_from_torchrun(backend: str | None = None) -> TorchrunContext:
    """Initialise the process group of a script launched with ``torchrun``.

    Call it once at the start of the script, in every process, before fitting
    an estimator with ``data_parallel=True``. With the ``"nccl"`` backend it
    also makes the process's GPU (``cuda:<local_rank>``) the current device.
    A group that is already initialised is kept.

    Parameters
    ----------
    backend : {"nccl", "gloo"} or None, default=None
        Communication backend; None takes ``"nccl"`` when CUDA is available
        and ``"gloo"`` (CPUs) otherwise.

    Returns
    -------
    TorchrunContext
        The rank, local rank, number of processes and the device to train on.

    Raises
    ------
    RuntimeError
        If the script was not launched by ``torchrun`` (its environment
        variables are missing).

    Examples
    --------
    >>> context = init_from_torchrun()  # doctest: +SKIP
    >>> clf = MMDClassifier(data_parallel=True, device=context.device)  # doctest: +SKIP
    """
    import torch
    import torch.distributed as dist

    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            "init_from_torchrun() found no torchrun environment (missing "
            f"{', '.join(missing)}). Launch the script with torchrun, e.g. "
            "'torchrun --nproc_per_node 4 train.py', or initialise the group "
            "yourself with torch.distributed.init_process_group."
        )
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    local_rank = int(os.environ["LOCAL_RANK"])
    device = "cpu"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return TorchrunContext(
        rank=dist.get_rank(),
        local_rank=local_rank,
        world_size=dist.get_world_size(),
        device=device,
    )


def _predict_block(block: np.ndarray, estimator, torch_threads: int | None):
    """Class probabilities of one chunk (runs on a worker)."""
    if torch_threads is not None:
        import torch

        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
    return estimator.predict_proba(block)


def _merger_block(block: np.ndarray, estimator, torch_threads: int | None):
    """Probability of ``classes_[1]`` (merger) for one chunk, as float32."""
    return _predict_block(block, estimator, torch_threads)[:, 1].astype(np.float32)


def _ship(estimator, client):
    """Return the estimator as a graph argument: a scattered future or a delayed."""
    if client is not None:
        return client.scatter(estimator, broadcast=True, hash=False)
    import dask

    return dask.delayed(estimator, pure=True)


def _prepare(estimator, X):
    import dask.array as da

    check_is_fitted(estimator, "net_")
    if not isinstance(X, da.Array):
        raise TypeError(
            f"X must be a dask array, got {type(X).__name__}; wrap on-disk data with "
            "dask.array.from_zarr(...) or dask.array.from_array(dataset, chunks=...)."
        )
    check_image_shape(X.shape, "X")
    # one block per group of whole samples
    return X.rechunk({axis: -1 for axis in range(1, X.ndim)})


#: A dask.distributed client (or anything that scatters and computes like one).
_CLIENT = [HasMethods(["scatter", "compute"]), None]
_THREADS = [Interval(Integral, 1, None, closed="left"), None]


@validate_params(
    {
        "estimator": [HasMethods(["predict_proba"])],
        # dask is an optional dependency, imported on call: the function checks
        # for a dask array itself and says how to wrap other data.
        "X": "no_validation",
        "client": _CLIENT,
        "torch_threads": _THREADS,
    },
    prefer_skip_nested_validation=True,
)
def predict_proba_dask(estimator, X, *, client=None, torch_threads: int | None = None):
    """Class probabilities of a dask array of images, one block per chunk.

    Parameters
    ----------
    estimator : fitted skdamerge classifier
        A fitted :class:`~skdamerge.SourceOnlyClassifier`,
        :class:`~skdamerge.MMDClassifier` or :class:`~skdamerge.DANNClassifier`
        (or any fitted classifier with ``predict_proba``).
    X : dask.array.Array of shape (n_samples, ...)
        Images or features of the training sample shape, chunked along the first
        axis (other axes are merged into one chunk).
    client : distributed.Client or None, default=None
        When given, the estimator is sent once to every worker with
        ``client.scatter(..., broadcast=True)``; otherwise it is a single node of
        the task graph (see the module notes).
    torch_threads : int or None, default=None
        PyTorch threads per worker process during prediction; None leaves the
        setting alone.

    Returns
    -------
    dask.array.Array of shape (n_samples, 2)
        Lazy float64 probabilities of ``classes_[0]`` and ``classes_[1]`` (merger
        for 0/1 labels), chunked like ``X`` along the first axis. Call
        ``.compute()`` or store it (``.to_zarr``).

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_zarr("cutouts.zarr")  # doctest: +SKIP
    >>> p_merger = predict_proba_dask(clf, X)[:, 1].compute()  # doctest: +SKIP
    """
    X = _prepare(estimator, X)
    model = _ship(estimator, client)
    return X.map_blocks(
        _predict_block,
        model,
        torch_threads,
        chunks=(X.chunks[0], (2,)),
        drop_axis=list(range(2, X.ndim)),
        dtype=np.float64,
        meta=np.empty((0, 2), dtype=np.float64),
    )


@validate_params(
    {
        "estimator": [HasMethods(["predict_proba"])],
        "source": [str, os.PathLike, "array-like"],
        "destination": [str, os.PathLike],
        "client": _CLIENT,
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "torch_threads": _THREADS,
        "overwrite": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def predict_zarr(
    estimator,
    source,
    destination,
    *,
    client=None,
    chunk_size: int | None = None,
    torch_threads: int | None = None,
    overwrite: bool = False,
):
    """Write the merger probability of every image of a zarr store to a zarr store.

    Parameters
    ----------
    estimator : fitted skdamerge classifier
        The model; its ``classes_[1]`` (merger for 0/1 labels) is the probability
        written.
    source : str, path, zarr.Array or dask.array.Array
        Images ``(n_samples, channels, height, width)``: a zarr store path or array
        (read with :func:`dask.array.from_zarr`), or a dask array.
    destination : str or path
        Zarr store written with a float32 array of shape ``(n_samples,)``.
    client : distributed.Client or None, default=None
        Cluster to run on; None uses dask's current scheduler.
    chunk_size : int or None, default=None
        Images per task; None keeps the chunks of ``source``.
    torch_threads : int or None, default=None
        PyTorch threads per worker process (see :func:`predict_proba_dask`).
    overwrite : bool, default=False
        Replace an existing ``destination``.

    Returns
    -------
    zarr.Array
        The written probabilities, opened read-only.
    """
    import dask.array as da
    import zarr

    if not isinstance(source, da.Array):
        source = da.from_zarr(source)
    if chunk_size is not None:
        source = source.rechunk({0: chunk_size})
    if os.path.exists(destination) and not overwrite:
        raise FileExistsError(
            f"destination={str(destination)!r} exists; pass overwrite=True to "
            "replace it."
        )
    X = _prepare(estimator, source)
    merger = X.map_blocks(
        _merger_block,
        _ship(estimator, client),
        torch_threads,
        chunks=(X.chunks[0],),
        drop_axis=list(range(1, X.ndim)),
        dtype=np.float32,
        meta=np.empty((0,), dtype=np.float32),
    )
    # zarr needs regular chunks; the store's chunks then follow the computed
    # blocks, so no two tasks write to the same zarr chunk
    merger = merger.rechunk({0: max(X.chunks[0])})
    store = da.to_zarr(merger, str(destination), overwrite=overwrite, compute=False)
    if client is not None:
        client.compute(store).result()
    else:
        store.compute()
    return zarr.open_array(str(destination), mode="r")
