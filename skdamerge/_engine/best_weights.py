"""Keep the weights of the best validation epoch (the model early stopping keeps).

skorch's :class:`~skorch.callbacks.EarlyStopping` decides when to stop; this
callback decides, with the same improvement rule (a relative threshold on the
monitored loss), which epoch's weights the fitted model holds. It exposes them
for the checkpoints and for a fit that stops on a non-finite loss, and restores
them at the end of training.
"""

from __future__ import annotations

import copy
import math

from skorch.callbacks import Callback

__all__ = ["BestWeights"]


class BestWeights(Callback):
    """Copy the module's weights whenever the monitored loss improves.

    Parameters
    ----------
    monitor : str
        History key of the loss that chooses the model (lower is better).
    threshold : float, default=1e-4
        Relative improvement needed: a loss counts as better when it is below
        ``best * (1 - threshold)``, as in skorch's ``EarlyStopping`` (same
        default), so that the epoch kept is the one early stopping judged best.

    Attributes
    ----------
    weights : dict or None
        A copy of ``module_.state_dict()`` at the best epoch so far.
    epoch : int or None
        That epoch (1-based).
    score : float
        The best monitored loss so far.
    """

    def __init__(self, monitor: str, threshold: float = 1e-4) -> None:
        self.monitor = monitor
        self.threshold = threshold

    def initialize(self):
        """Forget any earlier best model."""
        self.weights = None
        self.epoch = None
        self.score = math.inf
        return self

    def __getstate__(self) -> dict:
        # A pickled model holds its kept weights already; do not store them twice.
        state = dict(self.__dict__)
        state["weights"] = None
        return state

    def improved(self, score: float) -> bool:
        """Whether ``score`` beats the best so far by the relative threshold."""
        if math.isinf(self.score):
            return True
        return score < self.score - self.threshold * self.score

    def on_train_begin(self, net, **kwargs) -> None:
        """Start each training run afresh (as early stopping does)."""
        self.initialize()

    def on_epoch_end(self, net, **kwargs) -> None:
        """Copy the weights if this epoch's monitored loss improved."""
        row = net.history[-1]
        if self.monitor not in row:
            return
        score = float(row[self.monitor])
        if self.improved(score):
            self.score = score
            self.epoch = int(row["epoch"])
            self.weights = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs) -> None:
        """Restore the best weights unless the last epoch was the best."""
        if self.weights is not None and self.epoch != net.history[-1, "epoch"]:
            net.module_.load_state_dict(self.weights)
