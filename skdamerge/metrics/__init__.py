"""Evaluation of domain-adaptation classifiers: the paper's metric table and scorers.

Three kinds of tools live here.

**The DeepMerge II metric table** (paper [1]_ Sect. 6, Tables 1, B1): AUC, accuracy,
precision, recall, F1 and Brier score of the merger class on the source and target
test sets, and the normalised confusion matrices; the table adds the expected
calibration error (:func:`expected_calibration_error`) of the merger probability.

- :func:`metric_table` computes the seven metrics from labels and merger
  probabilities; :func:`normalized_confusion_matrix` the Table B1 matrix.
- :func:`domain_adaptation_report` evaluates a fitted estimator on both domains and
  returns a :class:`DomainAdaptationReport`, printable as a table and convertible
  to a dict, Markdown and CSV.
- :func:`compare_reports` puts several reports side by side (no DA / MMD / DANN),
  one column group per method, as a :class:`ReportComparison`.

**Scorers for model selection** (``scoring=`` of
:class:`~sklearn.model_selection.GridSearchCV`,
:func:`~sklearn.model_selection.cross_validate`, ...). A scorer is called as
``scorer(estimator, X, y)`` with the fitted estimator and the held-out *source*
fold; greater is better. Scikit-learn never hands the target domain to a scorer,
so the scorers that need it are built by factories that keep the target data:
``make_*_scorer(X_target, ...)``. Pass the same ``X_target`` to the search's
``fit`` (``search.fit(X, y, X_target=X_target)``) so that every candidate adapts
to, and is judged on, the same target set.

- :func:`make_target_scorer`: a supervised metric on a labelled target set
  (benchmarks only: in a real application the target labels are unknown).
- :func:`make_entropy_scorer`: negative mean entropy of the target predictions.
- :func:`make_im_scorer`: information maximisation, the mutual information between
  target samples and predicted classes (confident *and* diverse predictions).
- :func:`make_snd_scorer`: soft neighbourhood density of the target outputs
  (Saito et al. 2021 [2]_).
- :func:`make_dev_scorer`: deep embedded validation, an importance-weighted source
  validation risk (You et al. 2019 [3]_), negated.
- :func:`source_accuracy_scorer`: accuracy on the source fold itself.

The pure functions behind the scorers, :func:`prediction_entropy`,
:func:`information_maximization`, :func:`soft_neighborhood_density`,
:func:`density_ratio_weights` and :func:`deep_embedded_validation`, work on arrays.

No unsupervised criterion is safe on its own. Entropy and soft neighbourhood density
reward confident, tightly clustered target outputs, so a model that puts the whole
target domain into one class with certainty would score best of all, and a
source-only network on a strongly shifted target often does just that [4]_.
Information maximisation scores such a collapse near 0 but assumes roughly balanced
classes; deep embedded validation is anchored to the source labels but is noisy when
the two domains are easy to tell apart.

**How the label-free scorers guard themselves against a collapse.** The entropy, IM,
SND and DEV scorers first check ``predict_proba(X_target)`` with the criterion that
the training engine uses for its collapse guard (fewer than 2% of the target images
predicted in one class, :mod:`skdamerge.metrics._collapse`). A collapsed model gets
a score below the scorer's range, so that a search never selects it while a healthy
candidate exists:

- entropy scorer: ``-log(n_classes) - 1`` (range ``[-log(n_classes), 0]``);
- IM scorer: -1 (range ``[0, log(n_classes)]``);
- SND scorer: -1 (range ``[0, log(n_target - 1)]``);
- DEV scorer: :data:`DEV_COLLAPSE_SCORE` = -1e6 (the DEV risk has no bound).

The values are finite, so :class:`~sklearn.model_selection.GridSearchCV` averages
and ranks them without warnings; ``guard_collapse=False`` switches the guard off.
A model that is wrong on the target without collapsing is not caught: read the
scores together, and with the predicted merger fraction on the target (in
:class:`DomainAdaptationReport`).

**The merger fraction of a survey.** The plain count of ``predict`` on a shifted
target is biased. :func:`estimate_merger_fraction` corrects it (adjusted
classify-and-count, ACC / PACC [5]_) with the classifier's error rates measured on
labelled source galaxies injected into the target's own sky
(:func:`inject_into_target_sky`), gives a bootstrap uncertainty, and returns a
:class:`MergerFractionEstimate` that says when it cannot be trusted.

References
----------
.. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
   Building robust deep learning algorithms for merging galaxy identification
   across domains." MNRAS 506, 677-691.
.. [2] Saito, K., Kim, D., Teterwak, P., Sclaroff, S., Darrell, T., Saenko, K.
   (2021). "Tune it the right way: Unsupervised validation of domain adaptation
   via soft neighborhood density." ICCV, 9184-9193.
.. [3] You, K., Wang, X., Long, M., Jordan, M. I. (2019). "Towards accurate model
   selection in deep unsupervised domain adaptation." ICML, PMLR 97, 7124-7133.
.. [4] Musgrave, K., Belongie, S., Lim, S.-N. (2022). "Benchmarking validation
   methods for unsupervised domain adaptation." arXiv:2208.07360.
.. [5] Forman, G. (2008). "Quantifying counts and costs via classification."
   Data Mining and Knowledge Discovery 17, 164-206.
"""

from ._calibration import expected_calibration_error
from ._injection import inject_into_target_sky
from ._label_free_scorers import (
    DEV_COLLAPSE_SCORE,
    make_dev_scorer,
    make_entropy_scorer,
    make_im_scorer,
    make_snd_scorer,
)
from ._merger_fraction import estimate_merger_fraction
from ._merger_fraction_estimate import MergerFractionEstimate
from ._report import (
    DomainAdaptationReport,
    ReportComparison,
    compare_reports,
    domain_adaptation_report,
)
from ._supervised_scorers import make_target_scorer, source_accuracy_scorer
from ._table import METRIC_LABELS, metric_table, normalized_confusion_matrix
from ._unsupervised import (
    deep_embedded_validation,
    density_ratio_weights,
    information_maximization,
    prediction_entropy,
    soft_neighborhood_density,
)

__all__ = [
    "DEV_COLLAPSE_SCORE",
    "METRIC_LABELS",
    "DomainAdaptationReport",
    "MergerFractionEstimate",
    "ReportComparison",
    "compare_reports",
    "deep_embedded_validation",
    "density_ratio_weights",
    "domain_adaptation_report",
    "estimate_merger_fraction",
    "expected_calibration_error",
    "information_maximization",
    "inject_into_target_sky",
    "make_dev_scorer",
    "make_entropy_scorer",
    "make_im_scorer",
    "make_snd_scorer",
    "make_target_scorer",
    "metric_table",
    "normalized_confusion_matrix",
    "prediction_entropy",
    "soft_neighborhood_density",
    "source_accuracy_scorer",
]
