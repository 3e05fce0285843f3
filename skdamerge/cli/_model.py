"""Model files of the ``skdamerge`` command: written by ``fit``, read by ``predict``.

The command writes and reads the model files of :mod:`skdamerge.model_files`: a
zip archive of plain metadata and safetensors weights, from which loading runs
no code. Pickled model files of format version 1 load only with
``allow_pickle=True`` (``skdamerge predict --allow-pickle``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._model_state import decode
from ..model_files import CLASS_NAMES, FORMAT, FORMAT_VERSION, read_model_file
from ..model_files import save_model as save_model_file

__all__ = ["CLASS_NAMES", "FORMAT", "FORMAT_VERSION", "load_model", "save_model"]


def save_model(
    path: str | os.PathLike,
    pipeline,
    *,
    method: str,
    n_source: int,
    n_target: int,
    bands: list[str] | None = None,
) -> Path:
    """Write the fitted pipeline of ``skdamerge fit`` to a model file, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination (``.skdm`` by convention).
    pipeline : fitted DomainAdaptationPipeline
        Standardiser + estimator.
    method : str
        ``--method`` used: the registered name of the estimator's method.
    n_source, n_target : int
        Numbers of training images.
    bands : list of str or None, default=None
        Band names of the image channels, in order (``--bands``), recorded so
        that ``skdamerge predict --tiles`` needs no ``--bands``.

    Returns
    -------
    Path
        The destination.
    """
    registered = pipeline[-1]._objective_class.name
    if registered != method:
        raise ValueError(
            f"--method {method} trained a {type(pipeline[-1]).__name__}, the "
            f"estimator of {registered!r}."
        )
    return save_model_file(
        path,
        pipeline,
        n_source=n_source,
        n_target=n_target,
        bands=bands,
        class_names=list(CLASS_NAMES),
    )


def load_model(
    path: str | os.PathLike, *, allow_pickle: bool = False
) -> dict[str, Any]:
    """Read a model file: its metadata and its fitted ``"pipeline"``.

    Parameters
    ----------
    path : str or path-like
        The model file.
    allow_pickle : bool, default=False
        Also read pickled model files of format version 1 (unsafe: unpickling
        runs any code the file holds).

    Returns
    -------
    dict
        The metadata of :func:`skdamerge.read_model_metadata` and the fitted
        ``"pipeline"``. For every format version it has ``"format"``,
        ``"format_version"``, ``"method"``, ``"class_names"``, ``"classes"``,
        ``"input_shape"``, ``"n_source"`` and ``"n_target"``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a model file, is damaged, has a newer format version, or is
        a pickle and ``allow_pickle`` is False.
    """
    model, metadata = read_model_file(path, allow_pickle=allow_pickle)
    if metadata.get("format_version") == 1:
        return {**metadata, "pipeline": model}
    metadata = decode(metadata)
    training = metadata["training"]
    return {
        **metadata,
        "n_source": training["n_source"],
        "n_target": training["n_target"],
        "pipeline": model,
    }
