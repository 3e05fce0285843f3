"""Reading the torch files that skdamerge writes (weights, checkpoints)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["load_skdamerge_file"]


def load_skdamerge_file(
    path: str | os.PathLike, *, argument: str, file_format: str, kind: str, hint: str
) -> dict:
    """Load a file written by skdamerge and check its format tag.

    Parameters
    ----------
    path : str or path-like
        The file.
    argument : str
        Name of the argument that gave the path, for the error messages.
    file_format : str
        Expected value of the file's ``"format"`` entry.
    kind : str
        What the file is, e.g. ``"weights file"``.
    hint : str
        How to obtain a valid file, e.g. ``"a file written by save_weights()"``.

    Returns
    -------
    dict
        The saved content (loaded on the CPU, tensors and plain values only).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it cannot be read (corrupted or truncated) or is not such a file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{argument}={str(path)!r} does not exist; pass {hint}."
        )
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{argument}={str(path)!r} could not be read as a {kind} (the file is "
            f"corrupted or truncated: {error}); pass {hint}."
        ) from error
    if not isinstance(saved, dict) or saved.get("format") != file_format:
        raise ValueError(
            f"{argument}={str(path)!r} is not a skdamerge {kind}; pass {hint}."
        )
    return saved
