"""Files that skdamerge writes: atomic writes, and reading its torch files back."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import torch

__all__ = ["load_skdamerge_file", "write_atomic"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Write a file through ``write(handle)`` so that it appears whole or not at all.

    The data go to a temporary file in the destination folder, which is flushed
    to disk and then renamed over ``path`` with :func:`os.replace` (atomic on
    POSIX and Windows). If ``write`` fails or the process is interrupted, the
    temporary file is removed and an existing ``path`` is left untouched. The new
    file gets the permissions of an ordinary new file (``0o666`` less the umask).

    Parameters
    ----------
    path : str or path-like
        Destination file; its folder must exist.
    write : callable
        Called with a binary file handle open for writing.

    Returns
    -------
    Path
        The destination.

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"folder {str(folder)!r} of {str(path)!r} does not exist."
        )
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp makes the file private; give it an ordinary new file's mode.
            os.chmod(temporary, 0o666 & ~_umask())
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return path


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
