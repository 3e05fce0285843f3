"""Domain-adversarial training of DeepMerge II [1]_ (paper eq. 8-9).

- :func:`gradient_reversal` and :class:`GradientReversal`: the gradient reversal
  layer between the feature extractor and the domain classifier,
- :func:`grl_coefficient`: the schedule of its coefficient over training,
- :func:`domain_adversarial_loss`: the domain classifier's binary cross-entropy,
- :func:`domain_accuracy`: the domain classifier's accuracy on each domain.

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
from torch import Tensor, nn

__all__ = [
    "GradientReversal",
    "domain_accuracy",
    "domain_adversarial_loss",
    "gradient_reversal",
    "grl_coefficient",
]

_GRL_SCHEDULES = ("ganin", "constant")


class _GradientReversalFunction(torch.autograd.Function):
    """Identity in the forward pass, ``-coeff`` times the gradient backwards."""

    @staticmethod
    def forward(ctx, x: Tensor, coeff: float) -> Tensor:  # noqa: D102
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None]:  # noqa: D102
        return grad_output * (-ctx.coeff), None


def gradient_reversal(x: Tensor, coeff: float = 1.0) -> Tensor:
    """Gradient reversal layer: identity forward, reversed and scaled gradient.

    In the backward pass the incoming gradient is multiplied by ``-coeff``, so that
    the layers before it maximise the loss of the layers after it [1]_. Placed
    between the feature extractor and the domain classifier, it lets one
    minimisation step train the classifier to recognise the domain and the features
    to confuse it (paper eq. 9 [2]_).

    Parameters
    ----------
    x : Tensor
        Input of any shape.
    coeff : float, default=1.0
        Scale of the reversed gradient (the ``lambda`` of DANN), see
        :func:`grl_coefficient`.

    Returns
    -------
    out : Tensor
        A tensor equal to ``x``.

    References
    ----------
    .. [1] Ganin, Y., Ustinova, E., Ajakan, H., et al. (2016). "Domain-adversarial
       training of neural networks." JMLR 17(59), 1-35.
    .. [2] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.
    """
    return _GradientReversalFunction.apply(x, float(coeff))


class GradientReversal(nn.Module):
    """Gradient reversal layer as a module (see :func:`gradient_reversal`).

    Parameters
    ----------
    coeff : float, default=1.0
        Scale of the reversed gradient. The attribute can be changed between
        training steps, for example following :func:`grl_coefficient`.

    References
    ----------
    .. [1] Ganin, Y., Ustinova, E., Ajakan, H., et al. (2016). "Domain-adversarial
       training of neural networks." JMLR 17(59), 1-35.
    """

    def __init__(self, coeff: float = 1.0) -> None:
        super().__init__()
        self.coeff = coeff

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x``; its gradient is multiplied by ``-coeff``."""
        return gradient_reversal(x, self.coeff)

    def extra_repr(self) -> str:
        """Show the coefficient in the module's representation."""
        return f"coeff={self.coeff}"


def grl_coefficient(
    progress: float,
    schedule: str = "ganin",
    *,
    max_coeff: float = 1.0,
    alpha: float = 10.0,
) -> float:
    r"""Coefficient of the gradient reversal layer at a point of training.

    ``schedule="ganin"`` is the schedule of Ganin et al. [1]_,

    .. math:: \lambda_p = \text{max\_coeff}\left(\frac{2}{1 + e^{-\alpha p}}
              - 1\right),

    which rises from 0 at the start of training to almost ``max_coeff`` at the end
    and damps the noisy adversarial signal of the first steps.
    ``schedule="constant"`` returns ``max_coeff`` throughout.

    Parameters
    ----------
    progress : float
        Training progress ``p``; clipped to ``[0, 1]``.
    schedule : {"ganin", "constant"}, default="ganin"
        Shape of the schedule.
    max_coeff : float, default=1.0
        Value approached at the end of training.
    alpha : float, default=10.0
        Steepness of the ``"ganin"`` schedule.

    Returns
    -------
    coeff : float
        The coefficient for :func:`gradient_reversal`.

    Raises
    ------
    ValueError
        If ``schedule`` is not one of the allowed values.

    References
    ----------
    .. [1] Ganin, Y., Ustinova, E., Ajakan, H., et al. (2016). "Domain-adversarial
       training of neural networks." JMLR 17(59), 1-35.
    """
    if schedule not in _GRL_SCHEDULES:
        raise ValueError(
            f"schedule must be one of {', '.join(map(repr, _GRL_SCHEDULES))}; "
            f"got {schedule!r}."
        )
    if schedule == "constant":
        return float(max_coeff)
    p = min(max(float(progress), 0.0), 1.0)
    return float(max_coeff) * (2.0 / (1.0 + math.exp(-float(alpha) * p)) - 1.0)


