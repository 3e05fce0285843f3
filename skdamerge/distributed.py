"""Scale out: distributed inference with Dask, and multi-GPU training.

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

**Multi-GPU training.**
The estimators train on one device (``device="cuda"`` with ``precision="amp"`` is
the fast single-GPU set-up; a DeepMerge epoch over 10^5 images takes seconds
there). For data-parallel training on several GPUs, wrap the network with PyTorch's
``DistributedDataParallel`` (DDP) and run one process per GPU with ``torchrun``:

1. every rank seeds torch identically and calls ``init_process_group("nccl")``;
2. in the network (``estimator.module_``, a ``DomainAdaptationModule``), wrap
   the two trained parts in place: ``module.extractor = DDP(module.extractor,
   device_ids=[local_rank])`` and, for DANN, ``module.domain_classifier =
   DDP(module.domain_classifier, device_ids=[local_rank])``. The objectives
   (:mod:`skdamerge._engine.objectives`) then run unchanged, and the gradients of both
   parts are averaged across ranks;
3. each rank trains on its shard of the source and target sets (e.g.
   ``indices[rank::world_size]``) with the same optimizer settings; every rank
   keeps identical weights. Use ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``
   to share batch statistics across GPUs, and let rank 0 alone save the weights
   (``save_weights``) and run validation.

skorch's ``AccelerateMixin`` (Hugging Face Accelerate) offers the same through a
``DomainAdaptationNet`` subclass. The test suite checks on one machine, with the
CPU ``gloo`` backend, that an objective step through a DDP-wrapped network gives
the same gradients as without the wrapper, including the domain classifier's.
"""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._param_validation import HasMethods, Interval, validate_params
from ._validation import check_image_shape

__all__ = ["predict_proba_dask", "predict_zarr"]


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
