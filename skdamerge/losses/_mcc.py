"""Minimum class confusion, MCC [1]_.

References
----------
.. [1] Jin, Y., Wang, X., Long, M., Wang, J. (2020). "Minimum class confusion for
   versatile domain adaptation." ECCV, LNCS 12366, 464-480.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["mcc_loss"]


def mcc_loss(logits: Tensor, temperature: float = 2.5) -> Tensor:
    r"""Minimum class confusion of a batch of (target) predictions.

    With the temperature-scaled probabilities :math:`\hat Y = \operatorname{softmax}
    (z / T)` of the ``n`` samples and their entropies :math:`H_i`, the samples are
    weighted by

    .. math:: w_i = n\,\frac{1 + e^{-H_i}}{\sum_{i'} (1 + e^{-H_{i'}})},

    the class correlation is :math:`C = \hat Y^\top \operatorname{diag}(w)\,\hat Y`
    (``n_classes x n_classes``), each of its rows is divided by its sum,
    :math:`\tilde C_{jj'} = C_{jj'} / \sum_{j''} C_{jj''}`, and the loss is the
    normalised between-class confusion

    .. math:: \mathcal{L}_{\text{MCC}} = \frac{1}{|\mathcal{C}|}
              \Big(\sum_{j}\sum_{j'} \tilde C_{jj'} - \sum_j \tilde C_{jj}\Big),

    which is 0 when no sample is shared between classes and below 1 [1]_. The
    entropy weights carry no gradient, as in the authors' code. The authors' code
    divides the columns of the symmetric :math:`C` by their sums instead of the
    rows; the diagonal, and so the loss, are the same.

    Parameters
    ----------
    logits : Tensor of shape (n, n_classes)
        Unnormalised class scores (no softmax applied).
    temperature : float, default=2.5
        Temperature :math:`T` of the softmax (the paper's value); above 1 it
        softens overconfident predictions.

    Returns
    -------
    loss : Tensor
        Scalar tensor.

    References
    ----------
    .. [1] Jin, Y., Wang, X., Long, M., Wang, J. (2020). "Minimum class confusion
       for versatile domain adaptation." ECCV, LNCS 12366, 464-480.
    """
    if logits.ndim != 2 or len(logits) == 0:
        raise ValueError(
            "logits must be a non-empty tensor of shape (n, n_classes), got "
            f"{tuple(logits.shape)}."
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}.")
    n_samples, n_classes = logits.shape
    probabilities = F.softmax(logits / temperature, dim=1)
    with torch.no_grad():
        entropy = -torch.special.xlogy(probabilities, probabilities).sum(dim=1)
        weights = 1.0 + torch.exp(-entropy)
        weights = n_samples * weights / weights.sum()
    correlation = (probabilities * weights[:, None]).T @ probabilities
    normalised = correlation / correlation.sum(dim=1, keepdim=True)
    return (normalised.sum() - torch.trace(normalised)) / n_classes