def _as_logit_vector(logits: Tensor, name: str) -> Tensor:
    """Return domain logits of shape ``(n,)`` or ``(n, 1)`` as a vector."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    if logits.ndim != 1:
        raise ValueError(
            f"{name} must have shape (n,) or (n, 1) (one logit per sample from a "
            f"domain classifier ending in one unit), got {tuple(logits.shape)}."
        )
    if len(logits) == 0:
        raise ValueError(f"{name} is empty.")
    return logits


def domain_adversarial_loss(source_logits: Tensor, target_logits: Tensor) -> Tensor:
    r"""Binary cross-entropy of a domain classifier (paper eq. 8).

    The domain label is 1 for source and 0 for target samples. The loss is the sum
    of the two per-domain means,

    .. math:: \mathcal{L}_d = \frac{1}{n_s}\sum_{i}\log(1 + e^{-z^s_i})
              + \frac{1}{n_t}\sum_{j}\log(1 + e^{z^t_j}),

    computed with ``binary_cross_entropy_with_logits`` for numerical stability.
    Both domains weigh equally whatever the batch sizes. Used after a
    :func:`gradient_reversal` layer, minimising it trains the domain classifier
    while the reversed gradient makes the features domain-invariant [1]_ [2]_.

    Parameters
    ----------
    source_logits : Tensor of shape (n_s,) or (n_s, 1)
        Logits of the domain classifier on source features (no sigmoid applied).
    target_logits : Tensor of shape (n_t,) or (n_t, 1)
        Logits on target features.

    Returns
    -------
    loss : Tensor
        Scalar tensor.

    References
    ----------
    .. [1] Ganin, Y., Ustinova, E., Ajakan, H., et al. (2016). "Domain-adversarial
       training of neural networks." JMLR 17(59), 1-35.
    .. [2] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.
    """
    source_logits = _as_logit_vector(source_logits, "source_logits")
    target_logits = _as_logit_vector(target_logits, "target_logits")
    source_term = F.binary_cross_entropy_with_logits(
        source_logits, torch.ones_like(source_logits)
    )
    target_term = F.binary_cross_entropy_with_logits(
        target_logits, torch.zeros_like(target_logits)
    )
    return source_term + target_term


def domain_accuracy(
    source_logits: Tensor, target_logits: Tensor
) -> tuple[float, float]:
    """Accuracy of a domain classifier on each domain.

    A source sample counts as correct when its logit is ``> 0`` (predicted source,
    label 1), a target sample when its logit is ``<= 0`` (predicted target, label 0).
    Values near 0.5 on both domains mean the features are domain-invariant [1]_.

    Parameters
    ----------
    source_logits : Tensor of shape (n_s,) or (n_s, 1)
        Logits of the domain classifier on source features.
    target_logits : Tensor of shape (n_t,) or (n_t, 1)
        Logits on target features.

    Returns
    -------
    source_accuracy : float
        Fraction of source samples classified as source.
    target_accuracy : float
        Fraction of target samples classified as target.

    References
    ----------
    .. [1] Ganin, Y., Ustinova, E., Ajakan, H., et al. (2016). "Domain-adversarial
       training of neural networks." JMLR 17(59), 1-35.
    """
    source_logits = _as_logit_vector(source_logits.detach(), "source_logits")
    target_logits = _as_logit_vector(target_logits.detach(), "target_logits")
    source_accuracy = (source_logits > 0).double().mean().item()
    target_accuracy = (target_logits <= 0).double().mean().item()
    return float(source_accuracy), float(target_accuracy)
