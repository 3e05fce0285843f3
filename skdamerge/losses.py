"""Domain-adaptation losses of DeepMerge II [1]_ as pure functions on torch tensors.

Every function takes tensors and returns a scalar tensor (or Python floats for the
diagnostics), so the losses can be combined freely in a training step:

- :func:`mmd_loss`: multi-kernel maximum mean discrepancy (transfer loss, eq. 6-7),
- :func:`gradient_reversal`, :class:`GradientReversal`, :func:`grl_coefficient`,
  :func:`domain_adversarial_loss`, :func:`domain_accuracy`: domain-adversarial
  training (eq. 8-9),
- :func:`fisher_loss`: Fisher trace ratio or difference on source features (eq. 10),
- :func:`entropy_loss`: entropy minimisation on target predictions (eq. 11),
- :func:`total_loss`: the weighted sum of eq. 2.

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
    "entropy_loss",
    "fisher_loss",
    "gradient_reversal",
    "grl_coefficient",
    "mmd_loss",
    "total_loss",
]

_GRL_SCHEDULES = ("ganin", "constant")
_FISHER_KINDS = ("ratio", "difference")


# ---------------------------------------------------------------------------
# Maximum mean discrepancy
# ---------------------------------------------------------------------------


def _as_samples(x: Tensor, name: str) -> Tensor:
    """Return ``x`` as a floating-point ``(n_samples, n_features)`` matrix."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar.")
    x = x.reshape(len(x), -1) if x.ndim != 2 else x
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x


def _pairwise_sq_distances(z: Tensor) -> Tensor:
    """Squared Euclidean distances between all rows of ``z``, clamped at zero.

    The rows are centred first (distances are translation invariant, and centring
    reduces cancellation in ``|a|^2 + |b|^2 - 2 a.b``); the squared norms are read
    from the diagonal of the Gram matrix so that identical rows give exactly zero.
    The diagonal is set to zero.
    """
    z = z - z.mean(dim=0, keepdim=True).detach()
    gram = z @ z.T
    sq_norms = torch.diagonal(gram)
    dist = (sq_norms[:, None] + sq_norms[None, :] - 2.0 * gram).clamp(min=0.0)
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    return dist.masked_fill(eye, 0.0)


