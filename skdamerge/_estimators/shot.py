"""Source hypothesis transfer, SHOT (Liang, Hu & Feng 2020), with a source-free mode."""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._engine.checkpoint import load_checkpoint
from .._engine.module import DomainAdaptationModule
from .._engine.net import TrainingData
from .._engine.objectives import SHOTObjective
from .._engine.orientation import augments_images
from .._engine.precision import resolve_precision
from .._engine.validation_split import training_data
from .._files import load_skdamerge_file
from .._outofcore import LazyImages, check_input_images
from .._target import unwrap_target
from .._validation import (
    check_binary_labels,
    check_same_sample_shape,
    check_target_size,
)
from ..nets import FeatureExtractor, make_backbone
from ._base import (
    DomainAdaptationClassifier,
    _resolve_device,
)
from ._building import WEIGHTS_FORMAT, _frozen_norm_layers, freeze_part
from ._docstrings import fill_docstring
from .source_only import SourceOnlyClassifier

__all__ = ["SHOTClassifier"]


class _SourceHypothesis(NamedTuple):
    """A trained source network: its weights and how to rebuild it."""

    state: dict
    input_shape: tuple[int, ...]
    classes: np.ndarray
    merger_fraction: float
    backbone: object
    feature_layer: str | None
    dropout: float | None


def _hypothesis_of(source, estimator) -> _SourceHypothesis:
    """Read ``source_model``: a fitted estimator, a model file or a weights file."""
    if isinstance(source, str | os.PathLike):
        from ..model_files import is_model_file, load_model

        if is_model_file(source):
            # A model file is read safely; its network is that of its estimator
            # (the final step of a pipeline).
            model = load_model(source)
            return _hypothesis_of(getattr(model, "steps", [(None, model)])[-1][1], None)
        saved = load_skdamerge_file(
            source,
            argument="source_model",
            file_format=WEIGHTS_FORMAT,
            kind="weights file",
            hint="a model file written by skdamerge.save_model, or a file written "
            "by save_weights() of a fitted estimator",
        )
        return _SourceHypothesis(
            saved["state_dict"],
            tuple(saved["input_shape"]),
            np.array([0, 1]),
            0.5,
            estimator.backbone,
            estimator.feature_layer,
            estimator.dropout,
        )
    if not isinstance(source, DomainAdaptationClassifier):
        raise TypeError(
            "source_model must be a fitted skdamerge estimator (not a pipeline), "
            "the path of a model file written by skdamerge.save_model or the path "
            "of a file written by save_weights(); got "
            f"{type(source).__name__}."
        )
    check_is_fitted(source, "net_")
    backbone = source.module_.extractor.backbone
    return _SourceHypothesis(
        {k: v.detach().cpu().clone() for k, v in backbone.state_dict().items()},
        tuple(source.input_shape_),
        np.array(source.classes_),
        float(getattr(source, "source_merger_fraction_", 0.5)),
        source.backbone,
        source.feature_layer,
        source.dropout,
    )


def _target_module(hypothesis: _SourceHypothesis, X_target) -> DomainAdaptationModule:
    """Rebuild the source network, its head (after the features) frozen."""
    backbone = make_backbone(
        hypothesis.backbone, hypothesis.input_shape, dropout=hypothesis.dropout
    )
    extractor = FeatureExtractor(backbone, hypothesis.feature_layer)
    try:
        extractor.backbone.load_state_dict(hypothesis.state)
    except RuntimeError as error:
        raise ValueError(
            "The weights of source_model do not fit the backbone (was the source "
            "model trained with another backbone, feature_layer or image shape? "
            f"For a weights file, set SHOTClassifier's backbone to its): {error}"
        ) from error
    freeze_part(extractor, X_target, "head")
    module = DomainAdaptationModule(extractor)
    module.freeze_norm_layers(_frozen_norm_layers(extractor))
    return module


class _SourceStage(SourceOnlyClassifier):
    """SHOT's source stage: a source-only fit with a label-smoothing objective."""

    def _make_objective(self):
        return self._source_objective


