"""Margin disparity discrepancy (MDD) of Zhang, Liu, Long & Jordan [1]_.

:func:`margin_disparity_discrepancy` is the empirical discrepancy that an
auxiliary (adversarial) classifier head maximises and the feature extractor
minimises, in the form of the reference implementation
``ClassificationMarginDisparityDiscrepancy`` of the Transfer-Learning-Library
[2]_.

References
----------
.. [1] Zhang, Y., Liu, T., Long, M., & Jordan, M. I. (2019). "Bridging theory and
   algorithm for domain adaptation." ICML, PMLR 97, 7404-7413.
.. [2] Jiang, J., Chen, B., Fu, B., Long, M. Transfer-Learning-Library,
   ``tllib/alignment/mdd.py``, https://github.com/thuml/Transfer-Learning-Library.
"""

from __future__ import annotations

from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["margin_disparity_discrepancy"]

# Offset of the shifted logarithm, as in the reference implementation's shift_log.
_LOG_OFFSET = 1e-6


def _shift_log(x: Tensor, offset: float = _LOG_OFFSET) -> Tensor:
    """``log(min(x + offset, 1))``: finite at ``x = 0``, at most zero."""
    return torch.log(torch.clamp(x + offset, max=1.0))


def _check_logits(logits: Tensor, name: str) -> None:
    if not isinstance(logits, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(logits).__name__}.")
    if logits.ndim != 2 or len(logits) == 0:
        raise ValueError(
            f"{name} must have shape (n, n_classes) with n >= 1, got "
            f"{tuple(logits.shape)}."
        )


def margin_disparity_discrepancy(
    source_logits: Tensor,
    source_auxiliary_logits: Tensor,
    target_logits: Tensor,
    target_auxiliary_logits: Tensor,
    *,
    margin: float = 4.0,
) -> Tensor:
    r"""Margin disparity discrepancy between source and target (classification).

    With :math:`\hat y = \arg\max_k f(\psi(x))_k` the prediction of the main
    classifier :math:`f` (no gradient flows through it) and :math:`\sigma(f')` the
    softmax of the auxiliary head :math:`f'`,

    .. math:: \mathcal{D}_\gamma = \gamma\,\frac{1}{n_s}\sum_{i}
              \log \sigma_{\hat y^s_i}\!\left(f'(\psi(x^s_i))\right)
              + \frac{1}{n_t}\sum_{j}
              \log\left(1 - \sigma_{\hat y^t_j}\!\left(f'(\psi(x^t_j))\right)\right)

    ([1]_; ``ClassificationMarginDisparityDiscrepancy`` of [2]_). The
    first term is ``-margin`` times the cross-entropy of the auxiliary head
    against the main classifier's predictions on the source, the second the log
    probability that the auxiliary head disagrees with them on the target.

    Sign conventions (those of [2]_): :math:`\mathcal{D}_\gamma \le 0`. The
    auxiliary head **maximises** it (it agrees with :math:`f` on the source and
    disagrees on the target); the feature extractor **minimises** it. A training
    step therefore minimises :math:`-\mathcal{D}_\gamma` (the transfer loss) over
    all parameters, with a gradient reversal layer between the features and the
    auxiliary head, so that the features receive the gradient of
    :math:`+\mathcal{D}_\gamma`. The main classifier receives no gradient from it.

    As in [2]_, the logarithm of the target term is shifted,
    :math:`\log(\min(1 - \sigma + 10^{-6}, 1))`, so that it stays finite when the
    auxiliary head agrees with certainty. The reference sums the per-sample
    source and target terms before averaging, which needs equal batch sizes; here
    each domain is averaged separately, which is the same for equal sizes.

    Parameters
    ----------
    source_logits : Tensor of shape (n_s, n_classes)
        Logits of the main classifier on the source batch.
    source_auxiliary_logits : Tensor of shape (n_s, n_classes)
        Logits of the auxiliary head on the same source features.
    target_logits : Tensor of shape (n_t, n_classes)
        Logits of the main classifier on the target batch.
    target_auxiliary_logits : Tensor of shape (n_t, n_classes)
        Logits of the auxiliary head on the same target features.
    margin : float, default=4.0
        The margin factor :math:`\gamma` (the paper's default is 4; 1 gives the
        disparity discrepancy without margin).

    Returns
    -------
    discrepancy : Tensor
        Scalar tensor :math:`\mathcal{D}_\gamma`, differentiable with respect to
        the auxiliary logits only.

    Raises
    ------
    ValueError
        If the shapes do not match or ``margin`` is not positive.

    References
    ----------
    .. [1] Zhang, Y., Liu, T., Long, M., & Jordan, M. I. (2019). "Bridging theory
       and algorithm for domain adaptation." ICML, PMLR 97, 7404-7413.
    .. [2] Jiang, J., Chen, B., Fu, B., Long, M. Transfer-Learning-Library,
       ``tllib/alignment/mdd.py``,
       https://github.com/thuml/Transfer-Learning-Library.

    Examples
    --------
    >>> import torch
    >>> from skdamerge.losses import margin_disparity_discrepancy
    >>> y = torch.tensor([[2.0, -1.0], [-1.0, 2.0]])
    >>> agree, disagree = 5.0 * y, -5.0 * y
    >>> mdd_agree = margin_disparity_discrepancy(y, agree, y, agree)
    >>> mdd_ideal = margin_disparity_discrepancy(y, agree, y, disagree)
    >>> bool(mdd_ideal > mdd_agree)
    True
    """
    names = (
        "source_logits",
        "source_auxiliary_logits",
        "target_logits",
        "target_auxiliary_logits",
    )
    tensors = (source_logits, source_auxiliary_logits, target_logits)
    for tensor, name in zip((*tensors, target_auxiliary_logits), names, strict=True):
        _check_logits(tensor, name)
    if source_logits.shape != source_auxiliary_logits.shape:
        raise ValueError(
            "source_logits and source_auxiliary_logits must have the same shape, "
            f"got {tuple(source_logits.shape)} and "
            f"{tuple(source_auxiliary_logits.shape)}."
        )
    if target_logits.shape != target_auxiliary_logits.shape:
        raise ValueError(
            "target_logits and target_auxiliary_logits must have the same shape, "
            f"got {tuple(target_logits.shape)} and "
            f"{tuple(target_auxiliary_logits.shape)}."
        )
    if source_logits.shape[1] != target_logits.shape[1]:
        raise ValueError(
            "source and target logits must have the same number of classes, got "
            f"{source_logits.shape[1]} and {target_logits.shape[1]}."
        )
    if not isinstance(margin, Real) or not margin > 0:
        raise ValueError(f"margin must be a positive number, got {margin!r}.")
    source_prediction = source_logits.detach().argmax(dim=1)
    target_prediction = target_logits.detach().argmax(dim=1)
    source_term = -float(margin) * F.cross_entropy(
        source_auxiliary_logits, source_prediction
    )
    disagreement = 1.0 - F.softmax(target_auxiliary_logits, dim=1)
    target_term = _shift_log(disagreement).gather(1, target_prediction[:, None]).mean()
    return source_term + target_term
