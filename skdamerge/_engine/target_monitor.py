"""Watch the predictions on the unlabelled target domain during training.

A domain-adaptation run can drift onto one class on the target while the source
validation metrics look fine. :class:`TargetMonitor` predicts a fixed sample of
the target training images at the end of every epoch (network in evaluation
mode, no gradients) and records in the history:

- ``target_merger_fraction``: fraction predicted in the positive class;
- ``target_mean_proba``: mean positive-class probability;
- ``target_collapsed``: whether the predictions collapsed onto one class
  (:func:`skdamerge.metrics._collapse.target_collapse`);
- ``valid_selection_loss``: the source validation loss, plus
  :data:`COLLAPSE_PENALTY` in a collapsed epoch. Early stopping and the choice of
  the kept model monitor it, so a collapsed epoch is never restored when a healthy
  one exists (among collapsed epochs the validation loss still decides).

The monitor keeps each epoch's probabilities, so that the end of the fit, which
judges the kept model on the same images, reuses those of the epoch whose weights
the model holds instead of predicting the images again
(:meth:`TargetMonitor.kept_probabilities`).
"""

from __future__ import annotations

import numpy as np
import torch
from skorch.callbacks import Callback

from .._outofcore import LazyImages
from ..metrics._collapse import TargetCollapse, target_collapse
from ..metrics._merger_fraction_estimate import trusted_fraction
from .history_keys import (
    SELECTION_LOSS,
    TARGET_COLLAPSED,
    TARGET_MEAN_PROBA,
    TARGET_MERGER_FRACTION,
    VALID_LOSS,
)
from .inference import predict_proba_batches

__all__ = ["COLLAPSE_PENALTY", "SELECTION_LOSS", "TargetMonitor"]

COLLAPSE_PENALTY = 1000.0
MAX_MONITORED = 1024


def monitored_sample(n_target: int, seed: int, size: int = MAX_MONITORED) -> np.ndarray:
    """Sorted indices of the target images watched during training."""
    if n_target <= size:
        return np.arange(n_target)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_target, size, replace=False))


class TargetMonitor(Callback):
    """Record the target class fractions per epoch and penalise collapsed epochs.

    Parameters
    ----------
    X_target : array-like
        The target images to watch (a fixed sample of the training target).
    source_fraction : float
        Positive-class fraction of the source training labels.
    batch_size : int
        Images per prediction batch (at least 256 are used).

    Attributes
    ----------
    probabilities : dict of int to ndarray of shape (n_watched, 2)
        Class probabilities of the watched images at the end of each epoch
        (1-based) of the current training run.
    last_weights : dict or None
        A copy of the module's ``state_dict()`` when the last epoch's
        probabilities were computed.
    """

    def __init__(self, X_target, source_fraction: float, batch_size: int) -> None:
        self.X_target = X_target
        self.source_fraction = source_fraction
        self.batch_size = batch_size
        self.probabilities: dict[int, np.ndarray] = {}
        self.last_weights: dict | None = None

    def __getstate__(self) -> dict:
        # The watched images are training data: a pickled model does not carry
        # them, nor what was computed from them.
        state = dict(self.__dict__)
        state["X_target"] = None
        state["probabilities"] = {}
        state["last_weights"] = None
        return state

    def predict(self, net) -> np.ndarray:
        """Class probabilities of the watched images by the current network."""
        was_training = net.module_.training
        proba = predict_proba_batches(net, self.X_target, self.batch_size)
        net.module_.train(was_training)
        return proba

    def check(self, net) -> TargetCollapse:
        """Return the verdict on the current network's target predictions."""
        return target_collapse(self.predict(net), self.source_fraction)

    def release(self) -> None:
        """Drop the watched images and what was computed from them (after training)."""
        self.X_target = None
        self.probabilities = {}
        self.last_weights = None

    def on_train_begin(self, net, **kwargs) -> None:
        """Forget the probabilities of an earlier training run."""
        self.probabilities = {}
        self.last_weights = None

    def on_epoch_end(self, net, **kwargs) -> None:
        """Predict the watched target images and record the fractions."""
        proba = self.predict(net)
        verdict = target_collapse(proba, self.source_fraction)
        history = net.history
        self.probabilities[int(history[-1, "epoch"])] = proba
        self.last_weights = _copy_weights(net.module_)
        history.record(TARGET_MERGER_FRACTION, verdict.merger_fraction)
        history.record(TARGET_MEAN_PROBA, verdict.mean_probability)
        history.record(TARGET_COLLAPSED, verdict.collapsed)
        if VALID_LOSS in history[-1]:
            penalty = COLLAPSE_PENALTY if verdict.collapsed else 0.0
            history.record(SELECTION_LOSS, float(history[-1, VALID_LOSS]) + penalty)

    def kept_probabilities(
        self, net, best_epoch: int | None, best_weights: dict | None
    ) -> np.ndarray | None:
        """Probabilities of the watched images by the network as it is now, or None.

        They are those of an epoch whose weights the module holds exactly (every
        parameter and buffer equal): the last epoch's (``last_weights``), or
        ``best_epoch``'s when the module holds ``best_weights``, a copy taken at
        the end of that epoch after this monitor predicted (the kept model of
        :class:`~skdamerge._engine.best_weights.BestWeights`, which runs after
        it). None when neither matches (e.g. weights loaded from a checkpoint);
        then the images must be predicted again.

        Parameters
        ----------
        net : DomainAdaptationNet
            The trained net.
        best_epoch : int or None
            The epoch (1-based) of ``best_weights``.
        best_weights : dict or None
            A copy of the module's ``state_dict()`` at the end of ``best_epoch``.
        """
        state = net.module_.state_dict()
        candidates = []
        if self.probabilities:
            candidates.append((max(self.probabilities), self.last_weights))
        if best_epoch is not None:
            candidates.append((int(best_epoch), best_weights))
        for epoch, weights in candidates:
            if epoch in self.probabilities and _same_weights(state, weights):
                return self.probabilities[epoch]
        return None


