"""Mini-batches sliced from contiguous arrays, without per-sample collation."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["ArrayBatches", "SourceTargetBatches", "TargetOnlyBatch"]


def _to_tensor(
    array: np.ndarray, device: torch.device, channels_last: bool = False
) -> torch.Tensor:
    """Wrap a batch as a tensor on ``device``, without a copy on the CPU.

    On CUDA the batch goes through pinned (page-locked) memory and is copied
    asynchronously (``non_blocking``), so the copy overlaps the running step.
    ``channels_last`` converts 4-D image batches to the channels-last memory
    format (on the GPU after the copy).
    """
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:  # e.g. a read-only array: torch needs its own
        array = array.copy()
    tensor = torch.from_numpy(array)
    if device.type == "cuda":
        tensor = tensor.pin_memory().to(device, non_blocking=True)
    if channels_last and tensor.ndim == 4:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    return tensor


class ArrayBatches:
    """Consecutive batches ``(X[i:j], y[i:j])`` of an array, in order.

    Parameters
    ----------
    X : ndarray
        Inputs, sliced along the first axis (a ``np.memmap`` is read batch by batch).
    y : ndarray or None
        Labels, or None to yield ``(X_batch, None)``.
    batch_size : int
        Number of samples per batch.
    device : torch.device
        Where the batches are sent.
    channels_last : bool, default=False
        Send 4-D image batches in the channels-last memory format.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray | None,
        batch_size: int,
        device: torch.device,
        channels_last: bool = False,
    ) -> None:
        self.X = X
        self.y = y
        self.batch_size = batch_size
        self.device = device
        self.channels_last = channels_last

    def __len__(self) -> int:
        return -(-len(self.X) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        for start in range(0, len(self.X), self.batch_size):
            stop = start + self.batch_size
            xb = _to_tensor(self.X[start:stop], self.device, self.channels_last)
            yb = None if self.y is None else _to_tensor(self.y[start:stop], self.device)
            yield xb, yb


class TargetOnlyBatch:
    """A training batch of target images alone (a training without a source).

    Unpacks as ``(None, None, xt)``, or ``(None, None, xt, rows)`` with the rows
    of ``X_target``; its length is the number of images (skorch sizes a batch
    by its first item unless the batch is not a tuple).
    """

    __slots__ = ("rows", "xt")

    def __init__(self, xt: torch.Tensor, rows: np.ndarray | None = None) -> None:
        self.xt = xt
        self.rows = rows

    def __len__(self) -> int:
        return len(self.xt)

    def __iter__(self) -> Iterator:
        yield from (None, None, self.xt)
        if self.rows is not None:
            yield self.rows


class SourceTargetBatches:
    """Training batches that pair each source batch with a target batch.

    One pass over the iterator is one epoch: a pass over the shuffled source set in
    batches of ``batch_size`` (a last batch of a single sample is dropped, since
    batch normalisation cannot train on it). Each source batch is paired with a target
    batch of the same size, drawn from a stream of target indices that is reshuffled
    every time it is exhausted, so the target set is cycled independently of the
    source set.

    Parameters
    ----------
    X_source, y_source : ndarray
        Source inputs and encoded labels.
    X_target : ndarray or None
        Target inputs; None yields ``(X_batch, y_batch, None)``.
    batch_size : int
        Source batch size.
    device : torch.device
        Where the batches are sent.
    rng : numpy.random.Generator
        Source of the shuffling, so that a seed fixes the batch order.
    channels_last : bool, default=False
        Send 4-D image batches in the channels-last memory format.
    augment : callable or None, default=None
        Applied to every source and target image batch on the device (e.g.
        :class:`~skdamerge._engine.orientation.RandomOrientation`).
    target_indices : bool, default=False
        Yield ``(X_batch, y_batch, X_target_batch, target_rows)``, where
        ``target_rows`` (an int ndarray, None without a target) are the rows of
        ``X_target`` in the target batch.
    rank, world_size : int, default=0 and 1
        Data-parallel training: every rank draws the same order (the same
        ``rng`` seed) and yields its contiguous share, ``batch_size //
        world_size`` images, of each global batch of the source and of the
        target, so that the ranks' shares put together in rank order are the
        batch of a single process. A last, partial global batch is cut to a
        multiple of ``world_size`` (at most ``world_size - 1`` images of an
        epoch are skipped) and dropped when fewer than two images remain.

    Without a source (``X_source`` None, a training on the target alone), one
    epoch is a pass over the shuffled target set in :class:`TargetOnlyBatch`
    batches, whose source part is None.
    """

    def __init__(
        self,
        X_source: np.ndarray,
        y_source: np.ndarray,
        X_target: np.ndarray | None,
        batch_size: int,
        device: torch.device,
        rng: np.random.Generator,
        channels_last: bool = False,
        augment=None,
        target_indices: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size % world_size:
            raise ValueError(
                f"batch_size={batch_size} is not divisible by the number of "
                f"processes ({world_size})."
            )
        self.X_source = X_source
        self.y_source = y_source
        self.X_target = X_target
        self.batch_size = batch_size
        self.device = device
        self.rng = rng
        self.channels_last = channels_last
        self.augment = augment
        self.target_indices = target_indices
        self.rank = rank
        self.world_size = world_size
        self._target_order = np.empty(0, dtype=np.intp)

    def __len__(self) -> int:
        epoch = self.X_target if self.X_source is None else self.X_source
        n_full, remainder = divmod(len(epoch), self.batch_size)
        return n_full + (self._kept(remainder) > 1)

    def _kept(self, size: int) -> int:
        """Return how many images of a global batch of ``size`` are used.

        The largest multiple of ``world_size`` (``size`` itself in one process).
        """
        return size - size % self.world_size

    def _shard(self, indices: np.ndarray) -> np.ndarray:
        """Return this rank's contiguous share of a global batch's indices."""
        if self.world_size == 1:
            return indices
        share = len(indices) // self.world_size
        return indices[self.rank * share : (self.rank + 1) * share]

    def _next_target_indices(self, size: int) -> np.ndarray:
        chunks = []
        while size > 0:
            if len(self._target_order) == 0:
                self._target_order = self.rng.permutation(len(self.X_target))
            take = self._target_order[:size]
            self._target_order = self._target_order[size:]
            chunks.append(take)
            size -= len(take)
        return np.concatenate(chunks)

    @staticmethod
    def _gather(X: np.ndarray, indices: np.ndarray) -> np.ndarray:
        if isinstance(X, np.memmap):
            # Sorted reads are much faster on memory-mapped files.
            order = np.argsort(indices)
            out = np.empty((len(indices),) + X.shape[1:], dtype=X.dtype)
            out[order] = X[indices[order]]
            return out
        return X[indices]

    def __iter__(
        self,
    ) -> Iterator[tuple]:
        if self.X_source is None:
            yield from self._target_epoch()
            return
        order = self.rng.permutation(len(self.X_source))
        target_indices = None
        for start in range(0, len(order), self.batch_size):
            indices = order[start : start + self.batch_size]
            indices = indices[: self._kept(len(indices))]
            if len(indices) < 2:
                break
            global_size = len(indices)
            indices = self._shard(indices)
            xs = _to_tensor(
                self._gather(self.X_source, indices), self.device, self.channels_last
            )
            ys = _to_tensor(self.y_source[indices], self.device)
            xt = None
            if self.X_target is not None:
                target_indices = self._shard(self._next_target_indices(global_size))
                xt = _to_tensor(
                    self._gather(self.X_target, target_indices),
                    self.device,
                    self.channels_last,
                )
            if self.augment is not None:
                xs = self.augment(xs)
                xt = None if xt is None else self.augment(xt)
            if self.target_indices:
                yield xs, ys, xt, target_indices
            else:
                yield xs, ys, xt

    def _target_epoch(self) -> Iterator[tuple]:
        """One pass over the shuffled target set, without source batches."""
        order = self.rng.permutation(len(self.X_target))
        for start in range(0, len(order), self.batch_size):
            indices = order[start : start + self.batch_size]
            indices = indices[: self._kept(len(indices))]
            if len(indices) < 2:
                break
            indices = self._shard(indices)
            xt = _to_tensor(
                self._gather(self.X_target, indices), self.device, self.channels_last
            )
            if self.augment is not None:
                xt = self.augment(xt)
            yield TargetOnlyBatch(xt, indices if self.target_indices else None)
