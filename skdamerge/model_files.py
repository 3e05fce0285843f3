"""Model files that are safe to share: a fitted model without pickle.

A model file (``.skdm`` by convention) is a zip archive of two members:

``metadata.json``
    The format name and version, the skdamerge version, the creation time, the
    method as registered (``"mmd"``, ``"dann"``, ...), the estimator's
    constructor parameters, the classes and their names, the image shape, the
    band order (if given), every fitted attribute that prediction needs (the
    decision threshold ``target_threshold_`` of ``predict(X, domain="target")``,
    the merger-fraction estimates, ...), the fitted statistics of the
    preprocessing steps (the per-channel means and scales of a
    :class:`~skdamerge.preprocessing.ChannelStandardizer`) and a training summary
    (best epoch, numbers of images, the history of the epochs).
``weights.safetensors``
    The tensors of the trained network, in the `safetensors
    <https://huggingface.co/docs/safetensors>`_ format.

Loading a model file runs no code that the file names: the estimator class is
looked up in skdamerge's method registry, the preprocessing classes in
:mod:`skdamerge.preprocessing`, every value is plain data, the network is built
untrained and the weights are copied into it.

Model files of format version 1 (written by the ``skdamerge`` command before this
format) are pickles, which run arbitrary code when loaded. They are refused
unless ``allow_pickle=True`` is passed (``--allow-pickle`` on the command line):
do that only for files you trust, and save the model again to convert it.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from datetime import datetime, timezone
from numbers import Integral
from pathlib import Path
from typing import Any

from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from . import __version__
from ._files import write_atomic
from ._model_state import ModelStateError, decode, encode, model_state, rebuild_model
from ._param_validation import HasMethods, Interval, validate_params

__all__ = ["load_model", "read_model_metadata", "save_model"]

#: The ``"format"`` entry of every model file.
FORMAT = "skdamerge-model"
#: The format version written; files of this version or older are read.
FORMAT_VERSION = 2
#: The names of the classes 0 and 1 when no others are given.
CLASS_NAMES = ("non-merger", "merger")

METADATA = "metadata.json"
WEIGHTS = "weights.safetensors"
# Largest metadata.json read (a zip member can claim any size).
_MAX_METADATA_BYTES = 256 * 1024 * 1024
_PICKLE_OPT_IN = "allow_pickle=True (skdamerge predict --allow-pickle)"

# Format-version-1 files pickle the estimator with its skorch callbacks, among
# them the progress bar of ``skdamerge fit``, under the name of its module. Files
# written while the command was the flat ``skdamerge.cli`` module name the
# progress bar's module as on the left.
_RENAMED_MODULES = {"skdamerge._cli_progress": "skdamerge.cli._progress"}


def _class_names(classes: list, class_names: Sequence[str] | None) -> list[str]:
    if class_names is None:
        if classes == [0, 1]:
            return list(CLASS_NAMES)
        return [str(label) for label in classes]
    names = [str(name) for name in class_names]
    if len(names) != len(classes):
        raise ValueError(
            f"class_names must name the {len(classes)} classes {classes!r}; got "
            f"{len(names)} names."
        )
    return names


@validate_params(
    {
        "path": [str, os.PathLike],
        "model": [HasMethods(["predict_proba"])],
        "n_source": [Interval(Integral, 0, None, closed="left"), None],
        "n_target": [Interval(Integral, 0, None, closed="left"), None],
        "bands": [list, tuple, None],
        "class_names": [list, tuple, None],
    },
    prefer_skip_nested_validation=True,
)
def save_model(
    path: str | os.PathLike,
    model: Any,
    *,
    n_source: int | None = None,
    n_target: int | None = None,
    bands: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Write a fitted model to a model file that loading cannot run code from.

    The file is a zip archive of ``metadata.json`` (plain data) and
    ``weights.safetensors`` (the network's tensors); see
    :mod:`skdamerge.model_files`. It is written atomically: it appears whole or
    not at all, and an existing file is replaced only once the new one is
    complete.

    Parameters
    ----------
    path : str or path-like
        Destination, ``.skdm`` by convention; its folder must exist.
    model : fitted estimator or DomainAdaptationPipeline
        A fitted skdamerge estimator, or a fitted
        :class:`~skdamerge.pipeline.DomainAdaptationPipeline` of
        :mod:`skdamerge.preprocessing` steps ending in one. Its constructor
        parameters must be plain data: a callback, a custom torch ``backbone``
        or a random generator as ``random_state`` is refused (the error names it
        and the fix). What ``fit`` reads or writes on the training machine
        (``checkpoint_path``, ``resume_from``, ``init_weights``, SHOT's
        ``source_model``) is stored as None and listed in the metadata's
        ``"params_not_saved"``.
    n_source : int, default=None
        Number of labelled source training images, for the training summary.
    n_target : int, default=None
        Number of target training images; None takes the estimator's
        ``n_target_samples_``.
    bands : list of str, default=None
        The band (filter) of each channel, in the channel order of the training
        images, e.g. ``["g", "r", "i"]``; stored for the users of the file.
    class_names : list of str, default=None
        A name for each class of ``classes_``; None gives
        ``["non-merger", "merger"]`` for 0/1 labels, else the labels as text.

    Returns
    -------
    Path
        The destination.

    Raises
    ------
    TypeError
        If ``model`` is neither a skdamerge estimator nor a
        DomainAdaptationPipeline ending in one.
    sklearn.exceptions.NotFittedError
        If it is not fitted.
    ValueError
        If a parameter or fitted value is not plain data, ``bands`` does not
        have one band per channel, or ``class_names`` one name per class.

    See Also
    --------
    load_model : read the model back.
    read_model_metadata : read the metadata alone.

    Examples
    --------
    >>> from pathlib import Path
    >>> from tempfile import mkdtemp
    >>> import numpy as np
    >>> from skdamerge import MMDClassifier, load_model, save_model
    >>> from skdamerge.datasets import make_galaxy_mergers
    >>> Xs, ys, Xt, _ = make_galaxy_mergers(100, random_state=0)
    >>> clf = MMDClassifier(max_epochs=1, random_state=0, device="cpu")
    >>> clf = clf.fit(Xs, ys, X_target=Xt)
    >>> path = Path(mkdtemp()) / "mmd.skdm"
    >>> _ = save_model(path, clf, n_source=len(Xs))
    >>> loaded = load_model(path)
    >>> bool(np.array_equal(loaded.predict_proba(Xt), clf.predict_proba(Xt)))
    True
    """
    state, tensors = model_state(model)
    fitted = decode(state["fitted"])
    classes = [encode(label, "classes_") for label in fitted["classes_"].tolist()]
    shape = [int(n) for n in fitted["input_shape_"]]
    if bands is not None:
        bands = [str(band) for band in bands]
        if len(shape) != 3 or len(bands) != shape[0]:
            raise ValueError(
                f"bands must name the {shape[0]} channel(s) of the training images "
                f"{tuple(shape)}, one band each; got {len(bands)}: {bands!r}."
            )
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skdamerge_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": state["method"],
        "estimator": state["estimator"],
        "params": state["params"],
        "params_not_saved": state["cleared"],
        "classes": classes,
        "class_names": _class_names(classes, class_names),
        "input_shape": shape,
        "bands": bands,
        "decision_threshold": fitted.get("target_threshold_"),
        "training": {
            "best_epoch": fitted.get("best_epoch_"),
            "n_epochs": fitted.get("n_epochs_"),
            "n_source": n_source,
            "n_target": fitted.get("n_target_samples_")
            if n_target is None
            else n_target,
            "source_merger_fraction": fitted.get("source_merger_fraction_"),
            "target_merger_fraction": state["fitted"].get("target_merger_fraction_"),
            "history": state["history"],
        },
        "fitted": state["fitted"],
        "preprocessing": state["pipeline"],
        "network": {
            "weights": WEIGHTS,
            "frozen_norm_layers": state["frozen_norm_layers"],
            "unsaved_attributes": state["unsaved"],
        },
    }
    try:
        text = json.dumps(metadata, indent=1)
    except (TypeError, ValueError) as error:  # a value encode() let through
        raise ModelStateError(
            f"the model's metadata is not plain data: {error}"
        ) from None
    weights = save_tensors(tensors, metadata={"format": FORMAT})

    def write(handle) -> None:
        with zipfile.ZipFile(handle, "w") as archive:
            archive.writestr(METADATA, text, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr(WEIGHTS, weights, compress_type=zipfile.ZIP_STORED)

    return write_atomic(path, write)


def _unreadable(path: Path, what: str) -> ValueError:
    return ValueError(
        f"model file {str(path)!r} {what}; it is damaged or incomplete (a copy "
        "that was cut short?): copy it again, or write it again with "
        "skdamerge.save_model / 'skdamerge fit'."
    )


def _not_a_zip(path: Path) -> ValueError:
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == b"PK\x03\x04":  # a zip archive whose end (its directory) is gone
        return _unreadable(path, "is a zip archive without its end")
    if head[:1] == b"\x80":
        what = (
            "is a pickle, probably a skdamerge model file of format version 1 "
            "(written by an earlier 'skdamerge fit'). Loading a pickle runs any "
            "code it holds, so it is refused by default. If you trust the origin "
            f"of this file, load it with {_PICKLE_OPT_IN}, then save it again "
            "with skdamerge.save_model to convert it to the safe format"
        )
    else:
        what = (
            "is not a skdamerge model file (a model file is a zip archive written "
            "by skdamerge.save_model or 'skdamerge fit'; a format-version-1 "
            f"model file, a pickle, loads only with {_PICKLE_OPT_IN})"
        )
    return ValueError(f"{str(path)!r} {what}.")


def _check_metadata(path: Path, metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        found = metadata.get("format") if isinstance(metadata, dict) else None
        raise ValueError(
            f"{str(path)!r} is not a skdamerge model file: its {METADATA} has the "
            f"format {found!r}, not {FORMAT!r}. Pass a file written by "
            "skdamerge.save_model or 'skdamerge fit'."
        )
    version = metadata.get("format_version")
    if not isinstance(version, int) or version < 2:
        raise _unreadable(path, f"has the invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"model file {str(path)!r} has format version {version}, written by "
            f"skdamerge {metadata.get('skdamerge_version', '(unknown)')}; this "
            f"skdamerge ({__version__}) reads format version {FORMAT_VERSION} or "
            "older: upgrade skdamerge (pip install --upgrade skdamerge)."
        )
    return metadata


def _open(path: str | os.PathLike) -> tuple[Path, zipfile.ZipFile | None]:
    """Return the path and its open archive (None: not a zip archive)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist.")
    if not zipfile.is_zipfile(path):
        return path, None
    try:
        return path, zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise _unreadable(path, f"is not a readable zip archive ({error})") from None


def _read_member(path: Path, archive: zipfile.ZipFile, name: str, limit=None) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise _unreadable(path, f"has no member {name!r}") from None
    if limit is not None and info.file_size > limit:
        raise _unreadable(path, f"has a {name} of {info.file_size} bytes")
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise _unreadable(
            path, f"has a member {name!r} that cannot be read ({error})"
        ) from None


def _read_metadata(path: Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    raw = _read_member(path, archive, METADATA, _MAX_METADATA_BYTES)
    try:
        metadata = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise _unreadable(
            path, f"has a {METADATA} that is not JSON ({error})"
        ) from None
    return _check_metadata(path, metadata)


def _load_pickle(path: Path) -> dict[str, Any]:
    """Unpickle a format-version-1 file (only with the caller's opt-in)."""
    import importlib
    import sys

    import joblib

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
            "skdamerge.save_model or 'skdamerge fit'."
        )
    if payload.get("format_version") != 1:
        raise ValueError(
            f"{str(path)!r} is a pickle with format version "
            f"{payload.get('format_version')!r}; pickled model files have version 1."
        )
    return payload


def read_model_file(
    path: str | os.PathLike, *, allow_pickle: bool = False, with_model: bool = True
) -> tuple[Any, dict[str, Any]]:
    """Return ``(model, metadata)`` of a model file; the model is None if not asked.

    The metadata of a format-version-1 pickle are its payload without the
    pipeline. See :func:`load_model` for the errors.
    """
    path, archive = _open(path)
    if archive is None:
        if not allow_pickle:
            raise _not_a_zip(path)
        payload = _load_pickle(path)
        model = payload.pop("pipeline", None)
        return model, payload
    with archive:
        metadata = _read_metadata(path, archive)
        if not with_model:
            return None, metadata
        raw = _read_member(path, archive, WEIGHTS)
    try:
        tensors = load_tensors(raw)
    except Exception as error:  # safetensors raises its own error type
        raise _unreadable(path, f"has weights that cannot be read ({error})") from None
    state = {
        "method": metadata.get("method"),
        "params": metadata.get("params"),
        "fitted": metadata.get("fitted"),
        "history": metadata.get("training", {}).get("history", []),
        "frozen_norm_layers": metadata.get("network", {}).get("frozen_norm_layers", []),
        "unsaved": metadata.get("network", {}).get("unsaved_attributes", []),
        "pipeline": metadata.get("preprocessing"),
    }
    try:
        model = rebuild_model(state, tensors)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        raise ValueError(
            f"model file {str(path)!r} could not be rebuilt: {error} If the method "
            "comes from a plugin, import the plugin first; if the file was written "
            "by another skdamerge version, use that version or upgrade."
        ) from None
    return model, metadata


def is_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a zip archive with a ``metadata.json`` (a model file)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return METADATA in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


@validate_params(
    {"path": [str, os.PathLike], "allow_pickle": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load_model(path: str | os.PathLike, *, allow_pickle: bool = False) -> Any:
    """Read a fitted model from a model file, without running code from it.

    The estimator is rebuilt from the method registry with the saved
    constructor parameters and fitted attributes, its network is built
    untrained and the saved weights are loaded into it: the loaded model
    predicts exactly as the saved one (``predict``, ``predict_proba``,
    ``predict(X, domain="target")``, ``transform``). The training history
    keeps its epochs (not its batches); SHOT's ``source_estimator_`` is None.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model` (or ``skdamerge fit``).
    allow_pickle : bool, default=False
        Also read format-version-1 model files, which are pickles. **Unsafe**:
        unpickling runs any code the file holds. Pass True only for files you
        trust, and save the model again with :func:`save_model` to convert it.

    Returns
    -------
    estimator or DomainAdaptationPipeline
        The fitted model, as it was saved.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a model file, is damaged or incomplete, has a newer format
        version, or is a pickle and ``allow_pickle`` is False; the message names
        the file and the fix.

    See Also
    --------
    save_model : write a model file.
    read_model_metadata : read the metadata without the network.
    """
    model, _ = read_model_file(path, allow_pickle=allow_pickle)
    return model


@validate_params(
    {"path": [str, os.PathLike], "allow_pickle": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def read_model_metadata(
    path: str | os.PathLike, *, allow_pickle: bool = False
) -> dict[str, Any]:
    """Read the metadata of a model file, without its network.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.
    allow_pickle : bool, default=False
        As for :func:`load_model` (a format-version-1 pickle must be unpickled
        whole to read its metadata). **Unsafe** for files you do not trust.

    Returns
    -------
    dict
        The content of ``metadata.json`` with tuples and arrays restored:
        ``"format"``, ``"format_version"``, ``"skdamerge_version"``,
        ``"created"``, ``"method"``, ``"estimator"``, ``"params"``,
        ``"params_not_saved"``,
        ``"classes"``, ``"class_names"``, ``"input_shape"`` (the sample shape
        the estimator was trained on, after any preprocessing step), ``"bands"``,
        ``"decision_threshold"``, ``"training"`` (``"best_epoch"``,
        ``"n_epochs"``, ``"n_source"``, ``"n_target"``,
        ``"source_merger_fraction"``, ``"target_merger_fraction"``,
        ``"history"``), ``"fitted"``, ``"preprocessing"`` and ``"network"``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        As for :func:`load_model`.
    """
    _, metadata = read_model_file(path, allow_pickle=allow_pickle, with_model=False)
    return decode(metadata)
