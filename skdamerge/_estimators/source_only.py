"""The source-only baseline estimator (DeepMerge II "noDA")."""

from __future__ import annotations

from .._engine.objectives import SourceOnlyObjective
from ._base import DomainAdaptationClassifier
from ._docstrings import fill_docstring

__all__ = ["SourceOnlyClassifier"]


@fill_docstring
class SourceOnlyClassifier(DomainAdaptationClassifier, objective=SourceOnlyObjective):
    """Classifier trained on the labelled source domain only (no domain adaptation).

    The "noDA" baseline of DeepMerge II: cross-entropy on the source images with the
    same network, optimiser, learning-rate cycle and early stopping as the
    domain-adaptation estimators. ``X_target`` is accepted and ignored, so that the
    three estimators are interchangeable in a pipeline or a search.

    Parameters
    ----------
    %(common)s

    %(attributes)s

    See Also
    --------
    MMDClassifier : adds an MMD transfer loss on the target domain.
    DANNClassifier : adds domain-adversarial training.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II: Building robust deep
       learning algorithms for merging galaxy identification across domains."
       MNRAS 506, 677-691. Table A2, "No Domain Adaptations".

    Examples
    --------
    >>> from skdamerge import SourceOnlyClassifier
    >>> from skdamerge.datasets import make_galaxy_mergers
    >>> Xs, ys, Xt, yt = make_galaxy_mergers(200, random_state=0)
    >>> clf = SourceOnlyClassifier(max_epochs=2, random_state=0).fit(Xs, ys)
    >>> clf.predict_proba(Xt).shape
    (200, 2)
    """

    def __init__(
        self,
        *,
        backbone="auto",
        feature_layer=None,
        dropout=None,
        max_epochs=100,
        batch_size=128,
        lr=1e-3,
        betas=(0.7, 0.8),
        eps=1e-8,
        weight_decay=0.01,
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

    def fit(self, X, y, X_target=None, *, groups=None, validation_data=None):
        """Train on the labelled source images (``X_target`` is ignored).

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width) or \
(n_samples, n_features)
            Labelled source domain, channels first.
        y : array-like of shape (n_samples,)
            Binary labels; with 0/1 labels, 1 is merger.
        X_target : array-like, default=None
            Ignored; accepted so that all estimators share one signature.
        groups : array-like of shape (n_samples,), default=None
            Group of each sample (copies of one galaxy share a group); the
            validation split keeps groups whole.
        validation_data : tuple (X_valid, y_valid), default=None
            An explicit validation set instead of ``validation_fraction``.

        Returns
        -------
        self
            The fitted estimator.
        """
        return super().fit(
            X, y, X_target=None, groups=groups, validation_data=validation_data
        )
