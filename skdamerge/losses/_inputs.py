"""Feature batches as the losses read them: a floating-point sample matrix."""

from __future__ import annotations

import torch
from torch import Tensor

__all__: list[str] = []


def _as_samples(x: Tensor, name: str) -> Tensor:
    """Return ``x`` as a floating-point ``(n_samples, n_features)`` matrix."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar.")
    x = x.reshape(len(x), -1) if x.ndim != 2 else x
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x
