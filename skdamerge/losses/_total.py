"""The total training loss of DeepMerge II [1]_, the weighted sum of eq. 2.

References
----------
.. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
   Building robust deep learning algorithms for merging galaxy identification
   across domains." MNRAS 506, 677-691.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["total_loss"]


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
