"""The scikit-learn estimators: the shared base and one thin module per method.

A method's estimator holds only its constructor (readable hyperparameters), its
docstring and references; everything it trains comes from its objective in
:mod:`skdamerge._engine.objectives`.
"""

from ._base import DomainAdaptationClassifier
from .cdan import CDANClassifier
from .coral import DeepCORALClassifier
from .dann import DANNClassifier
from .deepjdot import DeepJDOTClassifier
from .mcc import MCCClassifier
from .mdd import MDDClassifier
from .mmd import MMDClassifier
from .shot import SHOTClassifier
from .sinkhorn import SinkhornClassifier
from .source_only import SourceOnlyClassifier

__all__ = [
    "CDANClassifier",
    "DANNClassifier",
    "DeepCORALClassifier",
    "DeepJDOTClassifier",
    "DomainAdaptationClassifier",
    "MCCClassifier",
    "MDDClassifier",
    "MMDClassifier",
    "SHOTClassifier",
    "SinkhornClassifier",
    "SourceOnlyClassifier",
]
