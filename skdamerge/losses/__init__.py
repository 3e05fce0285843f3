"""Domain-adaptation losses of DeepMerge II [1]_ as pure functions on torch tensors.

Every function takes tensors and returns a scalar tensor (or Python floats for the
diagnostics), so the losses can be combined freely in a training step:

- :func:`mmd_loss`: multi-kernel maximum mean discrepancy (transfer loss, eq. 6-7),
- :func:`gradient_reversal`, :class:`GradientReversal`, :func:`grl_coefficient`,
  :func:`domain_adversarial_loss`, :func:`domain_accuracy`: domain-adversarial
  training (eq. 8-9),
- :func:`multilinear_map`, :func:`randomized_multilinear_map`,
  :func:`entropy_conditioning_weights`, :func:`conditional_adversarial_loss`:
  conditional domain-adversarial training (CDAN, Long et al. 2018),
- :func:`mcc_loss`: minimum class confusion (MCC, Jin et al. 2020),
- :func:`fisher_loss`: Fisher trace ratio or difference on source features (eq. 10),
- :func:`entropy_loss`: entropy minimisation on target predictions (eq. 11),
- :func:`information_maximization_loss`, :func:`marginal_entropy`,
  :func:`shot_pseudo_labels`: source hypothesis transfer (SHOT; Liang et al.
  2020),
- :func:`jdot_loss` (DeepJDOT), and :func:`sinkhorn_divergence` with
  :func:`sinkhorn_epsilon` (the debiased Sinkhorn divergence of SIDDA):
  optimal-transport transfer losses computed with POT,
- :func:`coral_loss`: correlation alignment of the feature covariances (Deep
  CORAL),
- :func:`margin_disparity_discrepancy`: margin disparity discrepancy (MDD),
- :func:`total_loss`: the weighted sum of eq. 2.

References
----------
.. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
   Building robust deep learning algorithms for merging galaxy identification
   across domains." MNRAS 506, 677-691.
"""

from ._adversarial import (
    GradientReversal,
    domain_accuracy,
    domain_adversarial_loss,
    gradient_reversal,
    grl_coefficient,
)
from ._cdan import (
    conditional_adversarial_loss,
    entropy_conditioning_weights,
    multilinear_map,
    randomized_multilinear_map,
)
from ._coral import coral_loss
from ._entropy import entropy_loss
from ._fisher import (
    check_fisher_weights,  # noqa: F401  (the estimators' check)
    fisher_loss,
)
from ._mcc import mcc_loss
from ._mdd import margin_disparity_discrepancy
from ._mmd import mmd_loss
from ._ot import jdot_loss, sinkhorn_divergence, sinkhorn_epsilon
from ._shot import information_maximization_loss, marginal_entropy, shot_pseudo_labels
from ._total import total_loss

__all__ = [
    "GradientReversal",
    "conditional_adversarial_loss",
    "coral_loss",
    "domain_accuracy",
    "domain_adversarial_loss",
    "entropy_conditioning_weights",
    "entropy_loss",
    "fisher_loss",
    "gradient_reversal",
    "grl_coefficient",
    "information_maximization_loss",
    "jdot_loss",
    "margin_disparity_discrepancy",
    "marginal_entropy",
    "mcc_loss",
    "mmd_loss",
    "multilinear_map",
    "randomized_multilinear_map",
    "shot_pseudo_labels",
    "sinkhorn_divergence",
    "sinkhorn_epsilon",
    "total_loss",
]
