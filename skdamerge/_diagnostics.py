"""Diagnostics read from the training history."""

from __future__ import annotations

import warnings

import numpy as np

from .exceptions import DomainClassifierWarning

__all__ = ["domain_classifier_state", "warn_if_domain_classifier_failed"]


def domain_classifier_state(history, *, last_epochs: int = 3) -> str:
    """Classify the domain classifier's behaviour over the last epochs.

    Parameters
    ----------
    history : skorch.History or list of dict
        Per-epoch records with ``train_domain_acc_source`` and
        ``train_domain_acc_target`` (fraction of each domain classified correctly).
    last_epochs : int, default=3
        Number of final epochs averaged.

    Returns
    -------
    {"collapsed", "separating", "confused", "unknown"}
        ``"collapsed"``: every image is assigned to one domain (one accuracy near 1,
        the other near 0; DeepMerge II Appendix A). ``"separating"``: both
        accuracies near 1, the domains are told apart perfectly and the reversed
        gradient vanishes. ``"confused"``: anything else, the intended state of
        adversarial training. ``"unknown"``: no domain accuracies recorded.
    """
    rows = [
        row
        for row in history
        if "train_domain_acc_source" in row and "train_domain_acc_target" in row
    ]
    if not rows:
        return "unknown"
    rows = rows[-last_epochs:]
    source = float(np.mean([row["train_domain_acc_source"] for row in rows]))
    target = float(np.mean([row["train_domain_acc_target"] for row in rows]))
    if min(source, target) >= 0.98:
        return "separating"
    if (source >= 0.98 and target <= 0.02) or (target >= 0.98 and source <= 0.02):
        return "collapsed"
    return "confused"


def warn_if_domain_classifier_failed(history) -> str:
    """Warn with a :class:`~skdamerge.exceptions.DomainClassifierWarning` if needed.

    Returns
    -------
    str
        The state found by :func:`domain_classifier_state`.
    """
    state = domain_classifier_state(history)
    if state == "collapsed":
        warnings.warn(
            "The domain classifier collapsed: over the last epochs it assigned "
            "every image to one domain, so the features were not aligned. Lower "
            "domain_lr_multiplier (e.g. 0.01) or transfer_weight.",
            DomainClassifierWarning,
            stacklevel=3,
        )
    elif state == "separating":
        warnings.warn(
            "The domain classifier separates source and target perfectly over the "
            "last epochs, so the reversed gradient vanished and the features were "
            "not aligned. Lower domain_lr_multiplier (e.g. 0.01) so that the "
            "feature extractor can keep up.",
            DomainClassifierWarning,
            stacklevel=3,
        )
    return state
