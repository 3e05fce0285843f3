"""Model files of the ``skdamerge`` command: written by ``fit``, read by ``predict``.

A model file (``.skdm``) is a :func:`joblib.dump` of a dict holding the fitted
pipeline (per-channel standardiser + skdamerge estimator) and metadata: the format
name and version, the class names, the method and its parameters, the image shape
and the skdamerge version. Like every pickle it runs code when loaded: load only
model files you trust.
"""

from __future__ import annotations

import importlib
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib

from .. import __version__
from ._io import write_atomic

__all__ = ["CLASS_NAMES", "FORMAT", "FORMAT_VERSION", "load_model", "save_model"]

FORMAT = "skdamerge-model"
FORMAT_VERSION = 1
CLASS_NAMES = ("non-merger", "merger")

# A model file pickles the fitted estimator with its skorch callbacks, among them
# the progress bar of ``skdamerge fit`` (an ``EpochProgress``), under the name of
# its module. Files written while the command was the flat ``skdamerge.cli`` module
# name the progress bar's module as on the left.
_RENAMED_MODULES = {"skdamerge._cli_progress": "skdamerge.cli._progress"}


def save_model(
    path: str | os.PathLike,
    pipeline,
    *,
    method: str,
    params: dict[str, Any],
    n_source: int,
    n_target: int,
) -> Path:
    """Write a fitted pipeline and its metadata to a model file, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination (``.skdm`` by convention).
    pipeline : fitted DomainAdaptationPipeline
        Standardiser + estimator.
    method : str
        ``--method`` used.
    params : dict
        ``--param`` values given.
    n_source, n_target : int
        Numbers of training images.

    Returns
    -------
    Path
        The destination.
    """
    estimator = pipeline[-1]
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skdamerge_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": method,
        "params": {k: repr(v) for k, v in params.items()},
        "class_names": list(CLASS_NAMES),
        "classes": [int(c) for c in estimator.classes_],
        "input_shape": list(estimator.input_shape_),
        "n_source": int(n_source),
        "n_target": int(n_target),
        "pipeline": pipeline,
    }
    return write_atomic(path, lambda handle: joblib.dump(payload, handle))


def load_model(path: str | os.PathLike) -> dict[str, Any]:
    """Read a model file written by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like
        The model file. It is unpickled: load only files you trust.

    Returns
    -------
    dict
        The metadata and the fitted ``"pipeline"``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a skdamerge model file or has a newer format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist.")
    for old, new in _RENAMED_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))
    try:
        payload = joblib.load(path)
    except Exception as error:  # unpickling raises almost anything
        raise ValueError(
            f"{str(path)!r} is not a readable skdamerge model file ({error})."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"{str(path)!r} is not a skdamerge model file; write one with "
            "'skdamerge fit'."
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"model file {str(path)!r} has format version {version!r}; this "
            f"skdamerge reads version {FORMAT_VERSION} or older (upgrade skdamerge)."
        )
    return payload
