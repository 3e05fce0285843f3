"""Periodic training checkpoints on disk, and resuming from them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skorch.callbacks import Callback

from .._files import load_skdamerge_file, write_atomic

__all__ = ["EpochCheckpoint", "load_checkpoint"]

_FORMAT = "skdamerge-checkpoint"


def _plain(history) -> list:
    """Return the history as plain Python values (numpy scalars become floats)."""
    return json.loads(json.dumps(list(history), default=float))


class EpochCheckpoint(Callback):
    """Write the whole training state to one file at the end of every epoch.

    The file holds the network and optimizer states, the history, the step count
    and the best weights kept by early stopping, plus metadata that identifies the
    model (estimator, backbone, input shape, classes). It is replaced atomically,
    so an interruption never leaves a half-written checkpoint.

    Parameters
    ----------
    path : str or path-like
        Checkpoint file, rewritten every epoch.
    metadata : dict
        JSON-serialisable description of the model, checked on resume.
    valid_index : ndarray or None, default=None
        Indices of the training input held out for validation; a resumed fit
        reuses them, so that it validates on the same images.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        metadata: dict[str, Any],
        valid_index: np.ndarray | None = None,
    ) -> None:
        self.path = path
        self.metadata = metadata
        self.valid_index = valid_index

    def on_epoch_end(self, net, **kwargs) -> None:
        """Save the state after this epoch."""
        if not getattr(net, "writes_files", True):
            return  # data-parallel training: rank 0 writes
        key = net.selection_key()
        valid = [row[key] for row in net.history if key in row]
        scaler = getattr(net, "grad_scaler_", None)
        state = {
            "format": _FORMAT,
            "version": 1,
            "metadata": self.metadata,
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "grad_scaler": None if scaler is None else scaler.state_dict(),
            "history": _plain(net.history),
            "steps_done": net.steps_done_,
            "best_weights": net.best_weights(),
            "best_epoch": net.best_epoch(),
            "best_valid_loss": float(min(valid)) if valid else None,
            "valid_index": (
                None if self.valid_index is None else self.valid_index.tolist()
            ),
        }
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda handle: torch.save(state, handle))


def load_checkpoint(path: str | os.PathLike, metadata: dict[str, Any]) -> dict:
    """Read a checkpoint and check that it belongs to the model being trained.

    Parameters
    ----------
    path : str or path-like
        File written by :class:`EpochCheckpoint`.
    metadata : dict
        Description of the model about to be trained; every key must match.

    Returns
    -------
    dict
        The saved state.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is corrupted, not a skdamerge checkpoint, or was written by a
        model with another estimator, backbone, input shape or classes.
    """
    state = load_skdamerge_file(
        path,
        argument="resume_from",
        file_format=_FORMAT,
        kind="training checkpoint",
        hint="a file written during an earlier fit with checkpoint_path",
    )
    saved = state["metadata"]
    for key, expected in metadata.items():
        if saved.get(key) != expected:
            raise ValueError(
                f"resume_from={str(path)!r} was written by a model with {key}="
                f"{saved.get(key)!r}, but this model has {key}={expected!r}; resume "
                "with the same settings and data, or train from scratch."
            )
    return state
