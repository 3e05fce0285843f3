"""Batched forward passes of a trained network (prediction and monitoring)."""

from __future__ import annotations

import numpy as np
import torch

from .._heap import freed_memory_kept
from .batches import ArrayBatches
from .orientation import orient

__all__ = ["forward_batches", "predict_proba_batches"]


def predict_proba_batches(net, X, batch_size: int) -> np.ndarray:
    """Class probabilities of ``net.module_`` on ``X``, in evaluation mode."""
    logits = torch.from_numpy(forward_batches(net, X, output=1, batch_size=batch_size))
    return torch.softmax(logits.double(), dim=1).numpy()


@freed_memory_kept()
def forward_batches(
    net, X, *, output: int | tuple[int, ...], batch_size: int, orientation: int = 0
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Run ``net.module_`` over ``X`` in batches; ``output`` 0 is features, 1 logits.

    A tuple of outputs, e.g. ``(0, 1)``, returns one array per output from the
    same pass.

    The network is put in evaluation mode (batch-norm running statistics, no
    dropout); predictions run in inference mode with the net's precision. A
    non-zero ``orientation`` turns each image batch first
    (:func:`~skdamerge._engine.orientation.orient`).
    """
    module = net.module_
    module.eval()
    batches = ArrayBatches(
        X,
        None,
        max(batch_size, 256),
        torch.device(net.device),
        channels_last=getattr(net, "channels_last", False),
    )
    outputs = output if isinstance(output, tuple) else (output,)
    chunks: list[list[np.ndarray]] = [[] for _ in outputs]
    with torch.inference_mode():
        for xb, _ in batches:
            if orientation:
                xb = orient(xb, orientation)
            with net.precision_policy.autocast():
                out = module(xb)
            for kept, index in zip(chunks, outputs, strict=True):
                kept.append(out[index].float().cpu().numpy())
    arrays = tuple(np.concatenate(kept) for kept in chunks)
    return arrays if isinstance(output, tuple) else arrays[0]
