r"""Optimal-transport transfer losses: DeepJDOT [1]_ and the Sinkhorn divergence [2]_.

Both compare the empirical measures of a source and a target batch through a
transport plan computed by the POT library [3]_:

- :func:`jdot_loss`: exact optimal transport of the joint (feature, label)
  distributions, the transfer loss of DeepJDOT;
- :func:`sinkhorn_divergence`: the debiased entropic optimal-transport divergence
  between the two feature batches, the alignment loss of SIDDA [4]_.

The plans are computed on detached costs (no gradient flows through the solver);
the losses are differentiable with respect to the features and logits through the
cost matrices.

References
----------
.. [1] Damodaran, B. B., Kellenberger, B., Flamary, R., Tuia, D., & Courty, N.
   (2018). "DeepJDOT: Deep Joint Distribution Optimal Transport for Unsupervised
   Domain Adaptation." ECCV, 447-463.
.. [2] Feydy, J., Séjourné, T., Vialard, F.-X., Amari, S., Trouvé, A., & Peyré, G.
   (2019). "Interpolating between optimal transport and MMD using Sinkhorn
   divergences." AISTATS, 2681-2690.
.. [3] Flamary, R., et al. (2021). "POT: Python Optimal Transport." JMLR 22(78),
   1-8.
.. [4] Pandya, S., Patel, P., Nord, B. D., Walmsley, M., & Ćiprijanović, A. (2025).
   "SIDDA: SInkhorn Dynamic Domain Adaptation for Image Classification with
   Equivariant Neural Networks." arXiv:2501.14048.
"""

from __future__ import annotations

import math

import numpy as np
import ot
import torch
import torch.nn.functional as F
from torch import Tensor

from ._inputs import _as_samples

__all__ = ["jdot_loss", "sinkhorn_divergence", "sinkhorn_epsilon"]


def _check_pair(source: Tensor, target: Tensor, loss: str) -> tuple[Tensor, Tensor]:
    source = _as_samples(source, "source")
    target = _as_samples(target, "target")
    if source.shape[1] != target.shape[1]:
        raise ValueError(
            "source and target must have the same number of features, got "
            f"{source.shape[1]} and {target.shape[1]}."
        )
    if len(source) < 1 or len(target) < 1:
        raise ValueError(
            f"{loss} needs at least one sample in source and in target, got "
            f"n={len(source)} and m={len(target)}."
        )
    return source, target


def _sq_euclidean(x: Tensor, y: Tensor) -> Tensor:
    """Squared Euclidean distances between the rows of ``x`` and ``y``.

    Both are centred on their pooled mean first (detached: distances are
    translation invariant, and centring reduces cancellation in
    ``|a|^2 + |b|^2 - 2 a.b``); the result is clamped at zero.
    """
    centre = torch.cat([x, y]).mean(dim=0, keepdim=True).detach()
    x, y = x - centre, y - centre
    cost = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return cost.clamp(min=0.0)


# Largest cost / epsilon for which the plain Sinkhorn kernel exp(-C / epsilon)
# stays far from float64 underflow.
_PLAIN_SINKHORN_RANGE = 300.0