def _median_bandwidth(dist: Tensor) -> float:
    """Return ``sigma_base^2`` from the median heuristic (see :func:`mmd_loss`)."""
    n = dist.shape[0]
    rows, cols = torch.triu_indices(n, n, offset=1, device=dist.device)
    values = dist.detach()[rows, cols]
    k = values.numel()
    # Average of the two middle order statistics (the usual median for even k).
    lower = values.kthvalue((k + 1) // 2).values.item()
    upper = values.kthvalue(k // 2 + 1).values.item()
    median = 0.5 * (lower + upper)
    if median > 0.0 and math.isfinite(median):
        return median / 2.0
    nonzero = values[values > 0]
    if nonzero.numel() > 0:
        mean = nonzero.mean().item()
        if math.isfinite(mean):
            return mean / 2.0
    return 1.0


def mmd_loss(
    source: Tensor,
    target: Tensor,
    *,
    n_kernels: int = 5,
    kernel_mul: float = 2.0,
    bandwidth: float | None = None,
    unbiased: bool = True,
) -> Tensor:
    r"""Squared maximum mean discrepancy with a multi-kernel Gaussian RBF kernel.

    The kernel is a sum of ``n_kernels`` Gaussian RBF kernels [2]_ [3]_

    .. math:: \kappa(x, x') = \sum_{k=0}^{K-1}
              \exp\left(-\frac{\lVert x - x'\rVert^2}{2\sigma_k^2}\right),

    with a geometric ladder of bandwidths around a base bandwidth,
    :math:`\sigma_k^2 = \sigma_{\text{base}}^2 \cdot \text{kernel\_mul}^{\,k -
    \lfloor K/2 \rfloor}`, so that the middle kernel (``k = n_kernels // 2``) has
    :math:`\sigma^2 = \sigma_{\text{base}}^2`.

    The base bandwidth is ``bandwidth`` when given. Otherwise it follows the median
    heuristic: :math:`2\sigma_{\text{base}}^2` is the median of the squared
    distances between all pairs of distinct points of the pooled sample (source and
    target together). The median is computed on detached values, so no gradient
    flows through the bandwidth. If the median is zero (collapsed features) the mean
    of the nonzero squared distances is used instead, and ``1.0`` if all distances
    are zero, so that the loss and its gradient stay finite.

    With ``unbiased=True`` this is the U-statistic of the paper's eq. 6 [1]_ (Gretton
    et al. 2012, eq. 3 [2]_), generalised to ``n != m``:

    .. math:: \frac{1}{n(n-1)}\sum_{i \ne j}\kappa(s_i, s_j)
              + \frac{1}{m(m-1)}\sum_{i \ne j}\kappa(t_i, t_j)
              - \frac{2}{nm}\sum_{i, j}\kappa(s_i, t_j).

    It is an unbiased estimate of the squared MMD and can be slightly negative.
    With ``unbiased=False`` it is the biased V-statistic, in which the two
    within-sample means also run over the diagonal ``i = j``; it is never negative.

    Parameters
    ----------
    source : Tensor of shape (n, d)
        Source feature vectors. Inputs with more than two dimensions are flattened
        after the first.
    target : Tensor of shape (m, d)
        Target feature vectors, flattened in the same way.
    n_kernels : int, default=5
        Number of Gaussian kernels in the sum.
    kernel_mul : float, default=2.0
        Ratio between the ``sigma^2`` of consecutive kernels.
    bandwidth : float or None, default=None
        ``sigma^2`` of the middle kernel. ``None`` uses the median heuristic.
    unbiased : bool, default=True
        Use the unbiased U-statistic (paper eq. 6); otherwise the biased V-statistic.

    Returns
    -------
    loss : Tensor
        Scalar tensor, differentiable with respect to ``source`` and ``target``.

    Raises
    ------
    ValueError
        If the feature dimensions differ, a sample has fewer than two points (fewer
        than one for ``unbiased=False``), or a kernel parameter is not positive.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.
    .. [2] Gretton, A., Borgwardt, K. M., Rasch, M. J., Schölkopf, B., & Smola, A.
       (2012). "A kernel two-sample test." JMLR 13, 723-773.
    .. [3] Long, M., Cao, Y., Wang, J., & Jordan, M. I. (2015). "Learning
       transferable features with deep adaptation networks." ICML, 97-105.

    Examples
    --------
    >>> import torch
    >>> from skdamerge.losses import mmd_loss
    >>> g = torch.Generator().manual_seed(0)
    >>> xs = torch.randn(64, 8, generator=g)
    >>> xt = torch.randn(64, 8, generator=g) + 1.0
    >>> bool(mmd_loss(xs, xt) > mmd_loss(xs, xt - 1.0))
    True
    """
    source = _as_samples(source, "source")
    target = _as_samples(target, "target")
    if source.shape[1] != target.shape[1]:
        raise ValueError(
            "source and target must have the same number of features, got "
            f"{source.shape[1]} and {target.shape[1]}."
        )
    n, m = len(source), len(target)
    min_size = 2 if unbiased else 1
    if n < min_size or m < min_size:
        raise ValueError(
            f"mmd_loss needs at least {min_size} samples in source and in target "
            f"(unbiased={unbiased}), got n={n} and m={m}."
        )
    if int(n_kernels) != n_kernels or n_kernels < 1:
        raise ValueError(f"n_kernels must be a positive integer, got {n_kernels!r}.")
    if not kernel_mul > 0:
        raise ValueError(f"kernel_mul must be positive, got {kernel_mul!r}.")
    if bandwidth is not None and not (bandwidth > 0 and math.isfinite(bandwidth)):
        raise ValueError(
            f"bandwidth must be a positive finite number or None, got {bandwidth!r}."
        )

    pooled = torch.cat([source, target], dim=0)
    dist = _pairwise_sq_distances(pooled)
    sigma2_base = _median_bandwidth(dist) if bandwidth is None else float(bandwidth)
    n_kernels = int(n_kernels)
    kernels = sum(
        torch.exp(
            -dist / (2.0 * sigma2_base * float(kernel_mul) ** (k - n_kernels // 2))
        )
        for k in range(n_kernels)
    )

    k_ss = kernels[:n, :n]
    k_tt = kernels[n:, n:]
    k_st = kernels[:n, n:]
    if unbiased:
        # The diagonal distances are exactly zero, so each diagonal entry equals
        # n_kernels; subtracting the trace leaves the off-diagonal sum.
        within_s = (k_ss.sum() - torch.diagonal(k_ss).sum()) / (n * (n - 1))
        within_t = (k_tt.sum() - torch.diagonal(k_tt).sum()) / (m * (m - 1))
    else:
        within_s = k_ss.mean()
        within_t = k_tt.mean()
    return within_s + within_t - 2.0 * k_st.mean()


# ---------------------------------------------------------------------------
# Domain-adversarial training
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Fisher loss and entropy minimisation
# ---------------------------------------------------------------------------


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


def total_loss(
    classification: Tensor,
    *,
    transfer: Tensor | None = None,
    fisher: Tensor | None = None,
    entropy: Tensor | None = None,
    transfer_weight: float = 1.0,
    entropy_weight: float = 0.0,
) -> Tensor:
    r"""Total training loss of the paper's eq. 2.

    .. math:: \mathcal{L}_{TOT} = \mathcal{L}_{CL} + \mathcal{L}_{FL}
              + \lambda_{EM}\mathcal{L}_{EM} + \lambda_{TL}\mathcal{L}_{TL}.

    The Fisher term enters without an extra weight because :func:`fisher_loss`
    already carries :math:`\lambda_w` and :math:`\lambda_b` (paper Sect. 2.2:
    :math:`\lambda_{FL} = \lambda_w / \lambda_b`) [1]_. Terms given as ``None`` are
    left out.

    Parameters
    ----------
    classification : Tensor
        Classification loss :math:`\mathcal{L}_{CL}` on the source batch.
    transfer : Tensor or None, default=None
        Transfer loss :math:`\mathcal{L}_{TL}` (:func:`mmd_loss` or
        :func:`domain_adversarial_loss`).
    fisher : Tensor or None, default=None
        Fisher loss :math:`\mathcal{L}_{FL}` (:func:`fisher_loss`).
    entropy : Tensor or None, default=None
        Entropy loss :math:`\mathcal{L}_{EM}` (:func:`entropy_loss`).
    transfer_weight : float, default=1.0
        :math:`\lambda_{TL}`.
    entropy_weight : float, default=0.0
        :math:`\lambda_{EM}`.

    Returns
    -------
    loss : Tensor
        Scalar tensor.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.
    """
    loss = classification
    if fisher is not None:
        loss = loss + fisher
    if entropy is not None:
        loss = loss + entropy_weight * entropy
    if transfer is not None:
        loss = loss + transfer_weight * transfer
    return loss
