"""scikit-learn's parameter validation, imported in this one place.

scikit-learn validates hyperparameters against each estimator's
``_parameter_constraints`` (``Interval``, ``StrOptions``, types, ...) and the
arguments of public functions with ``validate_params``. These live in the private
module ``sklearn.utils._param_validation``: nothing public exports them. They are
imported here only, and ``tests/test_param_validation.py`` fails loudly if
scikit-learn changes them.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import (  # the one private import
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)

__all__ = [
    "LABEL",
    "HasMethods",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "check_parameters",
    "validate_params",
]

#: Constraints of a class label such as ``pos_label``: a number (NumPy integers
#: and floats included), a string or a boolean; whether the label occurs in the
#: data is checked by the function itself.
LABEL: list = [Real, str, np.bool_]


def check_parameters(estimator: Any) -> None:
    """Validate an estimator's parameters against its ``_parameter_constraints``.

    Raises
    ------
    InvalidParameterError
        A subclass of ValueError (and TypeError) whose message names the
        parameter, its value and the accepted values.
    """
    validate_parameter_constraints(
        estimator._parameter_constraints,
        estimator.get_params(deep=False),
        caller_name=type(estimator).__name__,
    )
