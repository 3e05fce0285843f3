"""A fitted model as plain data and tensors, and back: the content of a model file.

:func:`model_state` turns a fitted skdamerge estimator, or a fitted
:class:`~skdamerge.pipeline.DomainAdaptationPipeline` of skdamerge preprocessing
steps ending in one, into a JSON-ready description (classes, constructor
parameters, fitted attributes, training history) and the network's tensors.
:func:`rebuild_model` does the reverse without running any code named by the
data: the estimator class comes from the method registry, preprocessing classes
from :mod:`skdamerge.preprocessing`, every value is plain data (numbers,
strings, None, lists, tuples, dicts, numeric or string arrays).

A value that is not plain data (a callback, a torch module, a random generator)
cannot be described: :class:`ModelStateError` names it and the fix.
"""

from __future__ import annotations

import dataclasses
import os
import re
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from . import preprocessing
from ._engine.module import DomainAdaptationModule
from ._engine.net import TrainingData
from ._engine.objectives import estimator_class
from ._engine.precision import resolve_precision
from ._estimators import DomainAdaptationClassifier
from ._estimators._building import build_net, uses_channels_last
from ._param_validation import check_parameters
from .metrics._collapse import TargetCollapse
from .metrics._merger_fraction_estimate import MergerFractionEstimate
from .nets import FeatureExtractor, make_backbone
from .pipeline import DomainAdaptationPipeline

__all__ = ["ModelStateError", "decode", "encode", "model_state", "rebuild_model"]

# Tags of the values that JSON has no type for; a dict key may not be one of them.
_TUPLE, _ARRAY, _RECORD = "__tuple__", "__ndarray__", "__record__"
_TAGS = (_TUPLE, _ARRAY, _RECORD)
# Array kinds a model file may hold: booleans, integers, floats, strings.
_ARRAY_KINDS = "biufU"
# The name of a public fitted attribute.
_FITTED_NAME = re.compile(r"[a-z][a-z0-9_]*_")
# Fitted values that are records (frozen dataclasses), by class name.
_RECORDS = {
    "MergerFractionEstimate": MergerFractionEstimate,
    "TargetCollapse": TargetCollapse,
}
# Fitted attributes not saved, None after loading: SHOT's source-stage model.
_UNSAVED = ("source_estimator_",)
# Fitted attributes not stored as values: the network (its tensors), the history
# (its epochs are stored) and the unsaved ones.
_NOT_VALUES = ("net_", "history_", *_UNSAVED)
# Constructor parameters that name what fit reads or writes on the training
# machine (files, or a source estimator): stored as None, and None when loaded,
# so that refitting a loaded model never touches paths chosen by its author.
FIT_ONLY_PARAMETERS = ("checkpoint_path", "init_weights", "resume_from", "source_model")
# What to do with a constructor parameter that is not plain data.
_PARAMETER_FIXES = {
    "callbacks": "set_params(callbacks=None) before saving; callbacks act during "
    "fit only",
    "backbone": "a model file holds the named backbones only ('auto', 'deepmerge', "
    "'resnet18'): a custom torch module cannot be rebuilt without its code",
    "random_state": "set_params(random_state=<an int or None>) before saving",
}


class ModelStateError(ValueError):
    """A model, or one of its values, cannot be stored in a model file."""


