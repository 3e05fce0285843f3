"""The scikit-learn estimators: source-only, MMD and domain-adversarial classifiers."""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.history import History
from torch import nn

from ._checkpoint import EpochCheckpoint, load_checkpoint
from ._diagnostics import warn_if_domain_classifier_failed
from ._files import load_skdamerge_file
from ._inference import forward_batches
from ._objectives import (
    AdversarialObjective,
    DomainAdaptationModule,
    MMDObjective,
    SourceOnlyObjective,
)
from ._outofcore import LazyImages, check_lazy_images, is_lazy_array
from ._precision import Precision, resolve_precision
from ._target import unwrap_target
from ._target_monitor import (
    TargetMonitor,
    fitted_fraction_estimate,
    monitored_sample,
    threshold_for_estimate,
)
from ._training import (
    DomainAdaptationNet,
    TrainingData,
    make_callbacks,
)
from ._validation import (
    LARGE_VALUE,
    check_binary_labels,
    check_images,
    check_same_sample_shape,
    check_target_size,
)
from ._validation_split import (
    check_groups,
    group_validation_index,
    training_data,
)
from .exceptions import NonFiniteLossError, TargetCollapseWarning
from .losses import check_fisher_weights
from .metrics._collapse import TargetCollapse, target_collapse
from .nets import FeatureExtractor, make_backbone

__all__ = ["DANNClassifier", "MMDClassifier", "SourceOnlyClassifier"]

_WEIGHTS_FORMAT = "skdamerge-weights"

_COMMON_PARAMETERS = """\
backbone : {"auto", "deepmerge", "resnet18", "mlp"} or torch.nn.Module, \
default="auto"
        Network to train. ``"auto"`` is the DeepMerge CNN (paper Table A1) for images
        ``(n, channels, height, width)`` and a small MLP for flat features
        ``(n, n_features)``. A user module must return class logits from ``forward``
        and name its feature layer (see :mod:`skdamerge.nets`); it is deep-copied and
        its weights are the starting point.
    feature_layer : str or None, default=None
        Name of the submodule of a user ``backbone`` whose flattened output is the
        latent feature vector used by the domain-adaptation losses and by
        :meth:`transform`. None uses the backbone's own ``feature_layer``.
    dropout : float or None, default=None
        Dropout before the classification head; None is the backbone's default
        (none for DeepMerge, 0.6 for ResNet18 as in Table A2).
    max_epochs : int, default=100
        Maximum number of passes over the source training set.
    batch_size : int, default=128
        Source images per step; each step also takes as many target images.
    lr : float, default=1e-3
        Maximum learning rate of Adam; the cyclic schedule goes down to ``lr / 10``.
    betas : tuple of float, default=(0.7, 0.8)
        Adam's coefficients for the running averages (Table A2).
    eps : float, default=1e-8
        Adam's epsilon (Table A2).
    weight_decay : float, default=0.01 (source only) or 1e-4 (MMD, DANN)
        L2 penalty of Adam (the Table A2 DeepMerge value of each method).
    cycle_length : float or None, default=8
        Length in epochs of one triangular "one-cycle" learning-rate cycle, linear
        from ``lr / 10`` up to ``lr`` and back (Smith & Topin 2019). None or 0 keeps
        the learning rate constant.
    patience : int or None, default=20
        Early stopping: epochs without improvement of the source validation loss
        before training stops. The model with the best validation loss is kept.
        None or 0 trains for ``max_epochs`` epochs.
    validation_fraction : float or None, default=0.125
        Fraction of the source training data held out (stratified) for validation
        and early stopping. The default makes the paper's 70/10/20 split when
        ``X`` holds 80% of the source data. None or 0 uses no validation set.
    init_weights : estimator, path or None, default=None
        Transfer learning: start from the backbone weights of a fitted skdamerge
        estimator or of a file written by :meth:`save_weights`. All layers are
        trainable unless ``freeze_features=True``.
    freeze_features : bool, default=False
        Keep the feature extractor (every parameter the latent features depend on,
        e.g. the convolutional layers) fixed and train only the head.
    checkpoint_path : str, path-like or None, default=None
        File to which the whole training state (weights, optimizer, history, best
        model) is written at the end of every epoch, replaced atomically, so that
        a long run can be resumed after a crash.
    resume_from : str, path-like or None, default=None
        Checkpoint written by an earlier fit with ``checkpoint_path``: training
        continues from it up to ``max_epochs`` epochs in all. The checkpoint must
        come from the same estimator, backbone, sample shape and classes (a clear
        error says otherwise). Resumed training is equivalent but not bit-identical
        to an uninterrupted run (the batch order restarts).
    callbacks : list of (str, skorch.callbacks.Callback) or None, default=None
        Extra skorch callbacks for the training loop (progress display, logging to
        an experiment tracker, ...), added after the built-in ones (scores, early
        stopping, learning-rate schedule).
    random_state : int, RandomState instance or None, default=None
        Fixes the validation split, the weight initialisation, dropout and the batch
        order. Two fits on the CPU with the same integer give identical models.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Torch device; ``"auto"`` takes CUDA when available.
    precision : {"fp32", "bf16", "amp", "fp16"}, default="fp32"
        Arithmetic of training and prediction. ``"bf16"``: bfloat16 autocast on
        the CPU (fast on CPUs with AVX512-BF16 or AMX instructions, emulated and
        slow on others) or on a GPU with bf16 support. ``"amp"`` (alias
        ``"fp16"``): CUDA automatic mixed precision, float16 autocast with gradient
        scaling; CUDA only. In both, the losses are computed in float32 and the
        weights stay float32; target accuracy is unchanged within seed noise.
    verbose : int, default=0
        0 is silent; 1 prints a table of the losses and scores per epoch."""

