"""Source hypothesis transfer (SHOT): information maximisation and pseudo-labels.

The target-stage losses of Liang, Hu & Feng (2020) [1]_: the information
maximisation loss on target predictions (confident and diverse) and the
self-supervised pseudo-labels of the target images from class centroids in the
feature space.

References
----------
.. [1] Liang, J., Hu, D., Feng, J. (2020). "Do we really need to access the source
   data? Source hypothesis transfer for unsupervised domain adaptation." ICML,
   PMLR 119, 6028-6039.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._entropy import entropy_loss

__all__ = [
    "information_maximization_loss",
    "marginal_entropy",
    "shot_pseudo_labels",
]

_TINY = 1e-12


def marginal_entropy(logits: Tensor) -> Tensor:
    r"""Entropy of the mean predicted class distribution (SHOT's diversity).

    .. math:: H(\bar p) = -\sum_{k=1}^{K} \bar p_k \log \bar p_k, \qquad
              \bar p = \frac{1}{n}\sum_{i=1}^{n} \operatorname{softmax}(z_i),

    in nats. It is largest (``log K``) when the batch's predictions are spread
    evenly over the classes, and 0 when every sample is given to one class: the
    diversity term of SHOT's information maximisation [1]_, which keeps entropy
    minimisation from sending every target image to one class.

    Parameters
    ----------
    logits : Tensor of shape (n, n_classes)
        Unnormalised class scores (no softmax applied).

    Returns
    -------
    Tensor
        Scalar tensor, between 0 and ``log(n_classes)``.

    References
    ----------
    .. [1] Liang, J., Hu, D., Feng, J. (2020). "Do we really need to access the
       source data? Source hypothesis transfer for unsupervised domain
       adaptation." ICML, PMLR 119, 6028-6039. Eq. 2.
    """
    if logits.ndim != 2:
        raise ValueError(
            f"logits must have shape (n, n_classes), got {tuple(logits.shape)}."
        )
    mean = F.softmax(logits, dim=1).mean(dim=0)
    return -(mean * mean.clamp_min(_TINY).log()).sum()


def information_maximization_loss(
    logits: Tensor, *, diversity_weight: float = 1.0
) -> Tensor:
    r"""SHOT's information maximisation loss on unlabelled predictions.

    .. math:: \mathcal{L}_{IM} = \frac{1}{n}\sum_{i=1}^{n} H(p_i)
              - w\, H\Big(\frac{1}{n}\sum_{i=1}^{n} p_i\Big),
              \qquad p_i = \operatorname{softmax}(z_i),

    the mean per-sample entropy (each prediction confident) minus ``w`` times the
    entropy of the mean prediction (the predictions diverse), in nats [1]_.
    ``w = 1`` is the paper's loss; larger values guard harder against every
    image falling into one class.

    Parameters
    ----------
    logits : Tensor of shape (n, n_classes)
        Unnormalised class scores of unlabelled (target) samples.
    diversity_weight : float, default=1.0
        Weight ``w`` of the diversity term.

    Returns
    -------
    Tensor
        Scalar tensor, between ``-w log(n_classes)`` and ``log(n_classes)``.

    See Also
    --------
    entropy_loss : the first term.
    marginal_entropy : the diversity term.

    References
    ----------
    .. [1] Liang, J., Hu, D., Feng, J. (2020). "Do we really need to access the
       source data? Source hypothesis transfer for unsupervised domain
       adaptation." ICML, PMLR 119, 6028-6039. Eq. 2.
    """
    return entropy_loss(logits) - diversity_weight * marginal_entropy(logits)


def _cosine_nearest(features: Tensor, centroids: Tensor, allowed: Tensor) -> Tensor:
    """Index of the allowed centroid nearest each row in cosine distance."""
    rows = features / features.norm(dim=1, keepdim=True).clamp_min(_TINY)
    centres = centroids / centroids.norm(dim=1, keepdim=True).clamp_min(_TINY)
    similarity = rows @ centres.T
    similarity[:, ~allowed] = -torch.inf
    return similarity.argmax(dim=1)


def shot_pseudo_labels(
    features: Tensor,
    probabilities: Tensor,
    *,
    n_rounds: int = 1,
    only_predicted_classes: bool = True,
) -> Tensor:
    r"""Self-supervised pseudo-labels of SHOT from class centroids in feature space.

    A weighted k-means step started from the network's predictions [1]_:

    1. each feature vector gets a constant 1 appended and is scaled to unit
       length (as in the paper's code, so that cosine distances are defined
       for all-zero features);
    2. the centroid of class ``k`` is :math:`c_k = \sum_i p_{ik} f_i /
       \sum_i p_{ik}`, weighted by the predicted probabilities (paper eq. 4);
    3. each sample takes the label of the nearest centroid in cosine distance
       (eq. 5);
    4. ``n_rounds`` times, the centroids are recomputed from these hard labels
       (eq. 6) and the labels reassigned.

    As in the paper's code, only the classes that the network predicts
    (arg max) for at least one sample have a centroid
    (``only_predicted_classes=True``); its equations 4-6 give every class one
    (``False``). With two classes and a source model that calls every target
    image one class, the first sends every pseudo-label of the first target
    epoch to that class, and the diversity term alone starts the split.

    Parameters
    ----------
    features : Tensor of shape (n, n_features)
        Latent features of the unlabelled samples.
    probabilities : Tensor of shape (n, n_classes)
        The network's class probabilities for the same samples.
    n_rounds : int, default=1
        Rounds of centroid update from hard labels (the paper uses 1).
    only_predicted_classes : bool, default=True
        Give centroids only to the classes predicted for some sample (the
        paper's code), or to every class (False, its equations).

    Returns
    -------
    Tensor of shape (n,)
        Pseudo-labels (int64), on the device of ``features``.

    References
    ----------
    .. [1] Liang, J., Hu, D., Feng, J. (2020). "Do we really need to access the
       source data? Source hypothesis transfer for unsupervised domain
       adaptation." ICML, PMLR 119, 6028-6039. Eq. 4-6.
    """
    if features.ndim != 2 or probabilities.ndim != 2:
        raise ValueError(
            "features and probabilities must be 2-D, (n, n_features) and "
            f"(n, n_classes); got {tuple(features.shape)} and "
            f"{tuple(probabilities.shape)}."
        )
    if len(features) != len(probabilities):
        raise ValueError(
            f"features has {len(features)} rows but probabilities has "
            f"{len(probabilities)}; pass one row per sample to both."
        )
    features = features.double()
    weights = probabilities.to(features)
    ones = torch.ones(len(features), 1, dtype=features.dtype, device=features.device)
    features = torch.cat([features, ones], dim=1)
    features = features / features.norm(dim=1, keepdim=True)
    n_classes = weights.shape[1]
    allowed = torch.ones(n_classes, dtype=torch.bool, device=features.device)
    if only_predicted_classes:
        allowed = torch.bincount(weights.argmax(dim=1), minlength=n_classes) > 0
    for round_ in range(n_rounds + 1):
        centroids = (weights.T @ features) / (weights.sum(dim=0)[:, None] + 1e-8)
        labels = _cosine_nearest(features, centroids, allowed)
        if round_ < n_rounds:
            weights = F.one_hot(labels, n_classes).to(features)
    return labels
