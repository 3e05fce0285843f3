"""The training objectives, one module per method, and their registry.

Importing this package registers every built-in method.
"""

from ._adaptation import AdaptationObjective, DomainBatch
from ._base import Objective, float32_losses
from ._registry import (
    estimator_class,
    method_names,
    objective_class,
    register_estimator,
    register_objective,
    unregister_method,
)

# Registration order is the order of the paper's tables: noDA, MMD, adversarial.
# isort: split
from .source_only import SourceOnlyObjective

# isort: split
from .mmd import MMDObjective

# isort: split
from .adversarial import AdversarialObjective

# isort: split
from .cdan import CDANObjective

# isort: split
from .mcc import MCCObjective

# isort: split
from .shot import SHOTObjective

# isort: split
from .deepjdot import DeepJDOTObjective

# isort: split
from .sinkhorn import SinkhornObjective

# isort: split
from .coral import CORALObjective

# isort: split
from .mdd import MDDObjective

__all__ = [
    "AdaptationObjective",
    "AdversarialObjective",
    "CDANObjective",
    "CORALObjective",
    "DeepJDOTObjective",
    "DomainBatch",
    "MCCObjective",
    "MDDObjective",
    "MMDObjective",
    "Objective",
    "SHOTObjective",
    "SinkhornObjective",
    "SourceOnlyObjective",
    "estimator_class",
    "float32_losses",
    "method_names",
    "objective_class",
    "register_estimator",
    "register_objective",
    "unregister_method",
]
