"""Conditional domain-adversarial training, CDAN [1]_.

- :func:`multilinear_map`: the flattened outer product of features and class
  probabilities, what CDAN's domain discriminator sees,
- :func:`randomized_multilinear_map`: its randomized, fixed-size approximation,
- :func:`entropy_conditioning_weights`: CDAN+E's per-sample weights,
- :func:`conditional_adversarial_loss`: the discriminator's binary cross-entropy,
  optionally weighted per sample.

References
----------
.. [1] Long, M., Cao, Z., Wang, J., Jordan, M. I. (2018). "Conditional adversarial
   domain adaptation." NeurIPS 31, 1640-1650.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "conditional_adversarial_loss",
    "entropy_conditioning_weights",
    "multilinear_map",
    "randomized_multilinear_map",
]


def _check_pair(features: Tensor, probabilities: Tensor) -> None:
    if features.ndim != 2 or probabilities.ndim != 2:
        raise ValueError(
            "features and probabilities must have shape (n, d) and (n, n_classes), "
            f"got {tuple(features.shape)} and {tuple(probabilities.shape)}."
        )
    if len(features) != len(probabilities):
        raise ValueError(
            f"features and probabilities have {len(features)} and "
            f"{len(probabilities)} rows; they must describe the same samples."
        )


def multilinear_map(features: Tensor, probabilities: Tensor) -> Tensor:
    r"""Flattened outer product of class probabilities and features (CDAN eq. 4).

    .. math:: T_\otimes(f, g) = g \otimes f, \qquad
              T_\otimes(f, g)_{c d + k} = g_c f_k,

    one row of size ``n_classes * d`` per sample, in the order of the authors'
    code (class-major). Conditioning the domain discriminator on this map lets it
    see how the features are distributed *within* each predicted class, which a
    discriminator on the features alone cannot [1]_.

    Parameters
    ----------
    features : Tensor of shape (n, d)
        Latent features ``f``.
    probabilities : Tensor of shape (n, n_classes)
        Class probabilities ``g`` (softmax of the logits).

    Returns
    -------
    out : Tensor of shape (n, n_classes * d)

    References
    ----------
    .. [1] Long, M., Cao, Z., Wang, J., Jordan, M. I. (2018). "Conditional
       adversarial domain adaptation." NeurIPS 31, 1640-1650.
    """
    _check_pair(features, probabilities)
    outer = probabilities.unsqueeze(2) * features.unsqueeze(1)
    return outer.reshape(len(features), -1)


def randomized_multilinear_map(
    features: Tensor,
    probabilities: Tensor,
    random_features: Tensor,
    random_probabilities: Tensor,
) -> Tensor:
    r"""Randomized multilinear map of CDAN (eq. 5), of a fixed size.

    .. math:: T_\odot(f, g) = \frac{1}{\sqrt{m}}\,(f R_f) \odot (g R_g),

    with fixed random matrices :math:`R_f` (``d x m``) and :math:`R_g`
    (``n_classes x m``) and the element-wise product :math:`\odot`. With Gaussian
    entries of unit variance, the inner products of :math:`T_\odot` approximate
    those of :func:`multilinear_map` without bias, for an output of size ``m``
    instead of ``n_classes * d`` [1]_.

    Parameters
    ----------
    features : Tensor of shape (n, d)
        Latent features ``f``.
    probabilities : Tensor of shape (n, n_classes)
        Class probabilities ``g``.
    random_features : Tensor of shape (d, m)
        :math:`R_f`, drawn once and kept fixed.
    random_probabilities : Tensor of shape (n_classes, m)
        :math:`R_g`, drawn once and kept fixed.

    Returns
    -------
    out : Tensor of shape (n, m)

    References
    ----------
    .. [1] Long, M., Cao, Z., Wang, J., Jordan, M. I. (2018). "Conditional
       adversarial domain adaptation." NeurIPS 31, 1640-1650.
    """
    _check_pair(features, probabilities)
    if (
        random_features.ndim != 2
        or random_probabilities.ndim != 2
        or random_features.shape != (features.shape[1], random_features.shape[1])
        or random_probabilities.shape
        != (probabilities.shape[1], random_features.shape[1])
    ):
        raise ValueError(
            "random_features and random_probabilities must have shape (d, m) and "
            f"(n_classes, m) for features {tuple(features.shape)} and probabilities "
            f"{tuple(probabilities.shape)}; got {tuple(random_features.shape)} and "
            f"{tuple(random_probabilities.shape)}."
        )
    dim = random_features.shape[1]
    return (
        (features @ random_features)
        * (probabilities @ random_probabilities)
        / (math.sqrt(dim))
    )


def entropy_conditioning_weights(probabilities: Tensor) -> Tensor:
    r"""CDAN+E's sample weights :math:`w = 1 + e^{-H(g)}` (CDAN eq. 9).

    :math:`H(g) = -\sum_c g_c \log g_c` is the entropy of the predicted class
    probabilities; confident predictions (low entropy) get weights near 2,
    uncertain ones weights near :math:`1 + 1/n_{\text{classes}}`, so that the
    domain discriminator concentrates on the samples whose predictions can be
    trusted [1]_. The weights are not normalised here (see
    :func:`conditional_adversarial_loss`) and carry no gradient.

    Parameters
    ----------
    probabilities : Tensor of shape (n, n_classes)
        Class probabilities ``g``.

    Returns
    -------
    weights : Tensor of shape (n,)

    References
    ----------
    .. [1] Long, M., Cao, Z., Wang, J., Jordan, M. I. (2018). "Conditional
       adversarial domain adaptation." NeurIPS 31, 1640-1650.
    """
    if probabilities.ndim != 2:
        raise ValueError(
            "probabilities must have shape (n, n_classes), got "
            f"{tuple(probabilities.shape)}."
        )
    p = probabilities.detach()
    entropy = -torch.special.xlogy(p, p).sum(dim=1)
    return 1.0 + torch.exp(-entropy)


def _weighted_mean(losses: Tensor, weights: Tensor | None, name: str) -> Tensor:
    if weights is None:
        return losses.mean()
    weights = weights.detach().reshape(-1)
    if weights.shape != losses.shape:
        raise ValueError(
            f"{name} must have one weight per sample ({len(losses)}), got shape "
            f"{tuple(weights.shape)}."
        )
    if bool((weights < 0).any()) or not bool(weights.sum() > 0):
        raise ValueError(f"{name} must be non-negative with a positive sum.")
    return (weights / weights.sum() * losses).sum()


def conditional_adversarial_loss(
    source_logits: Tensor,
    target_logits: Tensor,
    source_weights: Tensor | None = None,
    target_weights: Tensor | None = None,
) -> Tensor:
    r"""Domain discriminator's binary cross-entropy, optionally weighted (CDAN eq. 7).

    The domain label is 1 for source and 0 for target samples. Each domain's
    losses are averaged with its weights normalised to sum to one,

    .. math:: \mathcal{L}_d = \sum_{i \in s} \frac{w_i}{\sum_{i' \in s} w_{i'}}
              \log(1 + e^{-z_i})
              + \sum_{j \in t} \frac{w_j}{\sum_{j' \in t} w_{j'}}
              \log(1 + e^{z_j}),

    so that both domains weigh equally; without weights this is
    :func:`~skdamerge.losses.domain_adversarial_loss`. The authors' code divides
    the same sum by 2; the factor is left out here, as in the unconditioned loss,
    so that ``transfer_weight`` means the same for both. The weights (CDAN+E,
    :func:`entropy_conditioning_weights`) carry no gradient [1]_.

    Parameters
    ----------
    source_logits : Tensor of shape (n_s,) or (n_s, 1)
        Discriminator logits on the source samples (no sigmoid applied).
    target_logits : Tensor of shape (n_t,) or (n_t, 1)
        Discriminator logits on the target samples.
    source_weights : Tensor of shape (n_s,) or None, default=None
        Non-negative weights of the source samples; None weighs them equally.
    target_weights : Tensor of shape (n_t,) or None, default=None
        Non-negative weights of the target samples; None weighs them equally.

    Returns
    -------
    loss : Tensor
        Scalar tensor.

    References
    ----------
    .. [1] Long, M., Cao, Z., Wang, J., Jordan, M. I. (2018). "Conditional
       adversarial domain adaptation." NeurIPS 31, 1640-1650.
    """
    terms = []
    for logits, weights, label, name in (
        (source_logits, source_weights, 1.0, "source"),
        (target_logits, target_weights, 0.0, "target"),
    ):
        if logits.ndim == 2 and logits.shape[1] == 1:
            logits = logits[:, 0]
        if logits.ndim != 1 or len(logits) == 0:
            raise ValueError(
                f"{name}_logits must be a non-empty tensor of shape (n,) or (n, 1), "
                f"got {tuple(logits.shape)}."
            )
        losses = F.binary_cross_entropy_with_logits(
            logits, torch.full_like(logits, label), reduction="none"
        )
        terms.append(_weighted_mean(losses, weights, f"{name}_weights"))
    return terms[0] + terms[1]
