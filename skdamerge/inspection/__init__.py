"""Figures to inspect domain-adaptation models, as scikit-learn Display objects.

Each display is built with ``Display.from_estimator(...)`` (or
``from_estimators``/``from_predictions``/``from_metrics``) and drawn with
``plot(ax=None, ...)``; it keeps the matplotlib objects in ``ax_``, ``figure_`` and
its artists, like :class:`sklearn.metrics.RocCurveDisplay`. The figures are those
of DeepMerge II [1]_:

- :class:`LatentSpaceDisplay`: t-SNE or PCA of the latent features of both domains
  (Figure 5), also for an unfitted estimator (the state before training);
- :class:`GradCAMDisplay` and :func:`grad_cam`: Grad-CAM maps on the last
  convolutional layer (Figures 6 and 7, eqs. 12-13);
- :class:`ScoreHistogramDisplay`: output scores per class and domain (Figure B1);
- :class:`MetricBarsDisplay` and :class:`DomainRocDisplay`: metrics and ROC curves
  of several models on both domains (Figure 3);
- :class:`TrainingHistoryDisplay`: loss components, domain-classifier accuracy,
  learning rate and validation metrics per epoch.

Colours are shared by all figures (mergers red, non-mergers blue; source
transparent or dashed, target opaque or solid; one colour per method as in the
paper), see :func:`method_color` and :func:`class_color`.

References
----------
.. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II: Building robust deep learning
   algorithms for merging galaxy identification across domains." MNRAS 506,
   677-691.
"""

from ._colors import class_color, method_color
from ._gradcam import GradCAMDisplay, grad_cam
from ._histogram import ScoreHistogramDisplay
from ._history import TrainingHistoryDisplay
from ._latent import LatentSpaceDisplay, initial_features
from ._metric_bars import METRICS, MetricBarsDisplay, binary_metrics
from ._roc import DomainRocDisplay

__all__ = [
    "METRICS",
    "DomainRocDisplay",
    "GradCAMDisplay",
    "LatentSpaceDisplay",
    "MetricBarsDisplay",
    "ScoreHistogramDisplay",
    "TrainingHistoryDisplay",
    "binary_metrics",
    "class_color",
    "grad_cam",
    "initial_features",
    "method_color",
]
