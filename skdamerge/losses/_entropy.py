"""Entropy minimisation on target predictions, DeepMerge II [1]_ eq. 11.

References
----------
.. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
   Building robust deep learning algorithms for merging galaxy identification
   across domains." MNRAS 506, 677-691.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["entropy_loss"]


def entropy_loss(logits: Tensor) -> Tensor:
    r"""Mean Shannon entropy of the predicted class probabilities (paper eq. 11).

    .. math:: \mathcal{L}_{EM} = -\frac{1}{n}\sum_{j=1}^{n}\sum_{m=1}^{M}
              p_{jm}\log p_{jm}, \qquad p_j = \operatorname{softmax}(z_j),

    in nats (natural logarithm). The paper sums over samples; the mean is used here
    so that the weight of the term does not depend on the batch size. The
    log-probabilities come from ``log_softmax``, so the value and its gradient stay
    finite for saturated predictions (probabilities of exactly 0 or 1). Minimising
    it on target predictions pushes target samples away from the decision boundary
    [1]_ [2]_.

    Parameters
    ----------
    logits : Tensor of shape (n, n_classes)
        Unnormalised class scores (no softmax applied).

    Returns
    -------
    loss : Tensor
        Scalar tensor, between 0 and ``log(n_classes)``.

    References
    ----------
    .. [1] Grandvalet, Y., & Bengio, Y. (2005). "Semi-supervised learning by
       entropy minimization." NeurIPS 17, 529-536.
    .. [2] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.
    """
    if logits.ndim != 2:
        raise ValueError(
            f"logits must have shape (n, n_classes), got {tuple(logits.shape)}."
        )
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()
