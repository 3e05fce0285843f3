"""Exceptions and warnings raised by skdamerge."""

from __future__ import annotations

__all__ = ["DomainClassifierWarning", "NonFiniteLossError"]


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
    ``domain_lr_multiplier`` well below one (the paper uses 0.01) usually helps.
    """
