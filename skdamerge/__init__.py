"""skdamerge: domain adaptation for galaxy-merger classification.

Scikit-learn estimators for the unsupervised domain adaptation methods of
DeepMerge II [1]_: a maximum mean discrepancy (MMD) transfer loss, domain-adversarial
training (DANN), Fisher loss and entropy minimisation, on the DeepMerge CNN and
ResNet18 backbones.

References
----------
.. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
   Building robust deep learning algorithms for merging galaxy identification
   across domains." MNRAS 506, 677-691.
"""

__version__ = "0.1.0.dev0"

from ._estimators import (
    CDANClassifier,
    DANNClassifier,
    DeepCORALClassifier,
    DeepJDOTClassifier,
    MCCClassifier,
    MDDClassifier,
    MMDClassifier,
    SHOTClassifier,
    SinkhornClassifier,
    SourceOnlyClassifier,
)
from ._target import TargetDomain
from .model_files import load_model, read_model_metadata, save_model

__all__ = [
    "CDANClassifier",
    "DANNClassifier",
    "DeepCORALClassifier",
    "DeepJDOTClassifier",
    "MCCClassifier",
    "MDDClassifier",
    "MMDClassifier",
    "SHOTClassifier",
    "SinkhornClassifier",
    "SourceOnlyClassifier",
    "TargetDomain",
    "__version__",
    "load_model",
    "read_model_metadata",
    "save_model",
]