def _copy_weights(module) -> dict:
    """Return a copy of ``module.state_dict()`` (parameters and buffers)."""
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def _same_weights(state: dict, weights: dict | None) -> bool:
    """Whether two state dicts hold the same tensors, value for value."""
    if weights is None or state.keys() != weights.keys():
        return False
    return all(torch.equal(state[name], weights[name]) for name in state)


MAX_CALIBRATION = 2000
MIN_PER_CLASS = 10


def fitted_fraction_estimate(
    model, X_target, X_calibration, y_calibration, seed: int, target_proba=None
):
    """Label-free target merger fraction of a just-fitted model, or None.

    The calibration images are labelled source images never trained on (the
    validation images), injected into the sky of the target images
    (:func:`skdamerge.metrics.estimate_merger_fraction`). Flat features have no
    sky, and a fit without a validation set (or with fewer than 10 images of a
    class in it) has too few unseen labelled images: these give None. So do
    on-disk (out-of-core) arrays, which injection would read into memory.

    Parameters
    ----------
    model : fitted skdamerge estimator or DomainAdaptationPipeline
        The model whose target fraction is estimated.
    X_target : array-like
        The watched target images.
    X_calibration, y_calibration : array-like or None
        Labelled source images not trained on, labels as in ``model.classes_``.
    seed : int
        Seed of the calibration sample, the injection and the bootstrap.
    target_proba : ndarray of shape (n_target, 2) or None, default=None
        The model's probabilities on ``X_target`` as target images, where known
        (they are not computed again).
    """
    from ..metrics._merger_fraction import _estimate_merger_fraction

    if X_calibration is None or len(np.shape(X_calibration)) != 4:
        return None
    if isinstance(X_calibration, LazyImages) or isinstance(X_target, LazyImages):
        # Injection works on images in memory: an out-of-core fit stays out of
        # core, and the user estimates on a sample (estimate_merger_fraction).
        return None
    y_calibration = np.asarray(y_calibration)
    _, counts = np.unique(y_calibration, return_counts=True)
    if len(counts) < 2 or counts.min() < MIN_PER_CLASS:
        return None
    index = monitored_sample(len(y_calibration), seed, size=MAX_CALIBRATION)
    return _estimate_merger_fraction(
        model,
        np.asarray(X_target),
        np.asarray(X_calibration[index]),
        y_calibration[index],
        random_state=seed,
        target_proba=target_proba,
    )


def threshold_for_estimate(merger_proba: np.ndarray, estimate) -> float | None:
    """Threshold that reproduces a trusted estimate on ``merger_proba``, or None."""
    fraction = trusted_fraction(estimate)
    if fraction is None:
        return None
    return threshold_for_fraction(merger_proba, fraction)


def threshold_for_fraction(merger_proba: np.ndarray, fraction: float) -> float:
    """Merger-probability threshold that calls ``fraction`` of the images mergers.

    Parameters
    ----------
    merger_proba : ndarray of shape (n_samples,)
        Merger probabilities of target images.
    fraction : float
        Wanted fraction of images at or above the threshold.

    Returns
    -------
    float
        The ``1 - fraction`` quantile of ``merger_proba`` (a probability in
        [0, 1]); decisions ``proba >= threshold`` reproduce ``fraction``.
    """
    merger_proba = np.sort(np.asarray(merger_proba, dtype=np.float64))
    n = len(merger_proba)
    n_mergers = int(round(fraction * n))
    if n_mergers <= 0:
        return float(np.nextafter(merger_proba[-1], np.inf))
    if n_mergers >= n:
        return float(merger_proba[0])
    # Midway between the last non-merger and the first merger.
    return float((merger_proba[n - n_mergers - 1] + merger_proba[n - n_mergers]) / 2)
