"""Correlation alignment (Deep CORAL) of Sun & Saenko [1]_.

:func:`coral_loss` compares the second-order statistics (covariance matrices) of
source and target feature batches and, optionally, their means (the first-order
term that the Transfer-Learning-Library's Deep CORAL adds [2]_).

References
----------
.. [1] Sun, B., & Saenko, K. (2016). "Deep CORAL: Correlation alignment for deep
   domain adaptation." ECCV 2016 Workshops, LNCS 9915, 443-450.
.. [2] Jiang, J., Chen, B., Fu, B., Long, M. Transfer-Learning-Library,
   ``tllib/alignment/coral.py``, https://github.com/thuml/Transfer-Learning-Library.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._inputs import _as_samples

__all__ = ["coral_loss"]


def _covariance(x: Tensor) -> Tensor:
    """Unbiased covariance matrix (divisor ``n - 1``) of the rows of ``x``."""
    centred = x - x.mean(dim=0, keepdim=True)
    return centred.T @ centred / (len(x) - 1)


def coral_loss(source: Tensor, target: Tensor, *, mean_weight: float = 0.0) -> Tensor:
    r"""CORAL loss: squared Frobenius distance between feature covariances.

    .. math:: \ell_{CORAL} = \frac{1}{4d^2}\lVert C_S - C_T\rVert_F^2
              + w_\mu \frac{1}{d}\lVert \mu_S - \mu_T\rVert^2,

    with :math:`d` the number of features and :math:`C_S`, :math:`C_T` the
    unbiased covariance matrices of the source and target batches,

    .. math:: C = \frac{1}{n-1}\left(X^\top X
              - \frac{1}{n}(\mathbf{1}^\top X)^\top(\mathbf{1}^\top X)\right)

    (eq. 1-3 of [1]_), and :math:`w_\mu` = ``mean_weight`` times the mean squared
    difference of the feature means :math:`\mu_S`, :math:`\mu_T`. The paper's
    loss (``mean_weight=0``) ignores the means: a shift of every target feature
    leaves it at zero. The Transfer-Learning-Library [2]_ adds the mean term
    (with weight 1). The loss is differentiable with respect to both batches, so
    that minimising it moves the features of both domains towards a common
    covariance (and mean). Computed by centring the rows first, which equals the
    formula above and avoids its cancellation.

    Parameters
    ----------
    source : Tensor of shape (n, d)
        Source feature vectors. Inputs with more than two dimensions are flattened
        after the first.
    target : Tensor of shape (m, d)
        Target feature vectors, flattened in the same way.
    mean_weight : float, default=0.0
        Weight :math:`w_\mu` of the mean term; 0 gives the paper's loss.

    Returns
    -------
    loss : Tensor
        Scalar tensor, zero when the two covariance matrices (and, with
        ``mean_weight > 0``, the two means) are equal.

    Raises
    ------
    ValueError
        If the feature dimensions differ or a batch has fewer than two samples
        (the unbiased covariance needs two).

    References
    ----------
    .. [1] Sun, B., & Saenko, K. (2016). "Deep CORAL: Correlation alignment for
       deep domain adaptation." ECCV 2016 Workshops, LNCS 9915, 443-450.
    .. [2] Jiang, J., Chen, B., Fu, B., Long, M. Transfer-Learning-Library,
       ``tllib/alignment/coral.py``,
       https://github.com/thuml/Transfer-Learning-Library.

    Examples
    --------
    >>> import torch
    >>> from skdamerge.losses import coral_loss
    >>> g = torch.Generator().manual_seed(0)
    >>> xs = torch.randn(64, 8, generator=g)
    >>> bool(coral_loss(xs, 3.0 * xs) > coral_loss(xs, xs + 1.0))
    True
    >>> shifted = xs + 1.0  # same covariance, means 1 apart in every feature
    >>> round(float(coral_loss(xs, shifted)), 6)
    0.0
    >>> round(float(coral_loss(xs, shifted, mean_weight=0.5)), 6)
    0.5
    """
    source = _as_samples(source, "source")
    target = _as_samples(target, "target")
    if source.shape[1] != target.shape[1]:
        raise ValueError(
            "source and target must have the same number of features, got "
            f"{source.shape[1]} and {target.shape[1]}."
        )
    if len(source) < 2 or len(target) < 2:
        raise ValueError(
            "coral_loss needs at least 2 samples in source and in target (unbiased "
            f"covariance), got n={len(source)} and m={len(target)}."
        )
    if not mean_weight >= 0:
        raise ValueError(
            f"mean_weight must be a non-negative number, got {mean_weight!r}."
        )
    d = source.shape[1]
    difference = _covariance(source) - _covariance(target)
    loss = torch.sum(difference * difference) / (4.0 * d * d)
    if mean_weight:
        shift = source.mean(dim=0) - target.mean(dim=0)
        loss = loss + mean_weight * torch.sum(shift * shift) / d
    return loss