def encode(value: Any, where: str) -> Any:
    """Return ``value`` as JSON-ready plain data; ``where`` names it in errors.

    Tuples, arrays and records are tagged dicts (``{"__tuple__": [...]}``) so
    that :func:`decode` gives back the same types. Paths become strings, NumPy
    scalars Python numbers.

    Raises
    ------
    ModelStateError
        If ``value`` holds anything else.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {_TUPLE: [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) and k not in _TAGS for k in value):
            raise ModelStateError(f"{where} has keys that are not plain strings.")
        return {k: encode(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.dtype.kind in _ARRAY_KINDS:
        return {
            _ARRAY: value.tolist(),
            "dtype": value.dtype.str,
            "shape": list(value.shape),
        }
    name = type(value).__name__
    if dataclasses.is_dataclass(value) and _RECORDS.get(name) is type(value):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {_RECORD: name, "fields": encode(fields, where)}
    raise ModelStateError(
        f"{where} is a {name}, which is not plain data (numbers, strings, None, "
        "lists, tuples, dicts, numeric or string arrays) and cannot be written "
        "to a model file without pickling."
    )


def decode(value: Any) -> Any:
    """Return the value that :func:`encode` turned into ``value``.

    Raises
    ------
    ValueError
        If a tagged value is malformed (an unknown record, an object array).
    """
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if _TUPLE in value:
        return tuple(decode(v) for v in value[_TUPLE])
    if _ARRAY in value:
        dtype = np.dtype(str(value["dtype"]))
        if dtype.kind not in _ARRAY_KINDS:
            raise ValueError(f"an array of dtype {dtype} is not allowed.")
        return np.asarray(value[_ARRAY], dtype=dtype).reshape(value["shape"])
    if _RECORD in value:
        record = _RECORDS.get(value[_RECORD])
        if record is None:
            raise ValueError(f"unknown record type {value[_RECORD]!r}.")
        return record(**decode(value["fields"]))
    return {k: decode(v) for k, v in value.items()}


def _parameters(step: BaseEstimator, label: str, cleared=()) -> dict[str, Any]:
    """Encode the constructor parameters of ``step``; refuse what is not data.

    The parameters named in ``cleared`` are stored as None.
    """
    params = {}
    for name, value in step.get_params(deep=False).items():
        if name in cleared:
            params[name] = None
            continue
        try:
            params[name] = encode(value, f"{label} parameter {name!r}")
        except ModelStateError as error:
            fix = _PARAMETER_FIXES.get(
                name, f"set_params({name}=...) to a plain value before saving"
            )
            raise ModelStateError(f"{error} Fix: {fix}.") from None
    return params


def _fitted(step: BaseEstimator, label: str, skip=()) -> dict[str, Any]:
    """Encode the public fitted attributes (``name_``) of ``step``."""
    return {
        name: encode(value, f"{label} fitted attribute {name!r}")
        for name, value in vars(step).items()
        if name.endswith("_") and not name.startswith("_") and name not in skip
    }


def _history(estimator: DomainAdaptationClassifier, label: str) -> list:
    """Encode the epochs of the training history, without their per-batch rows."""
    return [
        encode({k: v for k, v in row.items() if k != "batches"}, f"{label} history")
        for row in estimator.history_
    ]


def _preprocessing_classes() -> dict[str, type]:
    return {
        name: getattr(preprocessing, name)
        for name in preprocessing.__all__
        if isinstance(getattr(preprocessing, name), type)
    }


def _check_estimator(estimator: Any) -> str:
    """Return the registered method name of a fitted skdamerge estimator."""
    if not isinstance(estimator, DomainAdaptationClassifier):
        raise TypeError(
            "model must be a fitted skdamerge estimator or a DomainAdaptationPipeline "
            f"ending in one; got {type(estimator).__name__}."
        )
    check_is_fitted(estimator, "net_")
    method = estimator._objective_class.name
    if estimator_class(method) is not type(estimator):
        raise ModelStateError(
            f"{type(estimator).__name__} is not the registered estimator of the "
            f"method {method!r}; a model file rebuilds registered estimators only."
        )
    return method


def _step_state(name: str, step: Any) -> dict[str, Any]:
    """Describe a fitted preprocessing step of a pipeline."""
    if step is None or step == "passthrough":
        return {"name": name, "class": "passthrough"}
    label = f"pipeline step {name!r}"
    known = _preprocessing_classes()
    if known.get(type(step).__name__) is not type(step):
        raise ModelStateError(
            f"{label} is a {type(step).__name__}; a model file holds the "
            "preprocessing steps of skdamerge.preprocessing only "
            f"({', '.join(sorted(known))})."
        )
    check_is_fitted(step)
    return {
        "name": name,
        "class": type(step).__name__,
        "params": _parameters(step, label),
        "fitted": _fitted(step, label),
    }


def model_state(model: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Describe a fitted estimator or pipeline: (JSON-ready dict, network tensors).

    Raises
    ------
    TypeError
        If ``model`` is neither a skdamerge estimator nor a DomainAdaptationPipeline.
    sklearn.exceptions.NotFittedError
        If it is not fitted.
    ModelStateError
        If a step is not a skdamerge preprocessing step, or a value is not plain
        data.
    """
    if isinstance(model, DomainAdaptationPipeline):
        final_name, estimator = model.steps[-1]
        method = _check_estimator(estimator)
        steps = [_step_state(name, step) for name, step in model.steps[:-1]]
    elif isinstance(model, BaseEstimator):
        final_name, estimator, steps = None, model, []
        method = _check_estimator(estimator)
    else:
        raise TypeError(
            "model must be a fitted skdamerge estimator or a DomainAdaptationPipeline "
            f"ending in one; got {type(model).__name__}."
        )
    label = type(estimator).__name__
    module = estimator.module_
    tensors = {
        key: tensor.detach().cpu().contiguous()
        for key, tensor in module.state_dict().items()
    }
    state = {
        "method": method,
        "estimator": label,
        "params": _parameters(estimator, label, cleared=FIT_ONLY_PARAMETERS),
        "cleared": [
            name
            for name, value in estimator.get_params(deep=False).items()
            if name in FIT_ONLY_PARAMETERS and value is not None
        ],
        "fitted": _fitted(estimator, label, skip=_NOT_VALUES),
        "history": _history(estimator, label),
        "frozen_norm_layers": list(module.frozen_norm_layers),
        "unsaved": [name for name in _UNSAVED if hasattr(estimator, name)],
        "pipeline": None
        if final_name is None
        else {"steps": steps, "final_step": final_name},
    }
    return state, tensors


