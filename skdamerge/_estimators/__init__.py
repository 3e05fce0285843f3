"""The scikit-learn estimators: the shared base and one thin module per method.

A method's estimator holds only its constructor (readable hyperparameters), its
docstring and references; everything it trains comes from its objective in
:mod:`skdamerge._engine.objectives`.
"""

from ._base import DomainAdaptationClassifier
from .coral import DeepCORALClassifier
from .dann import DANNClassifier
from .mdd import MDDClassifier
from .mmd import MMDClassifier
from .source_only import SourceOnlyClassifier

__all__ = [
    "DANNClassifier",
    "DeepCORALClassifier",
    "DomainAdaptationClassifier",
    "MDDClassifier",
    "MMDClassifier",
    "SourceOnlyClassifier",
]