_ADAPTATION_PARAMETERS = """\
transfer_weight : float, default=1.0
        Weight λ_TL of the transfer loss (paper eq. 2).
    fisher_intra_weight : float, default=0.0
        Weight λ_w of the within-class scatter in the Fisher loss (Sect. 2.2); 0
        disables the Fisher loss. Table A2's "+ Fisher + entropy" runs use 0.01
        (MMD) and 1e-4 (adversarial).
    fisher_inter_weight : float, default=1.0
        Weight λ_b of the between-class scatter in the Fisher loss.
    fisher_kind : {"ratio", "difference"}, default="ratio"
        Fisher trace ratio tr(S_w)/tr(S_b) (the paper's choice) or trace difference.
    entropy_weight : float, default=0.0
        Weight λ_EM of entropy minimisation on the target predictions (eq. 11);
        0 disables it. Table A2 uses 0.05 (MMD) and 1e-4 (adversarial)."""

_FITTED_ATTRIBUTES = """\
Attributes
    ----------
    classes_ : ndarray of shape (2,)
        Class labels; ``classes_[1]`` is the positive class (merger for 0/1 labels)
        and the second column of :meth:`predict_proba`.
    n_features_in_ : int
        Number of channels (images) or features (flat input).
    input_shape_ : tuple of int
        Shape of one training sample.
    n_target_samples_ : int
        Number of target images used in training (0 without a target domain, and
        always 0 for :class:`SourceOnlyClassifier`).
    history_ : skorch.History
        Per-epoch records: ``train_loss`` (total loss), each loss component
        (``train_classification_loss``, ``train_transfer_loss``,
        ``train_fisher_loss``, ``train_entropy_loss``), for DANN the domain
        classifier's accuracies ``train_domain_acc_source``/``_target`` and
        ``train_grl_coefficient``, the learning rate ``lr``, the source validation
        metrics ``valid_loss``, ``valid_acc``, ``valid_auc``, and ``dur``. With
        a target domain also ``target_merger_fraction`` and
        ``target_mean_proba`` (predicted on a fixed sample of the target
        images), ``target_collapsed`` and ``valid_selection_loss`` (the
        validation loss that early stopping monitors, +1000 in a collapsed
        epoch).
        ``history_[:, "valid_acc"]`` gives a column.
    n_epochs_ : int
        Number of epochs trained (fewer than ``max_epochs`` after early stopping).
    best_epoch_ : int
        Epoch (1-based) whose weights the model holds: the one early stopping
        restored (the best source validation loss, collapsed target epochs
        excluded while a healthy one exists), or the last epoch without
        validation.
    source_merger_fraction_ : float
        Fraction of the positive class (merger) in the source training labels.
    validation_index_ : ndarray or None
        Rows of ``X`` held out for validation (None with ``validation_data`` or
        without a validation set).
    target_class_fractions_ : ndarray of shape (2,)
        Fractions of the watched target images (up to 1,024 of the training
        target) that the kept model predicts in ``classes_[0]`` and
        ``classes_[1]``. Only with a target domain.
    target_collapse_ : TargetCollapse
        Verdict on the kept model's target predictions (``state`` is
        ``"healthy"``, ``"drifted"`` or ``"collapsed"``); a
        :class:`~skdamerge.exceptions.TargetCollapseWarning` is raised unless it
        is healthy. Only with a target domain.
    target_merger_fraction_ : MergerFractionEstimate or None
        Label-free estimate of the target's merger fraction with its
        uncertainty and a verdict on its trust
        (:func:`skdamerge.metrics.estimate_merger_fraction`): labelled source
        validation images injected into the target's sky calibrate the model's
        rates on target-like images. None without image input, without a
        validation set, or for on-disk (out-of-core) arrays. Only with a target
        domain.
    target_threshold_ : float or None
        Merger-probability threshold at which the watched target images'
        predicted merger fraction equals the trusted estimate; used by
        ``predict(X, domain="target")``. None when the estimate is missing or
        not trusted.
    net_ : DomainAdaptationNet
        The underlying skorch net.
    module_ : torch.nn.Module
        The trained network; ``module_(x)`` returns ``(features, logits)``."""


