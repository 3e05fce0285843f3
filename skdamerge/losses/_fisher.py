"""Fisher loss on labelled source features, DeepMerge II [1]_ eq. 10.

:func:`fisher_loss` combines the traces of the within-class and between-class
scatter matrices; :func:`check_fisher_weights` validates its weights.

References
----------
.. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
   Building robust deep learning algorithms for merging galaxy identification
   across domains." MNRAS 506, 677-691.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ._inputs import _as_samples

__all__ = ["check_fisher_weights", "fisher_loss"]

_FISHER_KINDS = ("ratio", "difference")


def check_fisher_weights(
    intra_weight: float,
    inter_weight: float,
    kind: str,
    *,
    names: tuple[str, str] = ("intra_weight", "inter_weight"),
) -> None:
    r"""Raise a ValueError for Fisher weights that make no loss or divide by zero.

    Both weights must be finite and non-negative. The trace ratio needs a
    positive between-class weight (it is the denominator's factor).

    Parameters
    ----------
    intra_weight, inter_weight : float
        The weights :math:`\lambda_w` and :math:`\lambda_b`.
    kind : {"ratio", "difference"}
        How the traces are combined.
    names : tuple of str, default=("intra_weight", "inter_weight")
        Argument names used in the message (the estimators' names differ).
    """
    if kind not in _FISHER_KINDS:
        raise ValueError(
            f"kind must be one of {', '.join(map(repr, _FISHER_KINDS))}; got {kind!r}."
        )
    for name, value in zip(names, (intra_weight, inter_weight), strict=True):
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    if kind == "ratio" and intra_weight > 0 and inter_weight == 0:
        raise ValueError(
            f"{names[1]}=0 with the trace ratio divides by zero: the ratio is "
            f"{names[0]} * tr(S_w) / ({names[1]} * tr(S_b)). Set {names[1]} > 0 "
            "(the paper uses 1), or use the trace difference."
        )


def fisher_loss(
    features: Tensor,
    labels: Tensor,
    *,
    intra_weight: float = 1.0,
    inter_weight: float = 1.0,
    kind: str = "ratio",
    eps: float = 1e-6,
) -> Tensor:
    r"""Fisher loss on labelled source features (paper eq. 10).

    With class centres :math:`c_m` (mean feature of class :math:`m` in the batch)
    and global centre :math:`c = \frac{1}{M}\sum_m c_m` (the mean of the class
    centres, as in the paper), the traces of the scatter matrices are

    .. math:: \operatorname{tr}(S_w) = \sum_i \lVert h_i - c_{y_i} \rVert^2,
              \qquad
              \operatorname{tr}(S_b) = \sum_m \lVert c_m - c \rVert^2,

    where the sum over :math:`i` runs over the samples of the batch and the sum
    over :math:`m` over the classes present in it. Both are the paper's eq. 10
    exactly: the within-class scatter is *summed* over samples, not averaged, so
    that the weights of the paper's Table A2 (e.g. :math:`\lambda_w = 0.01`) mean
    what they meant there. The within-class trace, and so the loss, grows in
    proportion to the batch size.

    ``kind="ratio"`` (the paper's choice [1]_) returns
    ``intra_weight * tr_w / (inter_weight * tr_b + eps)``; ``kind="difference"``
    returns ``intra_weight * tr_w - inter_weight * tr_b`` [2]_. The ratio is
    invariant to a common rescaling of the features; the difference is not bounded
    below. Minimising either makes classes compact and their centres far apart.

    Parameters
    ----------
    features : Tensor of shape (n, d)
        Latent features of source samples. Inputs with more than two dimensions are
        flattened after the first.
    labels : Tensor of shape (n,)
        Integer class labels.
    intra_weight : float, default=1.0
        Weight :math:`\lambda_w` of the within-class trace.
    inter_weight : float, default=1.0
        Weight :math:`\lambda_b` of the between-class trace.
    kind : {"ratio", "difference"}, default="ratio"
        How the two traces are combined.
    eps : float, default=1e-6
        Added to the denominator of the ratio.

    Returns
    -------
    loss : Tensor
        Scalar tensor. When fewer than two classes are present in the batch the
        between-class scatter is undefined and a zero connected to the graph of
        ``features`` is returned.

    Raises
    ------
    ValueError
        If ``kind`` is not one of the allowed values or the shapes do not match.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.
    .. [2] Zhang, Y., Zhang, Y., Wei, Y., Bai, K., Song, Y., & Yang, Q. (2020).
       "Fisher deep domain adaptation." arXiv:2003.05636 (SIAM SDM 2020).
    """
    check_fisher_weights(intra_weight, inter_weight, kind)
    features = _as_samples(features, "features")
    labels = torch.as_tensor(labels, device=features.device).reshape(-1)
    n = len(features)
    if len(labels) != n:
        raise ValueError(
            f"features and labels must have the same length, got {n} and {len(labels)}."
        )
    classes, inverse, counts = torch.unique(
        labels, return_inverse=True, return_counts=True
    )
    if len(classes) < 2:
        return features.sum() * 0.0

    # Class sums and per-sample centres through a one-hot matrix: matrix products
    # have reproducible gradients, scatter-adds (index_add, indexing) do not on a
    # multi-threaded CPU.
    membership = F.one_hot(inverse, len(classes)).to(features.dtype)
    centres = (membership.T @ features) / counts.to(features.dtype)[:, None]
    trace_within = ((features - membership @ centres) ** 2).sum()
    global_centre = centres.mean(dim=0, keepdim=True)
    trace_between = ((centres - global_centre) ** 2).sum()
    if kind == "ratio":
        return intra_weight * trace_within / (inter_weight * trace_between + eps)
    return intra_weight * trace_within - inter_weight * trace_between
