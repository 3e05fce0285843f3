"""Files of the ``skdamerge`` command: image inputs and atomic outputs.

Inputs are ``.npy`` arrays, FITS files (a cube of many objects, or a folder of one
file per object) and folders of JPEG/PNG cutouts, read with the loaders of
:mod:`skdamerge.datasets`. Outputs (catalogs, tables, models) are written to a
temporary file in the destination folder and moved into place with
:func:`os.replace`, so an interrupted run never leaves a partial file behind.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._files import write_atomic
from ..datasets import load_fits_cube, load_fits_images, load_image_folder

__all__ = [
    "Images",
    "read_images",
    "read_labels",
    "write_atomic",
    "write_catalog",
    "write_text",
]


_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _is_fits(path: Path) -> bool:
    return path.name.lower().endswith(_FITS_SUFFIXES)


class Images(NamedTuple):
    """Images read from a file or folder, with one id per object."""

    X: np.ndarray
    ids: np.ndarray
    kind: str


def _npy(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise OSError(f"could not read {what} {str(path)!r} as .npy: {error}") from None


def _folder_kind(folder: Path) -> str:
    names = [p.name for p in folder.iterdir() if p.is_file()]
    if any(_is_fits(Path(name)) for name in names):
        return "fits"
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix.lower() in _IMAGE_SUFFIXES:
            return "image folder"
    raise FileNotFoundError(
        f"folder {str(folder)!r} holds no FITS files (.fits, .fit, .fts) and no "
        f"images ({', '.join(_IMAGE_SUFFIXES)})."
    )


def read_images(path: str | os.PathLike, *, size: int = 75) -> Images:
    """Read galaxy images from a ``.npy`` file, a FITS file or a folder.

    Parameters
    ----------
    path : str or path-like
        ``.npy`` array ``(n, channels, height, width)``; a FITS cube (see
        :func:`~skdamerge.datasets.load_fits_cube`); a folder of FITS files, one
        per object (:func:`~skdamerge.datasets.load_fits_images`); or a folder of
        JPEG/PNG cutouts, searched recursively
        (:func:`~skdamerge.datasets.load_image_folder`).
    size : int, default=75
        Side to which JPEG/PNG cutouts are resized.

    Returns
    -------
    Images
        ``X`` (float32 for FITS and cutouts; ``.npy`` files keep their dtype and
        are memory-mapped), ``ids`` (the row number for arrays and cubes, the file
        name without suffix for FITS folders, the relative path for cutouts) and
        ``kind``.

    Raises
    ------
    FileNotFoundError
        If the path does not exist or a folder holds no images.
    OSError
        If a file cannot be read.
    ValueError
        If the file format is unknown or the array is not 4-D.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist.")
    if path.is_dir():
        kind = _folder_kind(path)
        if kind == "fits":
            X, ids = load_fits_images(path)
        else:
            X, _, ids = load_image_folder(path, size=size, labels=None)
            ids = np.array([str(Path(i).with_suffix("").as_posix()) for i in ids])
    elif path.suffix.lower() == ".npy":
        kind = "npy"
        X = _npy(path, "images")
        ids = np.arange(len(X)).astype(str) if X.ndim else np.array([], dtype=str)
    elif _is_fits(path):
        kind = "fits cube"
        X = load_fits_cube(path)
        ids = np.arange(len(X)).astype(str)
    else:
        raise ValueError(
            f"{str(path)!r} is not a .npy or FITS file (.fits, .fit, .fts, "
            "optionally .gz) nor a folder of FITS files or JPEG/PNG images."
        )
    if X.ndim != 4:
        raise ValueError(
            f"{str(path)!r} holds an array of shape {X.shape}; expected images "
            "(n_samples, channels, height, width), channels first."
        )
    if len(X) == 0:
        raise ValueError(f"{str(path)!r} holds no images.")
    return Images(X, ids, kind)


def read_labels(path: str | os.PathLike, n_images: int) -> np.ndarray:
    """Read 0/1 labels (1 = merger) from a ``.npy`` file.

    Parameters
    ----------
    path : str or path-like
        ``.npy`` file of shape ``(n,)`` or ``(n, 1)``.
    n_images : int
        Number of source images the labels belong to.

    Returns
    -------
    ndarray of shape (n_images,), int64
        The labels.

    Raises
    ------
    FileNotFoundError, OSError, ValueError
        If the file is missing, unreadable, of the wrong length or not 0/1.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labels file {str(path)!r} does not exist.")
    y = np.asarray(_npy(path, "labels"))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"labels {str(path)!r} have shape {y.shape}; expected (n,).")
    if len(y) != n_images:
        raise ValueError(
            f"labels {str(path)!r} hold {len(y)} values for {n_images} source images."
        )
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        shown = sorted(values, key=str)[:5]
        raise ValueError(
            f"labels {str(path)!r} must be 0 (non-merger) or 1 (merger); found {shown}."
        )
    return y.astype(np.int64)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically (see :func:`write_atomic`).

    Parameters
    ----------
    path : str or path-like
        Destination file.
    text : str
        Content.

    Returns
    -------
    Path
        The destination.
    """
    data = text.encode("utf-8")
    return write_atomic(path, lambda handle: handle.write(data))


def write_catalog(
    path: str | os.PathLike,
    ids: Sequence[str],
    p_merger: np.ndarray,
    *,
    threshold: float = 0.5,
    class_names: Sequence[str] = ("non-merger", "merger"),
) -> Path:
    """Write a merger catalog CSV atomically.

    Parameters
    ----------
    path : str or path-like
        Destination ``.csv`` file.
    ids : sequence of str
        Object ids.
    p_merger : ndarray of shape (n,)
        Merger probabilities; written rounded to 6 decimals.
    threshold : float, default=0.5
        An object is a merger when its (rounded) probability exceeds it.
    class_names : sequence of two str, default=("non-merger", "merger")
        Names of label 0 and label 1.

    Returns
    -------
    Path
        The destination. Columns: ``object_id``, ``p_merger``,
        ``predicted_label`` (1 = merger, 0 = non-merger) and ``predicted_class``.
    """
    p = np.round(np.asarray(p_merger, dtype=np.float64), 6)
    labels = (p > threshold).astype(int)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["object_id", "p_merger", "predicted_label", "predicted_class"])
    for object_id, value, label in zip(ids, p, labels, strict=True):
        writer.writerow([object_id, f"{value:.6f}", int(label), class_names[label]])
    return write_text(path, buffer.getvalue())
