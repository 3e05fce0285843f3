"""Model files of the ``skdamerge`` command and the ``--param`` option.

A model file (``.skdm``) is a :func:`joblib.dump` of a dict holding the fitted
pipeline (per-channel standardiser + skdamerge estimator) and metadata: the format
name and version, the class names, the method and its parameters, the image shape
and the skdamerge version. Like every pickle it runs code when loaded: load only
model files you trust.
"""

from __future__ import annotations

import ast
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib

from .. import __version__
from .._estimators import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from ._io import write_atomic

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "METHODS",
    "load_model",
    "make_estimator",
    "parse_params",
    "save_model",
]

FORMAT = "skdamerge-model"
FORMAT_VERSION = 1
CLASS_NAMES = ("non-merger", "merger")

#: ``--method`` choices of ``skdamerge fit``.
METHODS = {
    "source-only": SourceOnlyClassifier,
    "mmd": MMDClassifier,
    "dann": DANNClassifier,
}


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """Parse ``name=value`` strings; values are Python literals, else strings.

    Parameters
    ----------
    items : list of str or None
        E.g. ``["max_epochs=20", "betas=(0.7, 0.8)", "backbone=resnet18"]``.

    Returns
    -------
    dict
        ``{name: value}``; ``ast.literal_eval`` parses each value, and a value
        that is not a literal (``resnet18``) is kept as a string.

    Raises
    ------
    ValueError
        If an item has no ``=`` or an empty name, or a name is given twice.
    """
    params: dict[str, Any] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(
                f"--param {item!r} must be name=value, e.g. --param max_epochs=20."
            )
        if name in params:
            raise ValueError(f"--param {name} is given twice.")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = text.strip()
        params[name] = value
    return params


def make_estimator(method: str, params: dict[str, Any]):
    """Build the estimator of ``--method`` with validated ``--param`` values.

    Parameters
    ----------
    method : {"source-only", "mmd", "dann"}
        The method.
    params : dict
        Constructor arguments.

    Returns
    -------
    estimator
        The unfitted estimator.

    Raises
    ------
    ValueError
        If the method is unknown or a parameter name is not one of the
        estimator's (the message lists the valid names).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {sorted(METHODS)}.")
    estimator = METHODS[method]()
    valid = estimator.get_params(deep=False)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)} for --method {method} "
            f"({type(estimator).__name__}); valid names: {', '.join(sorted(valid))}."
        )
    return estimator.set_params(**params)


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
