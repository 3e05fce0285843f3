"""The Sinkhorn-divergence estimator with learned loss weights (after SIDDA)."""

from __future__ import annotations

from .._engine.objectives import SinkhornObjective
from ._base import DomainAdaptationClassifier
from ._docstrings import fill_docstring

__all__ = ["SinkhornClassifier"]


@fill_docstring
class SinkhornClassifier(DomainAdaptationClassifier, objective=SinkhornObjective):
    """Sinkhorn-divergence alignment with learned loss weights, after SIDDA.

    The network minimises
    ``exp(-s_1) CE + exp(-s_2) * transfer_weight * S_eps(h_s, h_t) + s_1 + s_2``,
    where ``S_eps`` is the debiased Sinkhorn divergence between the source and
    target feature batches (squared Euclidean cost, entropic regularisation
    ``eps = 2 (sinkhorn_blur * max_ij ||h_s,i - h_t,j||)^2`` recomputed from each
    batch, as SIDDA sets its blur), by default divided by the batches' mean squared
    source-target distance so that its size does not depend on the scale of the
    features (``sinkhorn_normalize``; in raw units the divergence of DeepMerge's
    features outweighs the cross-entropy several hundred times), and ``s_1, s_2``
    are log-variances learned with the network (homoscedastic-uncertainty
    weighting, Kendall et al. 2018), so that the balance of classification and
    alignment needs no tuning. This is
    SIDDA's loss ``CE / (2 eta_1^2) + S / (2 eta_2^2) + log(eta_1 eta_2)`` written
    with ``s = log eta^2`` (up to a factor 2), including SIDDA's bound
    ``eta_2 >= eta_1 / 4`` (the alignment weight is at most 16 times the
    classification weight). The Fisher loss and entropy minimisation of paper eq. 2
    can be added; they are not reweighted. The plans come from POT's Sinkhorn
    iterations.

    Parameters
    ----------
    %(adaptation)s
    sinkhorn_blur : float, default=0.05
        Blur as a fraction of the largest source-target feature distance of each
        batch (SIDDA's value); sets the entropic regularisation when
        ``sinkhorn_epsilon`` is None.
    sinkhorn_epsilon : float or None, default=None
        Fixed entropic regularisation, in units of squared feature distances;
        None sets it from each batch with ``sinkhorn_blur``.
    sinkhorn_max_iter : int, default=1000
        Maximum number of Sinkhorn iterations per transport problem (three per
        step).
    sinkhorn_normalize : bool, default=True
        Divide the divergence by the batches' mean squared source-target feature
        distance (detached), so that its size does not grow with the scale of
        the features.
    dynamic_weights : bool, default=True
        Learn the weights of the classification and alignment terms; False uses
        the fixed weights of paper eq. 2 (1 and ``transfer_weight``).
    %(common)s

    %(attributes)s

    See Also
    --------
    DeepJDOTClassifier : exact optimal transport of features and labels.
    MMDClassifier : kernel-based alignment, the large-blur limit of ``S_eps``.
    skdamerge.losses.sinkhorn_divergence : the transfer loss.

    References
    ----------
    .. [1] Pandya, S., Patel, P., Nord, B. D., Walmsley, M., & Ćiprijanović, A.
       (2025). "SIDDA: SInkhorn Dynamic Domain Adaptation for Image
       Classification with Equivariant Neural Networks." arXiv:2501.14048.
    .. [2] Feydy, J., Séjourné, T., Vialard, F.-X., Amari, S., Trouvé, A., &
       Peyré, G. (2019). "Interpolating between optimal transport and MMD using
       Sinkhorn divergences." AISTATS, 2681-2690.
    .. [3] Kendall, A., Gal, Y., & Cipolla, R. (2018). "Multi-task learning using
       uncertainty to weigh losses for scene geometry and semantics." CVPR,
       7482-7491.
    .. [4] Flamary, R., et al. (2021). "POT: Python Optimal Transport." JMLR
       22(78), 1-8.

    Examples
    --------
    >>> from skdamerge import SinkhornClassifier
    >>> from skdamerge.datasets import make_galaxy_mergers
    >>> Xs, ys, Xt, yt = make_galaxy_mergers(200, random_state=0)
    >>> clf = SinkhornClassifier(max_epochs=2, random_state=0)
    >>> clf.fit(Xs, ys, X_target=Xt).predict_proba(Xt).shape
    (200, 2)
    """

    def __init__(
        self,
        *,
        transfer_weight=1.0,
        fisher_intra_weight=0.0,
        fisher_inter_weight=1.0,
        fisher_kind="ratio",
        entropy_weight=0.0,
        sinkhorn_blur=0.05,
        sinkhorn_epsilon=None,
        sinkhorn_max_iter=1000,
        sinkhorn_normalize=True,
        dynamic_weights=True,
        backbone="auto",
        feature_layer=None,
        dropout=None,
        max_epochs=100,
        batch_size=128,
        lr=1e-3,
        betas=(0.7, 0.8),
        eps=1e-8,
        weight_decay=1e-4,
        cycle_length=8,
        patience=20,
        validation_fraction=0.125,
        augment=False,
        init_weights=None,
        freeze_features=False,
        checkpoint_path=None,
        resume_from=None,
        callbacks=None,
        random_state=None,
        device="auto",
        precision="fp32",
        data_parallel=False,
        verbose=0,
    ):
        self.transfer_weight = transfer_weight
        self.fisher_intra_weight = fisher_intra_weight
        self.fisher_inter_weight = fisher_inter_weight
        self.fisher_kind = fisher_kind
        self.entropy_weight = entropy_weight
        self.sinkhorn_blur = sinkhorn_blur
        self.sinkhorn_epsilon = sinkhorn_epsilon
        self.sinkhorn_max_iter = sinkhorn_max_iter
        self.sinkhorn_normalize = sinkhorn_normalize
        self.dynamic_weights = dynamic_weights
        self.backbone = backbone
        self.feature_layer = feature_layer
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.cycle_length = cycle_length
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.augment = augment
        self.init_weights = init_weights
        self.freeze_features = freeze_features
        self.checkpoint_path = checkpoint_path
        self.resume_from = resume_from
        self.callbacks = callbacks
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.data_parallel = data_parallel
        self.verbose = verbose
