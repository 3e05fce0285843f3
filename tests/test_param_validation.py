"""Every hyperparameter of every estimator is validated at fit entry."""

import inspect
import os

import numpy as np
import pytest
import torch

from skdamerge._engine.objectives import estimator_class, method_names
from skdamerge._param_validation import InvalidParameterError, check_parameters

# Invalid values of each constructor parameter; every parameter of every
# registered estimator must appear here (test_every_parameter_has_invalid_values).
INVALID = {
    "backbone": ["vgg", 3],
    "feature_layer": [3],
    "dropout": [-0.1, 1.0, "high"],
    "max_epochs": [0, -1, 2.5],
    "batch_size": [0, -3, 1, 64.0],
    "lr": [0, -1e-3, "fast"],
    "betas": [0.9, (0.9,), (0.9, 1.0), (-0.1, 0.8), (0.9, 0.99, 0.1)],
    "eps": [0, -1e-8],
    "weight_decay": [-1e-4],
    "cycle_length": [-1, "long"],
    "patience": [-1, 2.5],
    "validation_fraction": [1.0, 1.5, -0.1],
    "augment": ["yes", 2],
    "init_weights": [3, object()],
    "freeze_features": ["yes", 2],
    "checkpoint_path": [3],
    "resume_from": [3],
    "callbacks": ["print", ("a", object())],
    "random_state": ["seed", 1.5],
    "device": ["gpu", "cuda:x", 0.5],
    "precision": ["fp8", "half"],
    "data_parallel": ["yes", 2],
    "verbose": [-1, "loud"],
    "transfer_weight": [-1.0, "strong"],
    "fisher_intra_weight": [-0.01],
    "fisher_inter_weight": [-1.0],
    "fisher_kind": ["trace"],
    "entropy_weight": [-0.05],
    "mmd_kernels": [0, 2.5],
    "mmd_kernel_mul": [0.5, 0],
    "domain_lr_multiplier": [-0.01],
    "grl_schedule": ["linear"],
    "entropy_conditioning": ["yes", 2],
    "randomized": ["always", 2],
    "randomized_dim": [0, 2.5],
    "mcc_temperature": [0, -1.0, "warm"],
    "mcc_trains_head": ["yes", 2],
    "coral_mean_weight": [-1.0, "high"],
    "source_model": [3, object()],
    "shot_beta": [-0.3, "high"],
    "label_smoothing": [-0.1, 1.0],
    "diversity_weight": [-1.0],
    "target_lr_multiplier": [0.0, -0.1],
    "target_epochs": [0, 2.5],
    "jdot_alpha": [-0.001, "small"],
    "jdot_lambda": [-1e-4],
    "sinkhorn_blur": [0, -0.05],
    "sinkhorn_epsilon": [0, -1.0, "auto"],
    "sinkhorn_max_iter": [0, 2.5],
    "sinkhorn_normalize": ["yes", 2],
    "dynamic_weights": ["yes", 2],
    "mdd_margin": [0, -1.0],
    "mdd_hidden": [0, 2.5],
    "auxiliary_lr_multiplier": [-0.1],
    "grl_max_coefficient": [-0.1],
}


def _parameters(estimator_cls):
    return [
        name
        for name in inspect.signature(estimator_cls.__init__).parameters
        if name != "self"
    ]


ESTIMATORS = [estimator_class(name) for name in method_names()]
CASES = [
    # Ids by position: reprs such as object() differ between test workers.
    pytest.param(cls, name, value, id=f"{cls.__name__}-{name}-{index}")
    for cls in ESTIMATORS
    for name in _parameters(cls)
    for index, value in enumerate(INVALID.get(name, []))
]


def test_every_parameter_has_invalid_values_and_a_constraint():
    covered = 0
    for cls in ESTIMATORS:
        for name in _parameters(cls):
            assert name in INVALID, f"{cls.__name__}.{name}: add invalid values"
            assert name in cls._parameter_constraints, f"{cls.__name__}.{name}"
            covered += 1
        assert set(cls._parameter_constraints) == set(_parameters(cls))
    # source-only 22, MMD 29, DANN 29 (at the time of writing; grows with methods)
    assert covered >= 80


@pytest.mark.parametrize("estimator_cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_defaults_are_valid(estimator_cls):
    check_parameters(estimator_cls())


@pytest.mark.parametrize(("estimator_cls", "name", "value"), CASES)
def test_invalid_value_is_rejected_at_fit_entry(estimator_cls, name, value):
    estimator = estimator_cls(**{name: value})
    # X and y are not even arrays: the parameter is checked before any data work,
    # so the error names the parameter, not the data.
    with pytest.raises(
        ValueError, match=f"'{name}' parameter of {estimator_cls.__name__}"
    ):
        estimator.fit(None, None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("backbone", torch.nn.Linear(3, 2)),
        ("dropout", 0.0),
        ("dropout", None),
        ("batch_size", 2),
        ("betas", [0.5, 0.9]),
        ("cycle_length", None),
        ("cycle_length", 0),
        ("patience", None),
        ("validation_fraction", 0),
        ("validation_fraction", None),
        ("init_weights", "weights.pt"),
        ("checkpoint_path", os.path.join("a", "b.ckpt")),
        ("random_state", np.random.RandomState(0)),
        ("device", "cuda:1"),
        ("device", torch.device("cpu")),
        ("precision", "amp"),
        ("data_parallel", True),
        ("verbose", True),
    ],
)
def test_valid_values_pass(name, value):
    for cls in ESTIMATORS:
        check_parameters(cls(**{name: value}))


def test_invalid_parameter_error_names_the_parameter_and_is_a_value_error():
    # scikit-learn's validation lives in a private module imported in one place;
    # this fails loudly if its interface changes.
    assert issubclass(InvalidParameterError, ValueError)
    estimator = ESTIMATORS[0](batch_size=0)
    with pytest.raises(InvalidParameterError) as error:
        check_parameters(estimator)
    message = str(error.value)
    assert "'batch_size' parameter" in message
    assert "[2, inf)" in message and "Got 0" in message