def _check_input(X, name: str, *, prediction: bool = False):
    """Validate images; on-disk arrays stay on disk (see :mod:`skdamerge._outofcore`).

    In-memory input becomes a float32 array. A ``np.memmap``, ``h5py`` dataset,
    ``zarr`` array or dask array becomes a :class:`LazyImages` view, read batch by
    batch: for training its values are checked chunk by chunk first, for
    prediction each batch is checked as it is read (a single pass).
    """
    if is_lazy_array(X):
        return check_lazy_images(
            X,
            name,
            check_finite="on_read" if prediction else "now",
            large_value=LARGE_VALUE,
        )
    return check_images(X, name)


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _backbone_state(source) -> dict[str, torch.Tensor]:
    """Return the backbone state dict of ``init_weights``."""
    if isinstance(source, _DomainAdaptationClassifier):
        check_is_fitted(source, "net_")
        return source.module_.extractor.backbone.state_dict()
    if isinstance(source, str | os.PathLike):
        saved = load_skdamerge_file(
            source,
            argument="init_weights",
            file_format=_WEIGHTS_FORMAT,
            kind="weights file",
            hint="a file written by save_weights() or a fitted estimator",
        )
        return saved["state_dict"]
    raise TypeError(
        "init_weights must be a fitted skdamerge estimator, a path to a file "
        f"written by save_weights(), or None; got {type(source).__name__}."
    )


_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def _frozen_norm_layers(extractor: nn.Module) -> list[str]:
    """Return the names of the batch-norm layers whose parameters are all frozen."""
    names = []
    for name, layer in extractor.named_modules():
        if isinstance(layer, _BATCH_NORMS):
            params = list(layer.parameters())
            if params and not any(p.requires_grad for p in params):
                names.append(name)
    return names


class _DomainAdaptationClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Shared fitting, prediction and persistence of the three estimators."""

    def _make_objective(self):
        raise NotImplementedError

    def _domain_lr_multiplier(self) -> float:
        return 1.0

    # -- fitting ------------------------------------------------------------------
    def fit(self, X, y, X_target=None, *, groups=None, validation_data=None):
        """Train on labelled source images and, optionally, unlabelled target images.

        Parameters
        ----------
        X : array-like of shape (n_samples, channels, height, width) or \
(n_samples, n_features)
            Labelled source domain (e.g. simulated galaxies), channels first.
            A ``np.memmap`` (e.g. ``np.load(path, mmap_mode="r")``), HDF5 or
            zarr dataset stays on disk: it is checked chunk by chunk, split by
            indices and read batch by batch (out-of-core training).
        y : array-like of shape (n_samples,)
            Binary labels; with 0/1 labels, 1 is merger (the positive class).
        X_target : array-like of the same sample shape as X or TargetDomain, \
