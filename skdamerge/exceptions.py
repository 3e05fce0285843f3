"""Exceptions and warnings raised by skdamerge."""

from __future__ import annotations

__all__ = ["DomainClassifierWarning", "NonFiniteLossError", "TargetCollapseWarning"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite.

    Raised by ``fit``, which stops at the offending step. The estimator is still
    fitted afterwards: it keeps the best model seen so far (the best validation
    epoch, or the weights before the offending step without validation), so that
    hours of training are not lost.

    Attributes
    ----------
    epoch : int
        Epoch (1-based) in which the loss stopped being finite.
    components : dict
        Value of each loss component at the offending step.
    """

    def __init__(self, message: str, *, epoch: int, components: dict) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.components = components


class DomainClassifierWarning(UserWarning):
    """The domain classifier of adversarial training collapsed or won outright.

    Either it assigns every image to one domain (mode collapse, DeepMerge II
    Appendix A), or it separates the domains perfectly so that the reversed
    gradient vanishes; in both cases the features are not being aligned. A
    lower ``domain_lr_multiplier`` (the default is 0.01, the paper's value with
    the Fisher loss) usually helps.
    """


class TargetCollapseWarning(UserWarning):
    """The predictions on the unlabelled target domain degenerated.

    Raised by ``fit`` of the domain-adaptation estimators when, at the end of
    training, the kept model predicts (almost) one class for the whole target
    domain ("collapsed"), or a target merger fraction far from both the training
    fraction and its own mean merger probability, the sign of a shifted decision
    threshold ("drifted"). The criterion is
    :func:`skdamerge.metrics._collapse.target_collapse`; the message names the
    hyperparameters to lower. The per-epoch target fractions are in
    ``history_[:, "target_merger_fraction"]``.
    """