def _fitted_values(encoded: dict[str, Any], reserved=()) -> list[tuple[str, Any]]:
    """Decode fitted attributes; refuse a name that is not a public ``name_``."""
    values = []
    for name, value in encoded.items():
        if not _FITTED_NAME.fullmatch(name) or name in reserved:
            raise ValueError(f"{name!r} is not a fitted attribute that can be set.")
        values.append((name, decode(value)))
    return values


def _rebuild_step(entry: dict[str, Any]):
    if entry["class"] == "passthrough":
        return "passthrough"
    known = _preprocessing_classes()
    if entry["class"] not in known:
        raise ValueError(
            f"unknown preprocessing step {entry['class']!r} (known: "
            f"{', '.join(sorted(known))})."
        )
    step = known[entry["class"]](**decode(entry["params"]))
    check_parameters(step)
    for name, value in _fitted_values(entry["fitted"]):
        setattr(step, name, value)
    return step


def _inference_device(device: str) -> str:
    """Return the estimator's device, or the CPU where it names a missing GPU."""
    available = torch.cuda.is_available()
    if device == "auto" or (device.startswith("cuda") and not available):
        return "cuda" if available else "cpu"
    return device


def _inference_precision(precision: str, device: str):
    """Return the estimator's precision, or float32 where ``device`` lacks it.

    A model trained with float16 on a GPU predicts in float32 on a CPU.
    """
    try:
        return resolve_precision(precision, device)
    except ValueError:
        return None


def _rebuild_estimator(state: dict[str, Any], tensors: dict[str, torch.Tensor]):
    """Build the estimator and its untrained network, then load the weights."""
    cls = estimator_class(state["method"])
    params = decode(state["params"])
    params.update((name, None) for name in FIT_ONLY_PARAMETERS if name in params)
    estimator = cls(**params)
    check_parameters(estimator)
    for name, value in _fitted_values(state["fitted"], _NOT_VALUES):
        setattr(estimator, name, value)
    for name in state.get("unsaved", []):
        if name in _UNSAVED:
            setattr(estimator, name, None)
    shape = tuple(estimator.input_shape_)
    objective = estimator._make_objective()
    device = _inference_device(str(estimator.device))
    with torch.random.fork_rng(devices=[]):
        # The initial weights are overwritten: leave the caller's generator alone.
        extractor = FeatureExtractor(
            make_backbone(estimator.backbone, shape, dropout=estimator.dropout),
            estimator.feature_layer,
        )
        extractor.eval()
        with torch.no_grad():
            features, _ = extractor(torch.zeros((2, *shape)))
        module = DomainAdaptationModule(
            extractor, objective.extra_modules(features.shape[1])
        )
    module.load_state_dict(tensors, strict=True)
    module.freeze_norm_layers(list(state["frozen_norm_layers"]))
    channels_last = uses_channels_last(estimator)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    inference = clone(estimator).set_params(
        callbacks=None, checkpoint_path=None, verbose=0
    )
    images = np.zeros((2, *shape), np.float32)
    data = TrainingData(images, np.zeros(2, np.int64), None, None, None)
    net = build_net(
        inference,
        objective,
        module,
        data,
        0,
        device,
        precision=_inference_precision(estimator.precision, device),
        channels_last=channels_last,
    )
    net.initialize()
    net.history_ = History(decode(state["history"]))
    estimator.net_ = net
    estimator.history_ = net.history_
    return estimator


def rebuild_model(state: dict[str, Any], tensors: dict[str, torch.Tensor]):
    """Return the estimator or pipeline that :func:`model_state` described."""
    estimator = _rebuild_estimator(state, tensors)
    pipeline = state.get("pipeline")
    if pipeline is None:
        return estimator
    steps = [(entry["name"], _rebuild_step(entry)) for entry in pipeline["steps"]]
    return DomainAdaptationPipeline([*steps, (pipeline["final_step"], estimator)])
