"""The shared base of the estimators: fit, predict, transform and persistence.

The base knows no method: what a method trains and how (its losses, extra
networks, learning rates, records and diagnostics) comes from its objective
(:mod:`skdamerge._engine.objectives`), and what a fit builds from
:mod:`._building`.
"""

from __future__ import annotations

import os
import warnings
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from .._engine.checkpoint import load_checkpoint
from .._engine.data_parallel import (
    DataParallelGroup,
    check_data_parallel,
    check_same_data,
    current_group,
    data_parallel_device,
    same_on_every_rank,
)
from .._engine.inference import forward_batches
from .._engine.module import DomainAdaptationModule
from .._engine.net import DomainAdaptationNet, TrainingData
from .._engine.objectives import Objective, register_estimator
from .._engine.orientation import (
    N_ORIENTATIONS,
    augments_images,
    check_square_images,
)
from .._engine.precision import resolve_precision
from .._engine.target_monitor import (
    TargetMonitor,
    fitted_fraction_estimate,
    monitored_sample,
    threshold_for_estimate,
)
from .._engine.validation_split import (
    check_groups,
    training_data,
    validation_index,
)
from .._files import write_atomic
from .._heap import freed_memory_kept
from .._outofcore import LazyImages, check_input_images
from .._param_validation import check_parameters
from .._target import unwrap_target
from .._validation import (
    check_binary_labels,
    check_same_sample_shape,
    check_target_size,
)
from ..exceptions import NonFiniteLossError, TargetCollapseWarning
from ..metrics._collapse import TargetCollapse, target_collapse
from ..metrics._merger_fraction_estimate import trusted_fraction
from ._building import WEIGHTS_FORMAT, build_module, build_net, uses_channels_last
from ._constraints import COMMON_CONSTRAINTS, check_common_values

__all__ = ["DomainAdaptationClassifier"]


def _resolve_device(device, group: DataParallelGroup | None = None) -> str:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    return device if group is None else data_parallel_device(device, group)


class DomainAdaptationClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Shared fitting, prediction and persistence of every method's estimator.

    A method's estimator subclasses this with its objective,
    ``class MMDClassifier(DomainAdaptationClassifier, objective=MMDObjective)``,
    and only declares its constructor and docstring: the subclass is registered
    under the objective's name, and its ``_parameter_constraints`` are the common
    ones plus the objective's.
    """

    _objective_class: ClassVar[type[Objective]]
    _parameter_constraints: ClassVar[dict[str, list]] = dict(COMMON_CONSTRAINTS)

    def __init_subclass__(cls, objective: type[Objective] | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if objective is not None:
            cls._objective_class = objective
            cls._parameter_constraints = {
                **COMMON_CONSTRAINTS,
                **objective.parameter_constraints,
            }
            register_estimator(objective.name, cls)

    def _make_objective(self) -> Objective:
        return self._objective_class.from_params(self.get_params(deep=False))

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
        objective = self._check_hyperparameters(X_target)
        X = check_input_images(X, "X")
        X_target = unwrap_target(X_target) if objective.uses_target else None
        self.classes_, y_encoded = check_binary_labels(y, len(X), type(self).__name__)
        if X_target is not None:
            X_target = check_input_images(X_target, "X_target")
            check_same_sample_shape(X.shape[1:], X_target, "X_target", "X")
            check_target_size(X_target, self.batch_size)
        self.n_features_in_ = X.shape[1]
        self.input_shape_ = tuple(X.shape[1:])
        augments_images(self.augment, self.input_shape_)
        self.n_target_samples_ = 0 if X_target is None else len(X_target)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        group = self._parallel_group()
        if group is not None:
            seed = same_on_every_rank(seed)
            check_same_data(X, y_encoded, X_target, validation_data)
        device = _resolve_device(self.device, group)
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
            module = build_module(self, objective, data.X_train)
            watched, verdict, estimate, threshold = self._train_module(
                objective, module, data, seed, device, precision, state, valid_index
            )
        for images in (X, X_target):
            if isinstance(images, LazyImages):
                images.release()
        objective.check_history(self.history_, stacklevel=3)
        if watched is not None:
            self._record_target_verdict(objective, verdict, estimate, threshold)
        return self

    @freed_memory_kept(trim=True)
    def _train_module(
        self,
        objective: Objective,
        module: DomainAdaptationModule,
        data: TrainingData,
        seed: int,
        device: str,
        precision,
        state: dict | None,
        valid_index: np.ndarray | None,
        channels_last: bool | None = None,
    ) -> tuple:
        """Train ``module`` on ``data``, set the fitted attributes, judge the target.

        Runs inside the caller's seeded torch generator. ``channels_last`` None
        decides from the estimator's backbone (:func:`uses_channels_last`).
        Returns the watched target images (None without a target), the collapse
        verdict, the label-free merger-fraction estimate and its threshold.
        """
        verdict = estimate = threshold = None
        if channels_last is None:
            channels_last = uses_channels_last(self)
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        group = self._parallel_group()
        net = build_net(
            self,
            objective,
            module,
            data,
            seed,
            device,
            target_monitor=self._target_monitor(data, seed),
            checkpoint_metadata=self._checkpoint_metadata(),
            precision=precision,
            channels_last=channels_last,
            valid_index=valid_index,
            augment=augments_images(self.augment, self.input_shape_),
            data_parallel=group,
        )
        kept_proba = None
        try:
            best_epoch = self._train(net, data, state)
        except NonFiniteLossError:
            best = net.best_weights()
            if best is not None:
                net.module_.load_state_dict(best)
            self._set_fitted(net, net.best_epoch())
            raise
        else:
            monitor = dict(net.callbacks_).get("target_monitor")
            if monitor is not None:
                # The monitor predicted the watched images with the kept weights
                # already (at the end of their epoch): no second pass.
                kept_proba = monitor.kept_probabilities(
                    net, net.best_epoch(), net.best_weights()
                )
        finally:
            net.stop_data_parallel()
            monitor = dict(getattr(net, "callbacks_", [])).get("target_monitor")
            watched = None if monitor is None else monitor.X_target
            if monitor is not None:
                monitor.release()
        self._set_fitted(net, best_epoch)
        if watched is not None:
            proba = kept_proba
            if proba is None:
                proba = self.predict_proba(watched)
            y_calibration = (
                None if data.y_valid is None else self.classes_[data.y_valid]
            )
            estimate = fitted_fraction_estimate(
                self, watched, data.X_valid, y_calibration, seed, target_proba=proba
            )
            threshold = threshold_for_estimate(proba[:, 1], estimate)
            verdict = target_collapse(
                proba,
                self.source_merger_fraction_,
                estimated_fraction=trusted_fraction(estimate),
            )
        return watched, verdict, estimate, threshold

    def _check_hyperparameters(self, X_target) -> Objective:
        """Validate every hyperparameter, before any data work; return the objective.

        Each parameter is checked against ``_parameter_constraints`` (an
        InvalidParameterError, a ValueError, names it), then the combinations
        the objective rejects, and settings that would silently do nothing.
        """
        check_parameters(self)
        check_common_values(self)
        objective = self._make_objective()
        objective.validate()
        if self.data_parallel:
            check_data_parallel(
                type(self).__name__, objective, self.batch_size, current_group()
            )
        if (
            self.freeze_features
            and objective.uses_target
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
        return objective

    def _parallel_group(self) -> DataParallelGroup | None:
        """Return the process group of a data-parallel fit (None: one process)."""
        return current_group() if self.data_parallel else None

    def _check_validation_data(self, validation_data, X):
        """Validate ``validation_data`` and encode its labels with ``classes_``."""
        if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
            raise ValueError(
                "validation_data must be a tuple (X_valid, y_valid) of labelled "
                f"source images; got {type(validation_data).__name__}."
            )
        X_valid = check_input_images(validation_data[0], "validation_data[0]")
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
        self,
        objective: Objective,
        verdict: TargetCollapse,
        estimate,
        threshold: float | None,
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
        knobs = ", ".join(objective.active_knobs()) or "lr"
        if verdict.collapsed:
            advice = (
                "The model has lost the target domain. Lower the adaptation "
                f"weights ({knobs}) or lr, and compare with "
                "SourceOnlyClassifier on the same data."
            )
        else:
            advice = (
                "Source and target scores are probably ranked well but the "
                "decision threshold moved. Decide target images with "
                "predict(X, domain='target'), which cuts at the label-free "
                "merger-fraction estimate where it is trusted (target_threshold_), "
                "read that estimate (target_merger_fraction_) before trusting the "
                f"counts of predict(), or lower {knobs}."
            )
        warnings.warn(
            f"{type(self).__name__}: on the target domain {verdict.reason}. " + advice,
            TargetCollapseWarning,
            stacklevel=3,
        )

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
        epochs = self._training_epochs()
        if done < epochs:
            net.partial_fit(data, epochs=epochs - done)
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

    def _training_epochs(self) -> int:
        """Return the number of epochs to train (before early stopping)."""
        return self.max_epochs

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
        return validation_index(y, groups, self.validation_fraction, seed)

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

    def _forward(self, X, output: int, orientations: tuple[int, ...] = (0,)):
        """Return the outputs of the network on ``X`` in each orientation."""
        check_is_fitted(self, "net_")
        X = check_input_images(X, "X", prediction=True)
        check_same_sample_shape(self.input_shape_, X, "X", type(self).__name__)
        outs = [
            forward_batches(
                self.net_,
                X,
                output=output,
                batch_size=self.batch_size,
                orientation=orientation,
            )
            for orientation in orientations
        ]
        if isinstance(X, LazyImages):
            X.release()
        return outs

    def predict_proba(self, X, *, tta: bool = False) -> np.ndarray:
        """Class probabilities; column 1 is ``classes_[1]`` (merger for 0/1 labels).

        Parameters
        ----------
        X : array-like of the training sample shape
            Images or features to classify, processed in batches. A
            ``np.memmap``, ``h5py`` dataset, ``zarr`` array or dask array is
            streamed from disk batch by batch, with flat memory.
        tta : bool, default=False
            Test-time augmentation: the mean of the probabilities over the eight
            orientations of each image (right-angle rotations, with or without
            a mirror flip), eight times the work. Square images only.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Probabilities of ``classes_[0]`` and ``classes_[1]``.
        """
        orientations = (0,)
        if tta:
            check_is_fitted(self, "net_")
            check_square_images(self.input_shape_, "tta=True")
            orientations = tuple(range(N_ORIENTATIONS))
        probabilities = [
            torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
            for logits in self._forward(X, output=1, orientations=orientations)
        ]
        return np.mean(probabilities, axis=0)

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
        return self._forward(X, output=0)[0]

    # -- persistence --------------------------------------------------------------
    def save_weights(self, path: str | os.PathLike) -> None:
        """Write the trained backbone's weights for transfer learning.

        Parameters
        ----------
        path : str, path-like or binary file handle
            Destination; pass it later as ``init_weights``. A file path is
            written atomically (whole or not at all).
        """
        check_is_fitted(self, "net_")
        backbone = self.module_.extractor.backbone
        state = {k: v.detach().cpu() for k, v in backbone.state_dict().items()}
        saved = {
            "format": WEIGHTS_FORMAT,
            "version": 1,
            "input_shape": list(self.input_shape_),
            "state_dict": state,
        }
        if isinstance(path, str | os.PathLike):
            write_atomic(path, lambda handle: torch.save(saved, handle))
        else:  # an open file handle
            torch.save(saved, path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
