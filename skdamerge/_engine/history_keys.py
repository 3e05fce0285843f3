"""Names of the records in a fitted estimator's ``history_``, defined once.

An objective records each of its loss components per batch as ``train_<name>``
(:func:`train_key`); skorch averages them per epoch. The training loop and the
callbacks add the learning rate, the source validation scores and the target
monitor's records. Plots, progress displays and diagnostics read these names from
here.
"""

from __future__ import annotations

__all__ = [
    "ALIGNMENT_WEIGHT",
    "CLASSIFICATION_LOSS",
    "CLASSIFICATION_WEIGHT",
    "DIVERSITY",
    "DOMAIN_ACC_SOURCE",
    "DOMAIN_ACC_TARGET",
    "ENTROPY_LOSS",
    "FISHER_LOSS",
    "GRL_COEFFICIENT",
    "JDOT_FEATURE_COST",
    "JDOT_LABEL_COST",
    "LEARNING_RATE",
    "MARGIN_DISPARITY",
    "PSEUDO_LABEL_LOSS",
    "PSEUDO_LABEL_MERGER_FRACTION",
    "SELECTION_LOSS",
    "SINKHORN_EPSILON",
    "TARGET_COLLAPSED",
    "TARGET_MEAN_PROBA",
    "TARGET_MERGER_FRACTION",
    "TRAIN_LOSS",
    "TRANSFER_LOSS",
    "VALID_ACC",
    "VALID_AUC",
    "VALID_LOSS",
    "train_key",
]

# Loss components and per-batch records of the objectives.
CLASSIFICATION_LOSS = "classification_loss"
TRANSFER_LOSS = "transfer_loss"
FISHER_LOSS = "fisher_loss"
ENTROPY_LOSS = "entropy_loss"
DOMAIN_ACC_SOURCE = "domain_acc_source"
DOMAIN_ACC_TARGET = "domain_acc_target"
GRL_COEFFICIENT = "grl_coefficient"
DIVERSITY = "diversity"
PSEUDO_LABEL_LOSS = "pseudo_label_loss"
JDOT_FEATURE_COST = "jdot_feature_cost"
JDOT_LABEL_COST = "jdot_label_cost"
SINKHORN_EPSILON = "sinkhorn_epsilon"
CLASSIFICATION_WEIGHT = "classification_weight"
ALIGNMENT_WEIGHT = "alignment_weight"
MARGIN_DISPARITY = "margin_disparity"

# Records of the training loop and its callbacks.
TRAIN_LOSS = "train_loss"
LEARNING_RATE = "lr"
VALID_LOSS = "valid_loss"
VALID_ACC = "valid_acc"
VALID_AUC = "valid_auc"

# Records of the target monitor.
TARGET_MERGER_FRACTION = "target_merger_fraction"
TARGET_MEAN_PROBA = "target_mean_proba"
TARGET_COLLAPSED = "target_collapsed"
SELECTION_LOSS = "valid_selection_loss"

# Records of SHOT's pseudo-labelling at the start of each target epoch.
PSEUDO_LABEL_MERGER_FRACTION = "pseudo_label_merger_fraction"


def train_key(component: str) -> str:
    """History key of an objective's per-batch record, e.g. ``train_fisher_loss``."""
    return "train_" + component