default=None
            Unlabelled target domain (e.g. telescope images). Without it, every
            estimator trains on the source alone. In cross-validation and searches,
            wrap it in :class:`~skdamerge.TargetDomain` so that scikit-learn does not
            split it with the source folds. On-disk arrays stay on disk, as for X.
        groups : array-like of shape (n_samples,), default=None
            Group of each source sample: copies of one galaxy (augmented
            rotations, the origins returned by
            :func:`skdamerge.preprocessing.balance_classes`) share a group. The
            internal validation split keeps every group whole, so that early
            stopping is not judged on copies of training images.
        validation_data : tuple (X_valid, y_valid), default=None
            An explicit labelled source validation set, used instead of holding
            out ``validation_fraction`` of ``X``.

        Returns
        -------
        self
            The fitted estimator.
        """
        self._check_hyperparameters(X_target)
        X = _check_input(X, "X")
        X_target = unwrap_target(X_target)
        self.classes_, y_encoded = check_binary_labels(y, len(X), type(self).__name__)
        if X_target is not None:
            X_target = _check_input(X_target, "X_target")
            check_same_sample_shape(X.shape[1:], X_target, "X_target", "X")
            check_target_size(X_target, self.batch_size)
        self.n_features_in_ = X.shape[1]
        self.input_shape_ = tuple(X.shape[1:])
        self.n_target_samples_ = 0 if X_target is None else len(X_target)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        device = _resolve_device(self.device)
        precision = resolve_precision(self.precision, device)
        devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
        if validation_data is not None:
            validation_data = self._check_validation_data(validation_data, X)
        if groups is not None:
            groups = check_groups(groups, len(X))
        state = None
        if self.resume_from is not None:
            state = load_checkpoint(self.resume_from, self._checkpoint_metadata())
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            valid_index = self._validation_index(
                y_encoded, groups, seed, validation_data, state
            )
            data = training_data(X, y_encoded, X_target, valid_index, validation_data)
            self.validation_index_ = valid_index
            self.source_merger_fraction_ = float(np.mean(data.y_train == 1))
            module = self._build_module(data.X_train)
            channels_last = self._use_channels_last()
            if channels_last:
                module = module.to(memory_format=torch.channels_last)
            net = self._build_net(
                module,
                data,
                seed,
                device,
                precision=precision,
                channels_last=channels_last,
                valid_index=valid_index,
            )
            try:
                best_epoch = self._train(net, data, state)
            except NonFiniteLossError:
                best = net.best_weights()
                if best is not None:
                    net.module_.load_state_dict(best)
                self._set_fitted(net, net.best_epoch())
                raise
            finally:
                monitor = dict(getattr(net, "callbacks_", [])).get("target_monitor")
                watched = None if monitor is None else monitor.X_target
                if monitor is not None:
                    monitor.release()
            self._set_fitted(net, best_epoch)
            if watched is not None:
                proba = self.predict_proba(watched)
                verdict = target_collapse(proba, self.source_merger_fraction_)
                y_calibration = (
                    None if data.y_valid is None else self.classes_[data.y_valid]
                )
                estimate = fitted_fraction_estimate(
                    self, watched, data.X_valid, y_calibration, seed
                )
                threshold = threshold_for_estimate(proba[:, 1], estimate)
        for images in (X, X_target):
            if isinstance(images, LazyImages):
                images.release()
        if isinstance(self, DANNClassifier):
            warn_if_domain_classifier_failed(self.history_)
        if watched is not None:
            self._record_target_verdict(verdict, estimate, threshold)
        return self

    def _check_hyperparameters(self, X_target) -> None:
        """Reject settings that cannot train or would silently do nothing."""
        objective = self._make_objective()
        if hasattr(objective, "fisher_kind"):
            check_fisher_weights(
                self.fisher_intra_weight,
                self.fisher_inter_weight,
                self.fisher_kind,
                names=("fisher_intra_weight", "fisher_inter_weight"),
            )
        if (
            self.freeze_features
            and unwrap_target(X_target) is not None
            and objective.acts_on_features()
        ):
            raise ValueError(
                f"freeze_features=True with {type(self).__name__} would silently "
                "disable adaptation: the transfer loss (and the Fisher loss) act on "
                "the latent features, which freezing fixes. Keep the features "
                "trainable (freeze_features=False; the paper trains all layers in "
                "transfer learning), or fine-tune the head only with "
                "transfer_weight=0 and fisher_intra_weight=0."
            )

    def _check_validation_data(self, validation_data, X):
        """Validate ``validation_data`` and encode its labels with ``classes_``."""
        if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
            raise ValueError(
                "validation_data must be a tuple (X_valid, y_valid) of labelled "
                f"source images; got {type(validation_data).__name__}."
            )
        X_valid = _check_input(validation_data[0], "validation_data[0]")
        check_same_sample_shape(X.shape[1:], X_valid, "validation_data[0]", "X")
        y_valid = np.asarray(validation_data[1])
        if y_valid.ndim != 1 or len(y_valid) != len(X_valid):
            raise ValueError(
                "validation_data[1] must be a 1-D array of one label per image of "
                f"validation_data[0] ({len(X_valid)}); got shape {y_valid.shape}."
            )
        unknown = set(np.unique(y_valid).tolist()) - set(self.classes_.tolist())
        if unknown:
            raise ValueError(
                f"validation_data[1] has labels {sorted(unknown)!r} that are not "
                f"among the training classes {self.classes_.tolist()!r}."
            )
        return X_valid, np.searchsorted(self.classes_, y_valid).astype(np.int64)

    def _record_target_verdict(
        self, verdict: TargetCollapse, estimate, threshold: float | None
    ) -> None:
        """Record the target fractions of the kept model; warn on collapse."""
        self.target_merger_fraction_ = estimate
        self.target_threshold_ = threshold
        self.target_class_fractions_ = np.array(
            [1.0 - verdict.merger_fraction, verdict.merger_fraction]
        )
        self.target_collapse_ = verdict
        if verdict.healthy:
            return
        if verdict.collapsed:
            advice = (
                "The model has lost the target domain. Lower the adaptation "
                f"weights ({self._collapse_knobs()}) or lr, and compare with "
                "SourceOnlyClassifier on the same data."
            )
        else:
            advice = (
                "Source and target scores are probably ranked well but the "
                "decision threshold moved. Read the label-free merger-fraction "
                "estimate (skdamerge.metrics.estimate_merger_fraction) before "
                "trusting predict(), or lower "
                f"{self._collapse_knobs()}."
            )
        warnings.warn(
            f"{type(self).__name__}: on the target domain {verdict.reason}. " + advice,
            TargetCollapseWarning,
            stacklevel=3,
        )

    def _collapse_knobs(self) -> str:
        names = [
            name
            for name in (
                "entropy_weight",
                "fisher_intra_weight",
                "transfer_weight",
                "domain_lr_multiplier",
            )
            if getattr(self, name, 0)
        ]
        return ", ".join(names) or "lr"

    def _checkpoint_metadata(self) -> dict:
        backbone = self.backbone
        if not isinstance(backbone, str):
            backbone = type(backbone).__name__
        return {
            "estimator": type(self).__name__,
            "backbone": backbone,
            "input_shape": list(self.input_shape_),
            "classes": [str(label) for label in self.classes_],
        }

    def _train(
        self, net: DomainAdaptationNet, data: TrainingData, state: dict | None
    ) -> int | None:
        """Train from scratch, or continue from the checkpoint ``state``.

        Returns the epoch (1-based) whose weights the model holds at the end, or
        None where early stopping kept none (then it is the last epoch).
        """
        if state is None:
            net.fit(data)
            return net.best_epoch()
        net.initialize()
        try:
            net.module_.load_state_dict(state["module"])
            net.optimizer_.load_state_dict(state["optimizer"])
            if net.grad_scaler_ is not None and state.get("grad_scaler"):
                net.grad_scaler_.load_state_dict(state["grad_scaler"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise ValueError(
                f"resume_from={str(self.resume_from)!r} does not fit this network: "
                f"{error}"
            ) from error
        net.history_ = History(state["history"])
        net.steps_done_ = state["steps_done"]
        scheduler = dict(net.callbacks_).get("lr_scheduler")
        if scheduler is not None:
            scheduler.last_epoch = net.steps_done_ - 1
        done = sum("train_loss" in row for row in net.history_)
        if done < self.max_epochs:
            net.partial_fit(data, epochs=self.max_epochs - done)
        # Early stopping restarts its bookkeeping on resume: keep the better of
        # the best model before the interruption and the best one after it.
        before = state["best_valid_loss"]
        monitor = net.selection_key()
        after = [
            row[monitor]
            for row in net.history_[len(state["history"]) :]
            if monitor in row
        ]
        if before is not None and state["best_weights"] is not None:
            if not after or before <= min(after):
                net.module_.load_state_dict(state["best_weights"])
                return state.get("best_epoch")
        return net.best_epoch()

    def _set_fitted(self, net: DomainAdaptationNet, best_epoch: int | None) -> None:
        self.net_ = net
        self.history_ = net.history_
        self.n_epochs_ = sum("train_loss" in row for row in net.history_)
        self.best_epoch_ = self.n_epochs_ if best_epoch is None else int(best_epoch)

    def _validation_index(
        self, y, groups, seed: int, validation_data, state: dict | None
    ) -> np.ndarray | None:
        """Return the indices of ``X`` held out for validation (None: no split).

        A resumed fit takes the split stored in its checkpoint, so that the best
        model before and after the interruption are judged on the same images.
        """
        if validation_data is not None:
            return None
        if state is not None and state.get("valid_index") is not None:
            return np.asarray(state["valid_index"], dtype=np.int64)
        fraction = self.validation_fraction
        if not fraction:
            return None
        if not 0 < fraction < 1:
            raise ValueError(
                f"validation_fraction={fraction!r} must be in (0, 1), or None/0 for "
                "no validation set."
            )
        n_samples = len(y)
        n_valid = int(np.ceil(fraction * n_samples))
        if n_valid < 2 or n_samples - n_valid < 2:
            raise ValueError(
                f"validation_fraction={fraction} leaves too few samples of the "
                f"{n_samples} in X for training and validation; pass more data or "
                "validation_fraction=None."
            )
        if groups is not None:
            return group_validation_index(y, groups, fraction, seed)
        stratify = y if np.bincount(y).min() >= 2 and n_valid >= 2 else None
        _, valid = train_test_split(
            np.arange(n_samples),
            test_size=n_valid,
            stratify=stratify,
            random_state=seed,
        )
        return valid

    def _build_module(self, X_train: np.ndarray) -> DomainAdaptationModule:
        backbone = make_backbone(
            self.backbone, tuple(X_train.shape[1:]), dropout=self.dropout
        )
        extractor = FeatureExtractor(backbone, self.feature_layer)
        if self.init_weights is not None:
            state = _backbone_state(self.init_weights)
            try:
                extractor.backbone.load_state_dict(state)
            except RuntimeError as error:
                raise ValueError(
                    "init_weights do not fit this backbone (was it trained with "
                    f"another backbone or image shape?): {error}"
                ) from error
        n_features = self._feature_dimension(extractor, X_train)
        objective = self._make_objective()
        module = DomainAdaptationModule(
            extractor, objective.build_domain_classifier(n_features)
        )
        if self.freeze_features:
            module.freeze_norm_layers(_frozen_norm_layers(extractor))
        return module

    def _feature_dimension(self, extractor: FeatureExtractor, X_train) -> int:
        """Run one sample through the network; freeze the feature extractor if asked."""
        extractor.eval()
        sample = torch.from_numpy(np.ascontiguousarray(X_train[:2]))
        features, _ = extractor(sample)
        if self.freeze_features:
            features.sum().backward()
            for param in extractor.parameters():
                if param.grad is not None:
                    param.requires_grad_(False)
                    param.grad = None
        extractor.train()
        return features.shape[1]

    def _use_channels_last(self) -> bool:
        """Whether images go channels-last: built-in CNNs only.

        The channels-last memory format makes the convolutions of DeepMerge and
        ResNet18 faster (about 1.3x in float32 and 2x in bfloat16 on a CPU with
        bf16 instructions; see ``benchmarks/RESULTS.md``). A user module may
        ``view`` its activations, which fails on channels-last tensors, so it
        keeps the default format.
        """
        return len(self.input_shape_) == 3 and isinstance(self.backbone, str)

    def _build_net(
        self,
        module,
        data: TrainingData,
        seed: int,
        device: str,
        *,
        precision: Precision | None = None,
        channels_last: bool = False,
        valid_index: np.ndarray | None = None,
    ):
        n_train = len(data.X_train)
        batches_per_epoch = max(
            1, n_train // self.batch_size + (n_train % self.batch_size > 1)
        )
        objective = self._make_objective()
        extra = {} if self.verbose else {"callbacks__print_log": None}
        callbacks = make_callbacks(
            objective.components(),
            validation=data.X_valid is not None,
            patience=self.patience,
            lr=self.lr,
            domain_lr_multiplier=self._domain_lr_multiplier(),
            has_domain_classifier=module.domain_classifier is not None,
            cycle_length=self.cycle_length,
            batches_per_epoch=batches_per_epoch,
            target_monitor=self._target_monitor(data, seed),
        )
        callbacks += list(self.callbacks or [])
        if self.checkpoint_path is not None:
            callbacks.append(
                (
                    "checkpoint",
                    EpochCheckpoint(
                        self.checkpoint_path,
                        self._checkpoint_metadata(),
                        valid_index=valid_index,
                    ),
                )
            )
        return DomainAdaptationNet(
            module,
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=self.lr,
            optimizer__betas=tuple(self.betas),
            optimizer__eps=self.eps,
            optimizer__weight_decay=self.weight_decay,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None,
            callbacks=callbacks,
            device=device,
            verbose=self.verbose,
            objective=objective,
            domain_lr_multiplier=self._domain_lr_multiplier(),
            total_steps=self.max_epochs * batches_per_epoch,
            shuffle_seed=seed,
            precision=precision,
            channels_last=channels_last,
            **extra,
        )

    def _target_monitor(self, data: TrainingData, seed: int) -> TargetMonitor | None:
        """Watch a fixed sample of the target images during training."""
        if data.X_target is None:
            return None
        index = monitored_sample(len(data.X_target), seed)
        X_target = data.X_target
        watched = (
            X_target.subset(index)
            if isinstance(X_target, LazyImages)
            else X_target[index]
        )
        return TargetMonitor(watched, self.source_merger_fraction_, self.batch_size)

    # -- prediction ---------------------------------------------------------------
    @property
    def module_(self) -> DomainAdaptationModule:
        """The trained network (``module_(x)`` returns ``(features, logits)``)."""
        check_is_fitted(self, "net_")
        return self.net_.module_

    def _forward(self, X, output: int) -> np.ndarray:
        check_is_fitted(self, "net_")
        X = _check_input(X, "X", prediction=True)
        check_same_sample_shape(self.input_shape_, X, "X", type(self).__name__)
        out = forward_batches(self.net_, X, output=output, batch_size=self.batch_size)
        if isinstance(X, LazyImages):
            X.release()
        return out

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities; column 1 is ``classes_[1]`` (merger for 0/1 labels).

        Parameters
        ----------
        X : array-like of the training sample shape
            Images or features to classify, processed in batches. A
            ``np.memmap``, ``h5py`` dataset, ``zarr`` array or dask array is
            streamed from disk batch by batch, with flat memory.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Probabilities of ``classes_[0]`` and ``classes_[1]``.
        """
        logits = torch.from_numpy(self._forward(X, output=1))
        return torch.softmax(logits.double(), dim=1).numpy()

    def predict(self, X, *, domain: str = "source") -> np.ndarray:
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of the training sample shape
            Images or features to classify.
        domain : {"source", "target"}, default="source"
            Domain of the images. ``"source"`` takes the most probable class.
            ``"target"`` calls merger every image whose merger probability
            reaches ``target_threshold_``: the threshold at which the target
            training images' merger fraction equals the label-free estimate
            ``target_merger_fraction_``. Under domain shift the probabilities
            of a model are rarely calibrated on the target, so their 0.5
            threshold over- or under-counts mergers while their ranking (the
            AUC) is still good. Without a trusted estimate (the attribute is
            None) the most probable class is taken, as for ``"source"``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        if domain not in ("source", "target"):
            raise ValueError(
                f"domain must be 'source' or 'target'; got {domain!r}. Pass "
                "domain='target' for images of the target domain (new survey "
                "images), 'source' for images like the labelled training ones."
            )
        proba = self.predict_proba(X)
        threshold = getattr(self, "target_threshold_", None)
        if domain == "target" and threshold is not None:
            return self.classes_[(proba[:, 1] >= threshold).astype(int)]
        return self.classes_[proba.argmax(axis=1)]

    def transform(self, X) -> np.ndarray:
        """Latent features on which the domain-adaptation losses act.

        Parameters
        ----------
        X : array-like of the training sample shape
            Images or features.

        Returns
        -------
        ndarray of shape (n_samples, n_latent)
            For DeepMerge on 75×75 images, the 2,592 flattened convolutional
            features.
        """
        return self._forward(X, output=0)

    # -- persistence --------------------------------------------------------------
    def save_weights(self, path: str | os.PathLike) -> None:
        """Write the trained backbone's weights for transfer learning.

        Parameters
        ----------
        path : str or path-like
            Destination file; pass it later as ``init_weights``.
        """
        check_is_fitted(self, "net_")
        backbone = self.module_.extractor.backbone
        state = {k: v.detach().cpu() for k, v in backbone.state_dict().items()}
        torch.save(
            {
                "format": _WEIGHTS_FORMAT,
                "version": 1,
                "input_shape": list(self.input_shape_),
                "state_dict": state,
            },
            path,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class SourceOnlyClassifier(_DomainAdaptationClassifier):
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
        init_weights=None,
        freeze_features=False,
        checkpoint_path=None,
        resume_from=None,
        callbacks=None,
        random_state=None,
        device="auto",
        precision="fp32",
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
        self.init_weights = init_weights
        self.freeze_features = freeze_features
        self.checkpoint_path = checkpoint_path
        self.resume_from = resume_from
        self.callbacks = callbacks
        self.random_state = random_state
        self.device = device
        self.precision = precision
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

    def _make_objective(self):
        return SourceOnlyObjective()


class MMDClassifier(_DomainAdaptationClassifier):
    """Domain adaptation with a maximum mean discrepancy (MMD) transfer loss.

    The network minimises the source cross-entropy plus ``transfer_weight`` times
    the multi-kernel Gaussian MMD between source and target latent features
    (DeepMerge II Sect. 2.1.1), optionally with the Fisher loss on source features
    and entropy minimisation on target predictions (paper eq. 2). Defaults are the
    DeepMerge values of Table A2 ("MMD"); for "MMD + Fisher + Entropy" set
    ``fisher_intra_weight=0.01, entropy_weight=0.05``.

    Parameters
    ----------
    %(adaptation)s
    mmd_kernels : int, default=5
        Number of Gaussian kernels in the MMD.
    mmd_kernel_mul : float, default=2.0
        Ratio between consecutive kernel bandwidths, around the median-distance
        bandwidth (see :func:`skdamerge.losses.mmd_loss`).
    %(common)s

    %(attributes)s

    See Also
    --------
    DANNClassifier : domain-adversarial alternative.
    skdamerge.losses.mmd_loss : the transfer loss.

    References
    ----------
    .. [1] Gretton, A., et al. (2012). "A kernel two-sample test." JMLR 13,
       723-773.
    .. [2] Long, M., Cao, Y., Wang, J., Jordan, M. (2015). "Learning transferable
       features with deep adaptation networks." ICML, 97-105.
    .. [3] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691.

    Examples
    --------
    >>> from skdamerge import MMDClassifier
    >>> from skdamerge.datasets import make_galaxy_mergers
    >>> Xs, ys, Xt, yt = make_galaxy_mergers(200, random_state=0)
    >>> clf = MMDClassifier(max_epochs=2, random_state=0).fit(Xs, ys, X_target=Xt)
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
        mmd_kernels=5,
        mmd_kernel_mul=2.0,
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
        init_weights=None,
        freeze_features=False,
        checkpoint_path=None,
        resume_from=None,
        callbacks=None,
        random_state=None,
        device="auto",
        precision="fp32",
        verbose=0,
    ):
        self.transfer_weight = transfer_weight
        self.fisher_intra_weight = fisher_intra_weight
        self.fisher_inter_weight = fisher_inter_weight
        self.fisher_kind = fisher_kind
        self.entropy_weight = entropy_weight
        self.mmd_kernels = mmd_kernels
        self.mmd_kernel_mul = mmd_kernel_mul
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
        self.init_weights = init_weights
        self.freeze_features = freeze_features
        self.checkpoint_path = checkpoint_path
        self.resume_from = resume_from
        self.callbacks = callbacks
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.verbose = verbose

    def _make_objective(self):
        return MMDObjective(
            transfer_weight=self.transfer_weight,
            fisher_intra_weight=self.fisher_intra_weight,
            fisher_inter_weight=self.fisher_inter_weight,
            fisher_kind=self.fisher_kind,
            entropy_weight=self.entropy_weight,
            n_kernels=self.mmd_kernels,
            kernel_mul=self.mmd_kernel_mul,
        )


class DANNClassifier(_DomainAdaptationClassifier):
    """Domain-adversarial neural network (DANN).

    A domain classifier (latent features → 1024 → 1024 → 1, ReLU, dropout 0.5) learns
    to tell source from target features, while a gradient reversal layer makes the
    feature extractor confuse it (Ganin et al. 2016; DeepMerge II Sect. 2.1.2). The
    domain classifier is trained by the same Adam optimiser at
    ``lr * domain_lr_multiplier``. Optional Fisher loss and entropy minimisation as in
    paper eq. 2. Defaults are the DeepMerge values of Table A2 ("Adversarial"); for
    "Adversarial + Fisher + Entropy" set ``fisher_intra_weight=1e-4,
    entropy_weight=1e-4, domain_lr_multiplier=0.01``.

    Parameters
    ----------
    %(adaptation)s
    domain_lr_multiplier : float, default=1.0
        Learning-rate multiplier of the domain classifier ("Domain class. LR mult."
        in Table A2); values below 1 help against domain-classifier collapse.
    grl_schedule : {"ganin", "constant"}, default="ganin"
        Scale of the reversed gradient over training: Ganin's
        ``2 / (1 + exp(-10 p)) - 1`` with ``p`` the fraction of the planned steps
        done, or a constant 1.
    %(common)s

    %(attributes)s

    See Also
    --------
    MMDClassifier : kernel-based alternative.
    skdamerge.losses.domain_adversarial_loss : the transfer loss.

    References
    ----------
    .. [1] Ganin, Y., et al. (2016). "Domain-adversarial training of neural
       networks." JMLR 17(59), 1-35.
    .. [2] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691.

    Examples
    --------
    >>> from skdamerge import DANNClassifier
    >>> from skdamerge.datasets import make_galaxy_mergers
    >>> Xs, ys, Xt, yt = make_galaxy_mergers(200, random_state=0)
    >>> clf = DANNClassifier(max_epochs=2, random_state=0).fit(Xs, ys, X_target=Xt)
    >>> clf.predict(Xt).shape
    (200,)
    """

    def __init__(
        self,
        *,
        transfer_weight=1.0,
        fisher_intra_weight=0.0,
        fisher_inter_weight=1.0,
        fisher_kind="ratio",
        entropy_weight=0.0,
        domain_lr_multiplier=1.0,
        grl_schedule="ganin",
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
        init_weights=None,
        freeze_features=False,
        checkpoint_path=None,
        resume_from=None,
        callbacks=None,
        random_state=None,
        device="auto",
        precision="fp32",
        verbose=0,
    ):
        self.transfer_weight = transfer_weight
        self.fisher_intra_weight = fisher_intra_weight
        self.fisher_inter_weight = fisher_inter_weight
        self.fisher_kind = fisher_kind
        self.entropy_weight = entropy_weight
        self.domain_lr_multiplier = domain_lr_multiplier
        self.grl_schedule = grl_schedule
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
        self.init_weights = init_weights
        self.freeze_features = freeze_features
        self.checkpoint_path = checkpoint_path
        self.resume_from = resume_from
        self.callbacks = callbacks
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.verbose = verbose

    def _make_objective(self):
        return AdversarialObjective(
            transfer_weight=self.transfer_weight,
            fisher_intra_weight=self.fisher_intra_weight,
            fisher_inter_weight=self.fisher_inter_weight,
            fisher_kind=self.fisher_kind,
            entropy_weight=self.entropy_weight,
            grl_schedule=self.grl_schedule,
        )

    def _domain_lr_multiplier(self) -> float:
        return self.domain_lr_multiplier


def _fill_docstring(cls) -> None:
    cls.__doc__ = (
        cls.__doc__.replace("%(common)s", _COMMON_PARAMETERS)
        .replace("%(adaptation)s", _ADAPTATION_PARAMETERS)
        .replace("%(attributes)s", _FITTED_ATTRIBUTES)
    )


for _cls in (SourceOnlyClassifier, MMDClassifier, DANNClassifier):
    _fill_docstring(_cls)