def _uniform(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


def jdot_loss(
    source_features: Tensor,
    source_labels: Tensor,
    target_features: Tensor,
    target_logits: Tensor,
    *,
    alpha: float = 0.001,
    lambda_t: float = 0.0001,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    r"""DeepJDOT transfer loss: exact optimal transport of the joint distributions.

    The cost of moving source sample :math:`i` onto target sample :math:`j` joins
    the feature distance and the loss of the target prediction against the source
    label [1]_ (eq. 5),

    .. math:: C_{ij} = \alpha \lVert g(x^s_i) - g(x^t_j)\rVert^2
              + \lambda_t\, \mathrm{CE}\bigl(y^s_i, f(g(x^t_j))\bigr),

    with :math:`\mathrm{CE}(y, z) = -\log \operatorname{softmax}(z)_y`. The plan
    :math:`\gamma` is the exact optimal transport plan between the uniform
    measures of the two batches (``ot.emd`` of POT [2]_, on the detached costs),
    and the loss is :math:`\sum_{ij} \gamma_{ij} C_{ij}`: as in the paper's
    alternating optimisation, :math:`\gamma` is fixed while the network descends
    the loss, so gradients flow through :math:`C` only.

    Parameters
    ----------
    source_features : Tensor of shape (n, d)
        Source feature vectors :math:`g(x^s)` (flattened after the first
        dimension).
    source_labels : Tensor of shape (n,)
        Integer class labels of the source samples.
    target_features : Tensor of shape (m, d)
        Target feature vectors :math:`g(x^t)`.
    target_logits : Tensor of shape (m, n_classes)
        Class logits of the target samples :math:`f(g(x^t))`.
    alpha : float, default=0.001
        Weight :math:`\alpha` of the feature distance (the paper's value).
    lambda_t : float, default=0.0001
        Weight :math:`\lambda_t` of the label cost (the paper's value).
    return_terms : bool, default=False
        Also return the feature and label parts of the loss,
        :math:`\sum_{ij}\gamma_{ij}\alpha\lVert\cdot\rVert^2` and
        :math:`\sum_{ij}\gamma_{ij}\lambda_t\mathrm{CE}`, whose sum is the loss.

    Returns
    -------
    loss : Tensor
        Scalar tensor, differentiable with respect to the features and logits.
    feature_term, label_term : Tensor
        Only with ``return_terms=True``.

    Raises
    ------
    ValueError
        If the shapes do not match, a batch is empty, a label is not a class of
        the logits, or a weight is negative.

    References
    ----------
    .. [1] Damodaran, B. B., Kellenberger, B., Flamary, R., Tuia, D., & Courty,
       N. (2018). "DeepJDOT: Deep Joint Distribution Optimal Transport for
       Unsupervised Domain Adaptation." ECCV, 447-463.
    .. [2] Flamary, R., et al. (2021). "POT: Python Optimal Transport." JMLR
       22(78), 1-8.

    Examples
    --------
    >>> import torch
    >>> from skdamerge.losses import jdot_loss
    >>> fs = torch.tensor([[0.0], [1.0]])
    >>> ft = torch.tensor([[1.0], [0.0]])
    >>> ys = torch.tensor([0, 1])
    >>> zt = torch.zeros(2, 2)
    >>> round(float(jdot_loss(fs, ys, ft, zt, alpha=1.0, lambda_t=0.0)), 6)
    0.0
    """
    source_features, target_features = _check_pair(
        source_features, target_features, "jdot_loss"
    )
    if not (alpha >= 0 and lambda_t >= 0):
        raise ValueError(
            f"alpha and lambda_t must be non-negative, got {alpha!r} and {lambda_t!r}."
        )
    source_labels = torch.as_tensor(source_labels, device=source_features.device)
    if source_labels.shape != (len(source_features),):
        raise ValueError(
            "source_labels must hold one label per source sample, got shape "
            f"{tuple(source_labels.shape)} for {len(source_features)} samples."
        )
    if target_logits.ndim != 2 or len(target_logits) != len(target_features):
        raise ValueError(
            "target_logits must have shape (m, n_classes) with one row per target "
            f"sample, got {tuple(target_logits.shape)}."
        )
    source_labels = source_labels.long()
    n_classes = target_logits.shape[1]
    if len(source_labels) and (
        source_labels.min() < 0 or source_labels.max() >= n_classes
    ):
        raise ValueError(f"source_labels must lie in [0, {n_classes}).")
    feature_cost = alpha * _sq_euclidean(source_features, target_features)
    # label_cost[i, j] = -log p_j(y_i): target prediction j against source label i.
    log_proba = F.log_softmax(target_logits, dim=1)
    label_cost = lambda_t * (-log_proba[:, source_labels].T)
    cost = feature_cost + label_cost
    plan = ot.emd(
        _uniform(len(source_features)),
        _uniform(len(target_features)),
        cost.detach().double().cpu().numpy(),
    )
    plan = torch.from_numpy(plan).to(device=cost.device, dtype=cost.dtype)
    feature_term = (plan * feature_cost).sum()
    label_term = (plan * label_cost).sum()
    loss = feature_term + label_term
    if return_terms:
        return loss, feature_term, label_term
    return loss


def _entropic_ot(cost: Tensor, epsilon: float, max_iter: int, tol: float) -> Tensor:
    r"""Entropic OT cost between uniform measures, with its envelope gradient.

    The plan comes from POT's Sinkhorn iterations on the detached cost (float64);
    the value :math:`\langle\gamma, C\rangle + \varepsilon\,
    \mathrm{KL}(\gamma\,\|\,a\otimes b)` is then differentiable through ``cost``
    with :math:`\gamma` fixed, which is its exact gradient at the optimum
    (envelope theorem).
    """
    n, m = cost.shape
    detached = cost.detach().double().cpu().numpy()
    # The plain iterations are faster; the log-domain ones do not underflow when
    # the costs are large compared with epsilon.
    plain = detached.max() < _PLAIN_SINKHORN_RANGE * epsilon
    method = "sinkhorn" if plain else "sinkhorn_log"
    plan = ot.sinkhorn(
        _uniform(n),
        _uniform(m),
        detached,
        epsilon,
        method=method,
        numItermax=max_iter,
        stopThr=tol,
        warn=False,
    )
    plan = torch.from_numpy(plan).to(cost.device)
    kl = torch.special.xlogy(plan, plan * (n * m)).sum()
    plan = plan.to(cost.dtype)
    return (plan * cost).sum() + epsilon * kl.to(cost.dtype)


def sinkhorn_epsilon(source: Tensor, target: Tensor, blur: float = 0.05) -> float:
    r"""Entropic regularisation set from the batches: :math:`2 (b \max_{ij} d_{ij})^2`.

    :math:`d_{ij} = \lVert s_i - t_j\rVert` are the Euclidean source-target
    distances (detached) and :math:`b` is ``blur``: SIDDA's blur
    :math:`\sigma = b \max_{ij} d_{ij}` [1]_, whose entropic regularisation
    :math:`\sigma^2` on geomloss's cost :math:`\tfrac12\lVert\cdot\rVert^2` is
    :math:`2\sigma^2` on the squared Euclidean cost.

    Parameters
    ----------
    source : Tensor of shape (n, d)
        Source feature vectors.
    target : Tensor of shape (m, d)
        Target feature vectors.
    blur : float, default=0.05
        :math:`b`, SIDDA's fraction of the largest distance.

    Returns
    -------
    epsilon : float
        The regularisation, or 1.0 when all distances are zero.

    References
    ----------
    .. [1] Pandya, S., Patel, P., Nord, B. D., Walmsley, M., & Ćiprijanović, A.
       (2025). "SIDDA: SInkhorn Dynamic Domain Adaptation for Image
       Classification with Equivariant Neural Networks." arXiv:2501.14048.
    """
    source, target = _check_pair(source, target, "sinkhorn_epsilon")
    if not blur > 0:
        raise ValueError(f"blur must be positive, got {blur!r}.")
    with torch.no_grad():
        largest = float(_sq_euclidean(source.float(), target.float()).max())
    epsilon = 2.0 * blur**2 * largest
    return epsilon if epsilon > 0 and math.isfinite(epsilon) else 1.0


def sinkhorn_divergence(
    source: Tensor,
    target: Tensor,
    *,
    epsilon: float | None = None,
    blur: float = 0.05,
    max_iter: int = 1000,
    tol: float = 1e-7,
    normalize: bool = False,
) -> Tensor:
    r"""Debiased Sinkhorn divergence between two feature batches.

    For the uniform empirical measures :math:`\alpha` (source) and :math:`\beta`
    (target) and the squared Euclidean cost :math:`C_{ij} = \lVert s_i -
    t_j\rVert^2`, [1]_

    .. math:: S_\varepsilon(\alpha, \beta) = \mathrm{OT}_\varepsilon(\alpha,
              \beta) - \tfrac12 \mathrm{OT}_\varepsilon(\alpha, \alpha)
              - \tfrac12 \mathrm{OT}_\varepsilon(\beta, \beta),

    with the entropic transport cost :math:`\mathrm{OT}_\varepsilon(\alpha,\beta) =
    \min_{\gamma \in \Pi(\alpha,\beta)} \langle\gamma, C\rangle + \varepsilon\,
    \mathrm{KL}(\gamma\,\|\,\alpha\otimes\beta)`. The divergence is zero for equal
    measures, positive otherwise, and interpolates between the squared
    Wasserstein-2 distance (:math:`\varepsilon \to 0`) and an MMD
    (:math:`\varepsilon \to \infty`). The plans come from POT's Sinkhorn
    iterations [2]_ on the detached costs (in the log domain where a cost exceeds
    :math:`300\varepsilon`); the gradient is taken through the costs with the
    plans fixed, which is the exact gradient at convergence.

    Parameters
    ----------
    source : Tensor of shape (n, d)
        Source feature vectors (flattened after the first dimension).
    target : Tensor of shape (m, d)
        Target feature vectors.
    epsilon : float or None, default=None
        Entropic regularisation :math:`\varepsilon`, in units of the squared
        distances. None sets it from the batches with ``blur`` (see
        :func:`sinkhorn_epsilon`): :math:`2 (b \max_{ij} \lVert s_i - t_j\rVert)^2`,
        the choice of SIDDA [3]_ (detached, recomputed for every batch).
    blur : float, default=0.05
        :math:`b`, the fraction of the largest source-target distance used as the
        blur scale when ``epsilon`` is None.
    max_iter : int, default=1000
        Maximum number of Sinkhorn iterations per transport problem.
    tol : float, default=1e-7
        Stopping threshold on the marginal violation.
    normalize : bool, default=False
        Divide the divergence by the mean squared source-target distance of the
        batches, :math:`\bar C = \frac{1}{nm}\sum_{ij} C_{ij}` (detached): the
        divergence in units of the batches' own squared feature scale, which
        makes it dimensionless and its size independent of how large the
        features are (:math:`S_\varepsilon(C) / \bar C = S_{\varepsilon /
        \bar C}(C / \bar C)`), as a kernel bandwidth set from the mean distance
        does for an MMD.

    Returns
    -------
    loss : Tensor
        Scalar tensor, differentiable with respect to ``source`` and ``target``.

    Raises
    ------
    ValueError
        If the feature dimensions differ, a batch is empty, or a parameter is not
        positive.

    References
    ----------
    .. [1] Feydy, J., Séjourné, T., Vialard, F.-X., Amari, S., Trouvé, A., &
       Peyré, G. (2019). "Interpolating between optimal transport and MMD using
       Sinkhorn divergences." AISTATS, 2681-2690.
    .. [2] Flamary, R., et al. (2021). "POT: Python Optimal Transport." JMLR
       22(78), 1-8.
    .. [3] Pandya, S., Patel, P., Nord, B. D., Walmsley, M., & Ćiprijanović, A.
       (2025). "SIDDA: SInkhorn Dynamic Domain Adaptation for Image
       Classification with Equivariant Neural Networks." arXiv:2501.14048.

    Examples
    --------
    >>> import torch
    >>> from skdamerge.losses import sinkhorn_divergence
    >>> g = torch.Generator().manual_seed(0)
    >>> xs = torch.randn(32, 4, generator=g)
    >>> xt = torch.randn(32, 4, generator=g)
    >>> far = sinkhorn_divergence(xs, xt + 3.0, epsilon=1.0)
    >>> near = sinkhorn_divergence(xs, xt + 1.0, epsilon=1.0)
    >>> bool(far > near > 0)
    True
    """
    source, target = _check_pair(source, target, "sinkhorn_divergence")
    if epsilon is not None and not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(f"epsilon must be positive and finite, got {epsilon!r}.")
    if not blur > 0:
        raise ValueError(f"blur must be positive, got {blur!r}.")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}.")
    if epsilon is None:
        epsilon = sinkhorn_epsilon(source, target, blur)
    max_iter = int(max_iter)
    cross_cost = _sq_euclidean(source, target)
    cross = _entropic_ot(cross_cost, epsilon, max_iter, tol)
    self_source = _entropic_ot(_sq_euclidean(source, source), epsilon, max_iter, tol)
    self_target = _entropic_ot(_sq_euclidean(target, target), epsilon, max_iter, tol)
    divergence = cross - 0.5 * self_source - 0.5 * self_target
    if normalize:
        unit = float(cross_cost.detach().mean())
        divergence = divergence / (unit if unit > 0 and math.isfinite(unit) else 1.0)
    return divergence
