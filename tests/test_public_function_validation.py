"""Every public function validates its arguments, every transformer its parameters.

The functions of the packages' ``__all__`` are decorated with scikit-learn's
``validate_params``: an argument of the wrong type or out of range raises an
``InvalidParameterError`` (a ValueError and a TypeError) that names the argument
and the function before any work is done. The public transformers and
``DomainAdaptationPipeline`` check their ``_parameter_constraints`` when fitted.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

from skdamerge._param_validation import InvalidParameterError
from skdamerge.pipeline import DomainAdaptationPipeline
from skdamerge.preprocessing import (
    ArcsinhStretch,
    CenterCrop,
    ChannelStandardizer,
    DomainStandardizer,
    LogStretch,
    ResizeImages,
)

PACKAGES = [
    "skdamerge",
    "skdamerge.catalog",
    "skdamerge.metrics",
    "skdamerge.datasets",
    "skdamerge.preprocessing",
    "skdamerge.inspection",
    "skdamerge.pipeline",
    "skdamerge.distributed",
    "skdamerge.calibration",
]


class _Model:
    """Stands for a fitted classifier: has the methods the constraints ask for."""

    def fit(self, X, y=None):
        return self

    def predict(self, X):
        return np.zeros(len(X))

    def predict_proba(self, X):
        return np.full((len(X), 2), 0.5)

    def get_params(self, deep=True):
        return {}


class _Client:
    """Stands for a dask.distributed client."""

    def scatter(self, data, **kwargs):
        return data

    def compute(self, graph):
        return graph


class _FitOnly:
    """Has ``fit`` but no ``predict_proba``: not a usable discriminator."""

    def fit(self, X, y=None):
        return self


A = np.zeros((4, 2))  # any array-like
SCALAR = 3  # not array-like

# For each public function: valid arguments for its required parameters (they
# only have to pass validation: the invalid argument stops the call first), and
# invalid values of every argument.
FUNCTIONS = {
    "skdamerge.save_model": (
        {"path": "model.skdm", "model": _Model()},
        {
            "path": [3, None],
            "model": [_FitOnly()],
            "n_source": [-1, 2.5],
            "n_target": [-1, "5"],
            "bands": ["gri", 3],
            "class_names": ["merger", 3],
        },
    ),
    "skdamerge.load_model": (
        {"path": "model.skdm"},
        {"path": [3, None], "allow_pickle": ["yes", 1]},
    ),
    "skdamerge.read_model_metadata": (
        {"path": "model.skdm"},
        {"path": [3, None], "allow_pickle": ["yes", 1]},
    ),
    "skdamerge.metrics.compare_reports": (
        {"reports": {}},
        {"reports": ["noDA", [("noDA", None)]]},
    ),
    "skdamerge.metrics.deep_embedded_validation": (
        {"losses": A, "weights": A},
        {"losses": [SCALAR, None], "weights": [SCALAR]},
    ),
    "skdamerge.metrics.density_ratio_weights": (
        {"features_source": A, "features_target": A},
        {
            "features_source": [SCALAR],
            "features_target": [None],
            "discriminator": [_FitOnly(), "logistic"],
            "cv": [1, 0, 2.5, "5"],
            "random_state": ["seed", 1.5],
        },
    ),
    "skdamerge.metrics.domain_adaptation_report": (
        {"estimator": _Model(), "X_source": A, "y_source": A},
        {
            "estimator": [_FitOnly()],
            "X_source": [SCALAR],
            "y_source": [None],
            "X_target": [SCALAR],
            "y_target": [SCALAR],
            "pos_label": [[1], {}],
        },
    ),
    "skdamerge.metrics.estimate_merger_fraction": (
        {
            "estimator": _Model(),
            "X_target": A,
            "X_calibration": A,
            "y_calibration": A,
        },
        {
            "estimator": [_FitOnly()],
            "X_target": [SCALAR],
            "X_calibration": [SCALAR],
            "y_calibration": [None],
            "method": ["em"],
            "injection": ["yes"],
            "n_bootstrap": [3, 100.0],
            "pos_label": [[1]],
            "min_separation": [0, 1.5],
            "max_interval_width": [0, -0.1],
            "random_state": ["seed"],
        },
    ),
    "skdamerge.metrics.expected_calibration_error": (
        {"y_true": A, "y_prob": A},
        {
            "y_true": [SCALAR],
            "y_prob": [None],
            "n_bins": [0, 2.5],
            "strategy": ["equal"],
            "pos_label": [[1]],
        },
    ),
    "skdamerge.metrics.information_maximization": (
        {"proba": A},
        {"proba": [SCALAR, None]},
    ),
    "skdamerge.metrics.inject_into_target_sky": (
        {"X_source": A, "X_target": A},
        {
            "X_source": [SCALAR],
            "X_target": [None],
            "detection_threshold": [0, -3.0],
            "dilation": [-1, 1.5],
            "random_state": ["seed"],
            "return_donors": ["yes"],
        },
    ),
    "skdamerge.metrics.make_dev_scorer": (
        {"X_target": A},
        {
            "X_target": [SCALAR],
            "loss": ["hinge"],
            "discriminator": [_FitOnly()],
            "cv": [1, 2.5],
            "random_state": ["seed"],
            "guard_collapse": ["yes", 1],
        },
    ),
    "skdamerge.metrics.make_entropy_scorer": (
        {"X_target": A},
        {"X_target": [SCALAR, None], "guard_collapse": ["yes"]},
    ),
    "skdamerge.metrics.make_im_scorer": (
        {"X_target": A},
        {"X_target": [SCALAR, None], "guard_collapse": ["yes"]},
    ),
    "skdamerge.metrics.make_snd_scorer": (
        {"X_target": A},
        {
            "X_target": [SCALAR],
            "temperature": [0, -0.05, "low"],
            "on": [1, None],
            "guard_collapse": ["yes"],
        },
    ),
    "skdamerge.metrics.make_target_scorer": (
        {"X_target": A, "y_target": A},
        {
            "X_target": [SCALAR],
            "y_target": [None],
            "metric": [3, None],
            "pos_label": [[1]],
        },
    ),
    "skdamerge.metrics.metric_table": (
        {"y_true": A, "p_merger": A},
        {
            "y_true": [SCALAR],
            "p_merger": [None],
            "pos_label": [[1], None],
            "threshold": [1.5, -0.1, "half"],
        },
    ),
    "skdamerge.metrics.normalized_confusion_matrix": (
        {"y_true": A, "y_pred": A},
        {"y_true": [SCALAR], "y_pred": [None], "pos_label": [[1]]},
    ),
    "skdamerge.metrics.prediction_entropy": (
        {"proba": A},
        {"proba": [SCALAR, None]},
    ),
    "skdamerge.metrics.soft_neighborhood_density": (
        {"X": A},
        {"X": [SCALAR], "temperature": [0, -1.0], "chunk_size": [0, 2.5]},
    ),
    "skdamerge.metrics.source_accuracy_scorer": (
        {"estimator": _Model(), "X": A, "y": A},
        {"estimator": [object()], "X": [SCALAR], "y": [None]},
    ),
    "skdamerge.datasets.load_deepmerge": (
        {"path": "data"},
        {
            "path": [3, None],
            "experiment": [2],
            "mmap": ["yes"],
            "return_bunch": ["yes"],
        },
    ),
    "skdamerge.catalog.classify_catalog": (
        {"model": _Model(), "catalog": "objects.csv", "images": ["g.fits"]},
        {
            "model": [_FitOnly()],
            "catalog": [SCALAR],
            "images": [SCALAR],
            "size": [0, 16.0],
            "threshold": [-0.1, 1.5],
            "batch_size": [0, 8.0],
            "bands": [SCALAR],
            "ra_column": [3],
            "dec_column": [3],
            "pixel_scale": [0, -1.0],
            "resample": ["yes"],
        },
    ),
    "skdamerge.catalog.write_catalog": (
        {"table": {"ra": [1.0]}, "path": "objects.csv"},
        {"table": [SCALAR], "path": [3], "overwrite": ["yes"]},
    ),
    "skdamerge.datasets.cutouts_from_catalog": (
        {"catalog": "objects.csv", "images": ["g.fits"]},
        {
            "catalog": [SCALAR],
            "images": [SCALAR],
            "size": [0, 16.0],
            "bands": [SCALAR],
            "ra_column": [3],
            "dec_column": [3],
            "pixel_scale": [0, -1.0],
            "resample": ["yes"],
        },
    ),
    "skdamerge.datasets.load_fits_cube": (
        {"path": "cube.fits"},
        {"path": [3], "hdu": [1.5, None], "dtype": [3]},
    ),
    "skdamerge.datasets.load_fits_images": (
        {"paths_or_dir": "images"},
        {
            "paths_or_dir": [3, None],
            "bands": ["g"],
            "pattern": [3],
            "hdu": [1.5],
            "dtype": [3],
        },
    ),
    "skdamerge.datasets.load_image_folder": (
        {"path": "cutouts"},
        {
            "path": [3],
            "size": [0, 75.0],
            "labels": [3],
            "class_names": ["merger"],
            "extensions": [".png"],
            "file_column": [3],
            "label_column": [3],
        },
    ),
    "skdamerge.datasets.make_galaxy_mergers": (
        {},
        {
            "n_samples": [0, 2.5, "10"],
            "experiment": ["sim2obs"],
            "image_size": [8, 75.0],
            "merger_fraction": [1.5, -0.1, "half"],
            "limiting_surface_brightness": [np.nan, 50.0],
            "random_state": ["seed"],
            "return_bunch": ["yes"],
        },
    ),
    "skdamerge.datasets.train_valid_test_split": (
        {"X_source": A, "y_source": A, "X_target": A},
        {
            "X_source": [SCALAR],
            "y_source": [None],
            "X_target": [SCALAR],
            "y_target": [SCALAR],
            "sizes": [0.7],
            "stratify": ["yes"],
            "paired": ["yes", None],
            "groups_source": [SCALAR],
            "groups_target": [SCALAR],
            "random_state": ["seed"],
        },
    ),
    "skdamerge.preprocessing.balance_classes": (
        {"X": A, "y": A},
        {
            "X": [SCALAR],
            "y": [None],
            "random_state": ["seed"],
            "rotation": ["yes"],
            "zoom": ["yes", 1.1],
            "fill_mode": ["bogus"],
            "return_indices": ["yes"],
        },
    ),
    "skdamerge.preprocessing.pixel_units_differ": (
        {"X_source": A, "X_target": A},
        {"X_source": [SCALAR], "X_target": [None], "factor": [1.0, "3"]},
    ),
    "skdamerge.inspection.binary_metrics": (
        {"y_true": A, "y_score": A},
        {
            "y_true": [SCALAR],
            "y_score": [None],
            "pos_label": [[1]],
            "threshold": [2.0],
        },
    ),
    "skdamerge.inspection.class_color": (
        {"is_merger": True},
        {"is_merger": ["yes", 1]},
    ),
    "skdamerge.inspection.grad_cam": (
        {"module_or_estimator": _Model(), "X": A},
        {
            "module_or_estimator": [object()],
            "X": [SCALAR],
            "target_class": [[1]],
            "layer": [3],
            "batch_size": [0, 64.0],
            "normalize": ["yes"],
        },
    ),
    "skdamerge.inspection.initial_features": (
        {"estimator": _Model(), "X": A},
        {"estimator": [_FitOnly()], "X": [SCALAR]},
    ),
    "skdamerge.inspection.method_color": (
        {"name": "MMD"},
        {"name": [3, None], "index": [-1, 1.5]},
    ),
    "skdamerge.pipeline.make_da_pipeline": (
        {},
        {"verbose": ["yes"]},
    ),
    "skdamerge.distributed.init_from_torchrun": ({}, {"backend": ["mpi", 3]}),
    "skdamerge.distributed.predict_proba_dask": (
        {"estimator": _Model(), "X": A},
        {
            "estimator": [_FitOnly()],
            "client": [object()],
            "torch_threads": [0, 1.5],
        },
    ),
    "skdamerge.distributed.predict_zarr": (
        {"estimator": _Model(), "source": "images.zarr", "destination": "p.zarr"},
        {
            "estimator": [_FitOnly()],
            "source": [SCALAR],
            "destination": [3],
            "client": [object()],
            "chunk_size": [0, 2.5],
            "torch_threads": [0],
            "overwrite": ["yes"],
        },
    ),
    "skdamerge.calibration.temperature_scaling": (
        {"estimator": _Model(), "X": A, "y": A},
        {"estimator": [_FitOnly()], "X": [SCALAR], "y": [None]},
    ),
    "skdamerge.calibration.fitted_temperature": (
        {"calibrated": None},
        {"calibrated": [_Model()]},
    ),
}

# Arguments that validate_params does not check, and why.
NOT_VALIDATED = {
    # dask is optional and imported on call; the function itself requires a dask
    # array (TypeError naming X and how to wrap other data).
    ("skdamerge.distributed.predict_proba_dask", "X"),
}


def _function(path):
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _public_functions():
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{package}.{name}", obj


def _arguments(function):
    return [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


FUNCTION_CASES = [
    pytest.param(path, argument, value, id=f"{path.rsplit('.', 1)[1]}-{argument}-{i}")
    for path, (_, invalid) in FUNCTIONS.items()
    for argument, values in invalid.items()
    for i, value in enumerate(values)
]


@pytest.mark.parametrize(("path", "argument", "value"), FUNCTION_CASES)
def test_invalid_argument_is_named(path, argument, value):
    function = _function(path)
    valid, _ = FUNCTIONS[path]
    kwargs = {**valid, argument: value}
    message = rf"The '{argument}' parameter of {function.__name__} must be"
    with pytest.raises(InvalidParameterError, match=message):
        function(**kwargs)


@pytest.mark.parametrize(
    ("path", "function"),
    [pytest.param(path, f, id=path) for path, f in _public_functions()],
)
def test_every_public_function_validates_every_argument(path, function):
    assert path in FUNCTIONS, f"{path}: add it, with invalid values, to FUNCTIONS"
    assert hasattr(function, "__wrapped__"), f"{path} is not decorated"
    _, invalid = FUNCTIONS[path]
    expected = {a for a in _arguments(function) if (path, a) not in NOT_VALIDATED}
    assert set(invalid) == expected
    # an argument of an absurd type is rejected before the function runs
    bogus = {name: object() for name in _arguments(function)}
    message = f"parameter of {function.__name__} must be"
    with pytest.raises(InvalidParameterError, match=message):
        function(**bogus)


def test_every_listed_function_is_public():
    paths = {path for path, _ in _public_functions()}
    assert set(FUNCTIONS) == paths  # no stale entry either


# ---------------------------------------------------------------------------
# The from_* constructors of the inspection displays
# ---------------------------------------------------------------------------


class _Axes:
    """Stands for a matplotlib Axes."""

    def plot(self, *args, **kwargs):
        return []


METHODS = {
    "DomainRocDisplay.from_predictions": (
        {"y_source": A, "scores_source": {}},
        {
            "y_source": [SCALAR],
            "scores_source": [A, None],
            "y_target": [SCALAR],
            "scores_target": [A],
            "pos_label": [[1]],
            "ax": [3],
        },
    ),
    "DomainRocDisplay.from_estimators": (
        {"estimators": {}, "X_source": A, "y_source": A},
        {
            "estimators": [_Model(), None],
            "X_source": [None],
            "y_source": [SCALAR],
            "X_target": [SCALAR],
            "y_target": [SCALAR],
            "ax": ["left"],
        },
    ),
    "GradCAMDisplay.from_estimator": (
        {"estimator": _Model(), "X": A},
        {
            "estimator": [object()],
            "X": [SCALAR],
            "target_class": [[1]],
            "layer": [3],
            "stretch": ["sqrt"],
            "channel": [-1, 1.5],
            "ax": [3],
        },
    ),
    "LatentSpaceDisplay.from_features": (
        {"features_source": A},
        {
            "features_source": [SCALAR, None],
            "features_target": [SCALAR],
            "y_source": [SCALAR],
            "y_target": [SCALAR],
            "pos_label": [[1]],
            "method": ["umap"],
            "random_state": ["seed"],
            "perplexity": [0, -5.0],
            "embedding_kwargs": [[("n_iter", 250)]],
            "class_names": ["merger"],
            "ax": [3],
        },
    ),
    "LatentSpaceDisplay.from_estimator": (
        {"estimator": _Model(), "X_source": A},
        {
            "estimator": [object()],
            "X_source": [None],
            "X_target": [SCALAR],
            "y_source": [SCALAR],
            "y_target": [SCALAR],
            "method": ["umap"],
            "random_state": ["seed"],
            "perplexity": [0],
            "embedding_kwargs": ["perplexity=5"],
            "ax": [3],
        },
    ),
    "MetricBarsDisplay.from_metrics": (
        {"source_metrics": {}},
        {
            "source_metrics": [A],
            "target_metrics": [[("noDA", {})]],
            "metrics": ["f1"],
            "ax": [3],
        },
    ),
    "ScoreHistogramDisplay.from_predictions": (
        {"y_source": A, "y_score_source": A},
        {
            "y_source": [SCALAR],
            "y_score_source": [None],
            "y_target": [SCALAR],
            "y_score_target": [SCALAR],
            "pos_label": [[1]],
            "bins": [0, 20.0],
            "name": [3],
            "class_names": ["merger"],
            "ax": [3],
        },
    ),
    "ScoreHistogramDisplay.from_estimator": (
        {"estimator": _Model(), "X_source": A, "y_source": A},
        {
            "estimator": [_FitOnly()],
            "X_source": [SCALAR],
            "y_source": [None],
            "X_target": [SCALAR],
            "y_target": [SCALAR],
            "bins": [0],
            "name": [3],
            "ax": [3],
        },
    ),
    "TrainingHistoryDisplay.from_history": (
        {"history": []},
        {
            "history": [None, 3],
            "best_epoch": [2.5, "last"],
            "show_disabled": ["yes"],
            "ax": [3],
        },
    ),
    "TrainingHistoryDisplay.from_estimator": (
        {"estimator": _Model()},
        {"estimator": [object()], "show_disabled": ["yes"], "ax": [3]},
    ),
}

# Constructors left to their own checks, and why.
METHODS_NOT_VALIDATED = {
    # Its test passes None placeholders for the data and expects the check of the
    # estimators (a mapping of fitted models) to speak first.
    "MetricBarsDisplay.from_estimators",
}


def _method(qualname):
    cls_name, name = qualname.split(".")
    cls = getattr(importlib.import_module("skdamerge.inspection"), cls_name)
    return getattr(cls, name)


def _display_constructors():
    module = importlib.import_module("skdamerge.inspection")
    for name in module.__all__:
        cls = getattr(module, name)
        if inspect.isclass(cls):
            for attr in sorted(vars(cls)):
                if attr.startswith("from_"):
                    yield f"{cls.__name__}.{attr}"


METHOD_CASES = [
    pytest.param(qualname, argument, value, id=f"{qualname}-{argument}-{i}")
    for qualname, (_, invalid) in METHODS.items()
    for argument, values in invalid.items()
    for i, value in enumerate(values)
]


@pytest.mark.parametrize(("qualname", "argument", "value"), METHOD_CASES)
def test_invalid_display_argument_is_named(qualname, argument, value):
    valid, _ = METHODS[qualname]
    message = rf"The '{argument}' parameter of {qualname} must be"
    with pytest.raises(InvalidParameterError, match=message):
        _method(qualname)(**{**valid, argument: value})


@pytest.mark.parametrize("qualname", list(_display_constructors()))
def test_every_display_constructor_validates_every_argument(qualname):
    if qualname in METHODS_NOT_VALIDATED:
        assert qualname not in METHODS
        return
    assert qualname in METHODS, f"{qualname}: add it, with invalid values"
    method = _method(qualname)
    expected = set(_arguments(method))
    assert set(METHODS[qualname][1]) == expected
    bogus = {name: object() for name in expected}
    with pytest.raises(InvalidParameterError, match=f"parameter of {qualname}"):
        method(**bogus)


def test_every_listed_display_constructor_exists():
    assert set(METHODS) | METHODS_NOT_VALIDATED == set(_display_constructors())


# ---------------------------------------------------------------------------
# Transformers and the pipeline: _parameter_constraints checked at fit
# ---------------------------------------------------------------------------

IMAGES = np.random.default_rng(0).normal(size=(4, 3, 8, 8)).astype(np.float32)

CLASSES = {
    ArcsinhStretch: ({}, {"scale": [0.0, -1.0, "sigma"], "per_channel": ["yes"]}),
    LogStretch: ({}, {"scale": [0, "median"], "per_channel": [1]}),
    ChannelStandardizer: ({}, {}),
    DomainStandardizer: ({}, {"robust": ["yes", 1]}),
    ResizeImages: ({}, {"size": [0, 4.5, "big"], "antialias": ["yes"]}),
    CenterCrop: ({"size": 4}, {"size": [0, -2, 4.0]}),
    DomainAdaptationPipeline: (
        {"steps": [("scale", ChannelStandardizer())]},
        {
            "steps": ["scale", None],
            "transform_input": ["X_target"],
            "memory": [3],
            "verbose": ["yes"],
        },
    ),
}

CLASS_CASES = [
    pytest.param(cls, name, value, id=f"{cls.__name__}-{name}-{i}")
    for cls, (_, invalid) in CLASSES.items()
    for name, values in invalid.items()
    for i, value in enumerate(values)
]


def _init_parameters(cls):
    return [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def test_every_public_transformer_is_listed():
    module = importlib.import_module("skdamerge.preprocessing")
    classes = {getattr(module, n) for n in module.__all__}
    classes = {c for c in classes if inspect.isclass(c)}
    assert classes | {DomainAdaptationPipeline} == set(CLASSES)


@pytest.mark.parametrize("cls", list(CLASSES), ids=lambda c: c.__name__)
def test_constraints_cover_every_init_parameter(cls):
    parameters = set(_init_parameters(cls))
    assert set(cls._parameter_constraints) == parameters
    assert set(CLASSES[cls][1]) == parameters


@pytest.mark.parametrize(("cls", "name", "value"), CLASS_CASES)
def test_invalid_parameter_is_rejected_at_fit(cls, name, value):
    required, _ = CLASSES[cls]
    estimator = cls(**{**required, name: value})  # __init__ only stores it
    message = rf"The '{name}' parameter of {cls.__name__} must be"
    with pytest.raises(InvalidParameterError, match=message):
        estimator.fit(IMAGES)


TARGET_CASES = [
    case
    for case in CLASS_CASES
    if "X_target" in inspect.signature(case.values[0].fit).parameters
]


@pytest.mark.parametrize(("cls", "name", "value"), TARGET_CASES)
def test_invalid_parameter_is_rejected_at_fit_with_a_target(cls, name, value):
    required, _ = CLASSES[cls]
    estimator = cls(**{**required, name: value})
    message = rf"The '{name}' parameter of {cls.__name__} must be"
    with pytest.raises(InvalidParameterError, match=message):
        estimator.fit(IMAGES, X_target=IMAGES)


@pytest.mark.parametrize("cls", list(CLASSES), ids=lambda c: c.__name__)
def test_default_parameters_fit(cls):
    required, _ = CLASSES[cls]
    fitted = cls(**required).fit(IMAGES)
    assert fitted.transform(IMAGES).shape[0] == len(IMAGES)


@pytest.mark.parametrize("size", [(4, 6), [6, 4]])
def test_size_pair_is_valid_and_a_bad_pair_is_rejected_at_fit(size):
    assert CenterCrop(size).fit(IMAGES).transform(IMAGES).shape[2:] == tuple(size)
    with pytest.raises(ValueError, match="size must be a positive integer or a pair"):
        CenterCrop((4, 0)).fit(IMAGES)