@fill_docstring
class SHOTClassifier(DomainAdaptationClassifier, objective=SHOTObjective):
    """Source hypothesis transfer (SHOT): adapt a trained model with target images only.

    SHOT [1]_ adapts in two stages. The **source stage** trains the network on
    the labelled source with label-smoothing cross-entropy (smoothing
    ``label_smoothing``), as :class:`SourceOnlyClassifier` does otherwise. The
    **target stage** freezes the classifier head (the layers after
    ``feature_layer``: the source *hypothesis*) and trains the feature extractor
    on the unlabelled target alone, minimising per batch

    ``L = mean_i H(p_i) - diversity_weight * H(mean_i p_i)
    + shot_beta * CE(p, ŷ)``,

    the information maximisation loss (confident, diverse predictions) plus the
    cross-entropy against pseudo-labels ``ŷ``. At the start of every target
    epoch the class centroids of the whole target set are computed in feature
    space from the current predictions (``c_k = Σ_i p_ik f_i / Σ_i p_ik``), each
    image takes the label of the nearest centroid in cosine distance, the
    centroids are recomputed once from these labels and the labels reassigned
    (:func:`skdamerge.losses.shot_pseudo_labels`). The source stage trains up to
    ``max_epochs`` epochs with early stopping, the target stage
    ``target_epochs`` passes over the target set at ``lr *
    target_lr_multiplier``.

    The defaults were chosen on the built-in simulator (see :ref:`choosing`): the
    target stage trains the feature extractor at a tenth of ``lr`` (the rate at
    which the paper's code trains its backbone), for 15 epochs (the paper's),
    without the pseudo-label term (``shot_beta=0``: SHOT-IM; the paper's 0.3 did
    worse at every rate tried), and both stages turn the images
    (``augment="auto"``). With the target stage at ``lr`` and ``shot_beta=0.3``
    (this class's first defaults) the information maximisation balanced the
    predicted classes within a few epochs but lost the ranking of the target
    images (target AUC 0.50), and SHOT stayed at the source-only accuracy. The
    target-only batches first renormalise the batch-norm layers on the target; the
    slower target stage keeps that gain and moves the decision towards balanced
    classes. Without turning the images that was enough with 12-epoch source
    stages and batches of 64, but not with this class's ``max_epochs`` and
    ``batch_size``: there the two-stage fit stayed at source-only on seeds 1 and 2
    (0.49 and 0.52). Turning the images, at that length: 0.73 / 0.65 / 0.70 on
    seeds 1-3 and 0.75 / 0.70 / 0.64 on seeds 11-13 (source-only 0.50, and 0.61
    on seed 13).

    **Source-free mode.** The target stage needs no source data:
    ``SHOTClassifier(source_model=model).fit(X=None, y=None, X_target=X_target)``
    adapts the network of ``source_model``: a fitted skdamerge estimator, the
    path of a model file written by :func:`skdamerge.save_model` (read safely,
    without pickle; of a pipeline, its final estimator), or the path of a file
    written by its :meth:`save_weights` (the whole backbone, head included). A
    survey that receives only the trained model, not the simulations, can adapt
    it to its own images this way; the target images must be preprocessed as
    the source images were (for a model file holding a pipeline,
    ``load_model(path)[:-1].transform(X_target)``). A source model trained with
    ``augment=True`` adapts better: on the built-in simulator turning the images
    helped SHOT mostly through the source stage. Without source labels
    there is no validation set, so no early stopping: the target stage trains
    ``target_epochs`` epochs and keeps the last. The target collapse monitor still
    runs, against the source merger fraction of the source model (0.5 for a
    weights file); ``classes_`` are those of the source model ([0, 1] for a
    weights file). With a weights file, ``backbone``, ``feature_layer`` and
    ``dropout`` must be those the file was trained with; with an estimator or a
    model file they are taken from it. In a cross-validation or a search, pass
    a file: scikit-learn clones estimator-valued parameters, which unfits them.

    **With source data** (``source_model=None``), ``fit(X, y, X_target=...)``
    runs both stages: the source stage with early stopping on the source
    validation split (``patience``), then the target stage, which records the
    source validation scores but trains ``target_epochs`` epochs (the source
    loss is not what it minimises). Passing both ``X`` and ``source_model``, or
    neither, is an error.

    SHOT has no transfer, Fisher or entropy weights: its target stage sees no
    source batch to align with or to compute the Fisher loss on, and its
    entropy term is part of the information maximisation (its balance with the
    diversity is ``diversity_weight``).

    Parameters
    ----------
    source_model : estimator, path or None, default=None
        Source-free mode: a fitted skdamerge estimator, the path of a model file
        written by :func:`skdamerge.save_model`, or the path of a file written
        by ``save_weights()``, whose network the target stage adapts.
        None trains the source stage on ``X, y``.
    shot_beta : float, default=0.0
        Weight β of the pseudo-label cross-entropy; 0 is information
        maximisation alone (SHOT-IM), 0.3 the paper's value.
    label_smoothing : float, default=0.1
        Label smoothing of the source-stage cross-entropy, in [0, 1).
    diversity_weight : float, default=1.0
        Weight of the diversity term H(mean p) in the information maximisation;
        raise it if the target predictions drift onto one class.
    target_lr_multiplier : float, default=0.1
        The target stage trains the feature extractor at ``lr *
        target_lr_multiplier`` (the source stage at ``lr``); in source-free mode
        this is the only stage. 0.1 is the paper's code's rate for the backbone.
    target_epochs : int or None, default=15
        Number of passes over the target set in the target stage (the paper's
        15); None trains ``max_epochs``.
    %(common)s

    %(attributes)s
    source_estimator_ : SourceOnlyClassifier or None
        The source stage's fitted model (None in source-free mode).

    See Also
    --------
    SourceOnlyClassifier : the source model SHOT starts from.
    skdamerge.losses.information_maximization_loss : the IM loss.
    skdamerge.losses.shot_pseudo_labels : the centroid pseudo-labels.

    Notes
    -----
    Of the common parameters, ``init_weights`` starts the source stage (it
    cannot be combined with ``source_model``); ``freeze_features`` must stay
    False (the target stage trains the features, the head is frozen);
    ``checkpoint_path`` and ``resume_from`` apply to the target stage (a
    resumed two-stage fit trains its source stage again). scikit-learn's
    estimator checks do not apply: ``fit`` needs ``X_target``.

    References
    ----------
    .. [1] Liang, J., Hu, D., Feng, J. (2020). "Do we really need to access the
       source data? Source hypothesis transfer for unsupervised domain
       adaptation." ICML, PMLR 119, 6028-6039.
    .. [2] Müller, R., Kornblith, S., Hinton, G. (2019). "When does label
       smoothing help?" NeurIPS 32.

    Examples
    --------
    >>> from skdamerge import SHOTClassifier, SourceOnlyClassifier
    >>> from skdamerge.datasets import make_galaxy_mergers
    >>> Xs, ys, Xt, yt = make_galaxy_mergers(200, random_state=0)
    >>> clf = SHOTClassifier(max_epochs=2, target_epochs=2, random_state=0)
    >>> clf.fit(Xs, ys, X_target=Xt).predict_proba(Xt).shape
    (200, 2)
    >>> source = SourceOnlyClassifier(max_epochs=2, random_state=0).fit(Xs, ys)
    >>> survey = SHOTClassifier(source_model=source, target_epochs=2, random_state=0)
    >>> survey.fit(X_target=Xt).predict_proba(Xt).shape
    (200, 2)
    """

    def __init__(
        self,
        *,
        source_model=None,
        shot_beta=0.0,
        label_smoothing=0.1,
        diversity_weight=1.0,
        target_lr_multiplier=0.1,
        target_epochs=15,
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
        self.source_model = source_model
        self.shot_beta = shot_beta
        self.label_smoothing = label_smoothing
        self.diversity_weight = diversity_weight
        self.target_lr_multiplier = target_lr_multiplier
        self.target_epochs = target_epochs
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

    def fit(self, X=None, y=None, X_target=None, *, groups=None, validation_data=None):
        """Run the source stage on ``X, y`` (or take ``source_model``), then adapt.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width) or \
(n_samples, n_features), default=None
            Labelled source images; None in source-free mode (``source_model``).
        y : array-like of shape (n_samples,), default=None
            Binary labels of ``X``; with 0/1 labels, 1 is merger.
        X_target : array-like or TargetDomain
            Unlabelled target images (required), of the source sample shape.
        groups : array-like of shape (n_samples,), default=None
            Groups of ``X`` for the source stage's validation split.
        validation_data : tuple (X_valid, y_valid), default=None
            Explicit labelled source validation set of the source stage (and
            the target stage's recorded validation scores).

        Returns
        -------
        self
            The fitted estimator.
        """
        objective = self._check_hyperparameters(X_target)
        self._check_stages(X, y, X_target, validation_data)
        X_target = check_input_images(unwrap_target(X_target), "X_target")
        check_target_size(X_target, self.batch_size)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        if self.source_model is None:
            X = check_input_images(X, "X")
            check_same_sample_shape(X.shape[1:], X_target, "X_target", "X")
            stage = self._fit_source_stage(objective, X, y, groups, validation_data)
            hypothesis = _hypothesis_of(stage, self)
            data, valid_index = self._source_validation(
                stage, X, y, X_target, validation_data
            )
            self.source_estimator_ = stage
        else:
            hypothesis = _hypothesis_of(self.source_model, self)
            data = TrainingData(None, None, X_target, None, None)
            valid_index = None
            self.source_estimator_ = None
        self.classes_ = hypothesis.classes
        self.input_shape_ = hypothesis.input_shape
        self.n_features_in_ = self.input_shape_[0]
        check_same_sample_shape(
            self.input_shape_, X_target, "X_target", "the source model"
        )
        augments_images(self.augment, self.input_shape_)
        self.n_target_samples_ = len(X_target)
        self.source_merger_fraction_ = hypothesis.merger_fraction
        self.validation_index_ = valid_index
        device = _resolve_device(self.device)
        precision = resolve_precision(self.precision, device)
        devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
        state = None
        if self.resume_from is not None:
            state = load_checkpoint(self.resume_from, self._checkpoint_metadata())
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            module = _target_module(hypothesis, X_target)
            # A user module may view its activations: channels-last for built-ins.
            channels_last = len(self.input_shape_) == 3 and isinstance(
                hypothesis.backbone, str
            )
            watched, verdict, estimate, threshold = self._train_module(
                objective,
                module,
                data,
                seed,
                device,
                precision,
                state,
                valid_index,
                channels_last=channels_last,
            )
        for images in (X, X_target, data.X_valid):
            if isinstance(images, LazyImages):
                images.release()
        objective.check_history(self.history_, stacklevel=3)
        if watched is not None:
            self._record_target_verdict(objective, verdict, estimate, threshold)
        return self

    def _training_epochs(self) -> int:
        """Return the target stage's epochs: ``target_epochs``, or ``max_epochs``."""
        return self.max_epochs if self.target_epochs is None else self.target_epochs

    def _check_stages(self, X, y, X_target, validation_data) -> None:
        """Reject inputs that name no source, or two, or no target."""
        name = type(self).__name__
        if self.source_model is None and X is None:
            raise ValueError(
                f"{name} needs a source: pass labelled source images X, y to fit "
                "(both stages), or a trained model as source_model (source-free "
                "mode, fit(X_target=...)); got neither."
            )
        if self.source_model is not None:
            if X is not None or y is not None or validation_data is not None:
                raise ValueError(
                    f"{name}(source_model=...) adapts a trained model with target "
                    "images only; pass X=None and y=None (and no validation_data), "
                    "or set source_model=None to train the source stage on X, y."
                )
            if self.init_weights is not None:
                raise ValueError(
                    f"{name}: init_weights starts the source stage, which "
                    "source_model replaces; pass one of them, not both."
                )
        if self.freeze_features:
            raise ValueError(
                f"freeze_features=True with {name} would leave nothing to train: "
                "the target stage freezes the head and trains the features. Keep "
                "freeze_features=False."
            )
        if unwrap_target(X_target) is None:
            raise ValueError(
                f"{name} adapts to the target domain: pass the unlabelled target "
                "images as X_target."
            )

    def _fit_source_stage(self, objective, X, y, groups, validation_data):
        """Train the source network with label smoothing (a source-only fit)."""
        params = {
            name: getattr(self, name)
            for name in SourceOnlyClassifier._get_param_names()
        }
        params.update(checkpoint_path=None, resume_from=None)
        stage = _SourceStage(**params)
        stage._source_objective = objective.source_objective()
        return stage.fit(X, y, groups=groups, validation_data=validation_data)

    def _source_validation(self, stage, X, y, X_target, validation_data):
        """Return the target stage's data: target images, source validation set."""
        _, y_encoded = check_binary_labels(y, len(X), type(self).__name__)
        self.classes_ = stage.classes_
        if validation_data is not None:
            validation_data = self._check_validation_data(validation_data, X)
        valid_index = stage.validation_index_
        data = training_data(X, y_encoded, X_target, valid_index, validation_data)
        return data._replace(X_train=None, y_train=None), valid_index
