"""The conditional domain-adversarial estimator, CDAN (Long et al. 2018)."""

from __future__ import annotations

from .._engine.objectives import CDANObjective
from ._base import DomainAdaptationClassifier
from ._docstrings import fill_docstring

__all__ = ["CDANClassifier"]


@fill_docstring
class CDANClassifier(DomainAdaptationClassifier, objective=CDANObjective):
    r"""Conditional domain-adversarial network (CDAN, CDAN+E).

    A domain classifier (map → 1024 → 1024 → 1, ReLU, dropout 0.5) learns to tell
    source from target on the multilinear map :math:`T(f, g) = f \otimes g` of the
    latent features :math:`f` and the softmax predictions :math:`g` (detached, as
    in the authors' code), while a gradient reversal layer makes the feature
    extractor confuse it (Long et al. 2018). Conditioning on the predictions
    aligns the features class by class rather than as a whole. When
    :math:`d \cdot C` exceeds 4096 (the DeepMerge features of 75 × 75 images)
    the randomized map :math:`(R_f f) \odot (R_g g) / \sqrt{m}` with fixed
    Gaussian matrices replaces it. The domain classifier is trained at
    ``lr * domain_lr_multiplier``, with Ganin's reversal schedule, as in
    :class:`DANNClassifier`; optional Fisher loss and entropy minimisation as in
    DeepMerge II eq. 2.

    Orientation augmentation is on by default (``augment="auto"``; the CDAN
    paper has none): on the built-in simulator it raised the mean target
    accuracy in seven of eight groups of three seeds, most at the estimators'
    default training length and on the telescope-like shift (the figures are
    in ``benchmarks/RESULTS.md``).

    Parameters
    ----------
    %(adaptation)s
    domain_lr_multiplier : float, default=0.01
        Learning-rate multiplier of the domain classifier. 0.01 is the value
        that the adversarial rows of ``skdamerge reproduce`` use on the
        simulated pair (at the full learning rate the domain classifier wins);
        the CDAN paper trains it at the network's learning rate.
    grl_schedule : {"ganin", "constant"}, default="ganin"
        Scale of the reversed gradient over training: Ganin's
        ``2 / (1 + exp(-10 p)) - 1`` with ``p`` the fraction of the planned steps
        done (the CDAN paper's schedule), or a constant 1.
    entropy_conditioning : bool, default=False
        CDAN+E: weight each sample's domain loss by ``1 + exp(-H(g))``, with
        ``H`` the entropy of its predictions, normalised to sum to one per
        domain, so that confidently predicted samples count more.
    randomized : bool or "auto", default="auto"
        Use the randomized multilinear map. ``"auto"`` does so when the full map
        has more than 4096 entries (``n_features * 2``), as in the paper.
    randomized_dim : int, default=1024
        Size ``m`` of the randomized map (the paper's value). The random
        matrices are drawn once, from ``random_state``, and saved with the
        weights.
    %(common)s

    %(attributes)s

    See Also
    --------
    DANNClassifier : the unconditioned domain-adversarial network.
    skdamerge.losses.multilinear_map : the discriminator's input.
    skdamerge.losses.conditional_adversarial_loss : the transfer loss.

    References
    ----------
    .. [1] Long, M., Cao, Z., Wang, J., Jordan, M. I. (2018). "Conditional
       adversarial domain adaptation." NeurIPS 31, 1640-1650.
    .. [2] Ganin, Y., et al. (2016). "Domain-adversarial training of neural
       networks." JMLR 17(59), 1-35.

    Examples
    --------
    >>> from skdamerge import CDANClassifier
    >>> from skdamerge.datasets import make_galaxy_mergers
    >>> Xs, ys, Xt, yt = make_galaxy_mergers(200, random_state=0)
    >>> clf = CDANClassifier(max_epochs=2, random_state=0).fit(Xs, ys, X_target=Xt)
    >>> clf.predict_proba(Xt).shape
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
        domain_lr_multiplier=0.01,
        grl_schedule="ganin",
        entropy_conditioning=False,
        randomized="auto",
        randomized_dim=1024,
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
        augment="auto",
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
        self.domain_lr_multiplier = domain_lr_multiplier
        self.grl_schedule = grl_schedule
        self.entropy_conditioning = entropy_conditioning
        self.randomized = randomized
        self.randomized_dim = randomized_dim
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
