"""Per-epoch training curves from an estimator's history."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from matplotlib.ticker import MaxNLocator
from sklearn.exceptions import NotFittedError

from .._engine import history_keys as keys
from .._param_validation import HasMethods, validate_params
from ._colors import DOMAIN_COLORS
from ._utils import AXES, new_axes

__all__ = ["TrainingHistoryDisplay"]

# Panel title -> [(history key, legend label, line style)]. The loss panels come
# first; a panel is drawn when at least one of its keys is recorded.
_PANELS = (
    ("total loss", [(keys.TRAIN_LOSS, "train", "-")]),
    (
        "classification loss",
        [
            (keys.train_key(keys.CLASSIFICATION_LOSS), "train (source)", "-"),
            (keys.VALID_LOSS, "validation (source)", "--"),
        ],
    ),
    ("transfer loss", [(keys.train_key(keys.TRANSFER_LOSS), "train", "-")]),
    ("Fisher loss", [(keys.train_key(keys.FISHER_LOSS), "train (source)", "-")]),
    ("entropy loss", [(keys.train_key(keys.ENTROPY_LOSS), "train (target)", "-")]),
    (
        "domain classifier",
        [
            (keys.train_key(keys.DOMAIN_ACC_SOURCE), "accuracy on source", "-"),
            (keys.train_key(keys.DOMAIN_ACC_TARGET), "accuracy on target", "-"),
            (keys.train_key(keys.GRL_COEFFICIENT), "GRL coefficient", ":"),
        ],
    ),
    ("learning rate", [(keys.LEARNING_RATE, "lr", "-")]),
    (
        "validation metrics",
        [(keys.VALID_ACC, "accuracy", "-"), (keys.VALID_AUC, "AUC", "--")],
    ),
)
_OPTIONAL_LOSSES = tuple(
    keys.train_key(name)
    for name in (keys.TRANSFER_LOSS, keys.FISHER_LOSS, keys.ENTROPY_LOSS)
)
_LINE_COLORS = {
    keys.train_key(keys.DOMAIN_ACC_SOURCE): DOMAIN_COLORS["source"],
    keys.train_key(keys.DOMAIN_ACC_TARGET): DOMAIN_COLORS["target"],
}


def _column(history, key: str) -> np.ndarray:
    return np.array(
        [float(row[key]) if row.get(key) is not None else np.nan for row in history]
    )


class TrainingHistoryDisplay:
    """Per-epoch curves of the losses, domain classifier, learning rate and metrics.

    One panel each for the total loss, the classification loss (training and
    source validation), the transfer, Fisher and entropy losses, the domain
    classifier's accuracies on source and target with the gradient-reversal
    coefficient (DANN), the learning rate, and the source validation accuracy and
    AUC. A panel is drawn only if its values were recorded; the Fisher, entropy
    and transfer losses are left out when they are zero at every epoch (the term
    is disabled) unless ``show_disabled=True``. A vertical line marks the kept
    (best) epoch.

    Create it with :meth:`from_estimator` or :meth:`from_history`.

    Parameters
    ----------
    history : skorch History or list of dict
        Per-epoch records (``estimator.history_``).
    best_epoch : int or None, default=None
        Epoch (1-based) of the kept model, marked with a vertical line.
    show_disabled : bool, default=False
        Also draw loss components that are zero at every epoch.

    Attributes
    ----------
    ax_ : ndarray of matplotlib Axes
        The panels (flattened; unused grid cells are hidden).
    figure_ : matplotlib Figure
        Figure containing the axes.
    lines_ : dict
        ``{history key: Line2D}``; ``x`` is the epoch, ``y`` the history column.
    panels_ : list of str
        Titles of the drawn panels, in the order of ``ax_``.

    References
    ----------
    .. [1] Tietz, M., Fan, T. J., Nouri, D., Bossan, B. and skorch developers
       (2017). "skorch: A scikit-learn compatible neural network library that
       wraps PyTorch." https://skorch.readthedocs.io.
    .. [2] Ćiprijanović, A., et al. (2021). "DeepMerge II: Building robust deep
       learning algorithms for merging galaxy identification across domains."
       MNRAS 506, 677-691.
    """

    def __init__(
        self, history, *, best_epoch: int | None = None, show_disabled: bool = False
    ) -> None:
        self.history = history
        self.best_epoch = best_epoch
        self.show_disabled = show_disabled

    def _panels(self, rows):
        recorded = set().union(*(row.keys() for row in rows))
        panels = []
        for title, entries in _PANELS:
            keep = []
            for key, label, style in entries:
                if key not in recorded:
                    continue
                values = _column(rows, key)
                if np.all(np.isnan(values)):
                    continue
                if (
                    key in _OPTIONAL_LOSSES
                    and not self.show_disabled
                    and np.all(np.nan_to_num(values) == 0)
                ):
                    continue
                keep.append((key, label, style, values))
            if keep:
                panels.append((title, keep))
        return panels

    def plot(self, ax=None, *, n_cols: int = 3) -> TrainingHistoryDisplay:
        """Draw the training curves.

        Parameters
        ----------
        ax : array of matplotlib Axes or None, default=None
            At least as many Axes as panels; None creates a figure.
        n_cols : int, default=3
            Panels per row of a new figure.

        Returns
        -------
        TrainingHistoryDisplay
            This display, with ``ax_``, ``figure_``, ``lines_`` and ``panels_`` set.
        """
        rows = list(self.history)
        if not rows:
            raise ValueError("The history is empty; fit the estimator first.")
        panels = self._panels(rows)
        epochs = np.array(
            [row.get("epoch", i + 1) for i, row in enumerate(rows)], dtype=float
        )
        n_panels = len(panels)
        n_cols = max(1, min(n_cols, n_panels))
        n_rows = -(-n_panels // n_cols)
        if ax is None:
            figure, axes = new_axes(None, n_rows, n_cols)
        else:
            figure, axes = new_axes(ax, 1, n_panels)
        for extra in axes[n_panels:]:
            extra.set_visible(False)
        axes = axes[:n_panels]
        self.lines_ = {}
        for panel, (title, entries) in zip(axes, panels, strict=True):
            for key, label, style, values in entries:
                (self.lines_[key],) = panel.plot(
                    epochs,
                    values,
                    linestyle=style,
                    marker="o" if len(epochs) < 30 else None,
                    markersize=3,
                    color=_LINE_COLORS.get(key),
                    label=label,
                )
            if self.best_epoch is not None:
                panel.axvline(self.best_epoch, color="0.6", linewidth=0.8, zorder=0)
            if title == "learning rate":
                panel.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
            panel.set_title(title)
            panel.set_xlabel("epoch")
            panel.xaxis.set_major_locator(MaxNLocator(integer=True))
            if len(entries) > 1:
                panel.legend(fontsize="small")
        self.ax_ = axes
        self.figure_ = figure
        self.panels_ = [title for title, _ in panels]
        return self

    @classmethod
    @validate_params(
        {
            "history": ["array-like"],
            "best_epoch": [Integral, None],
            "show_disabled": ["boolean"],
            "ax": AXES,
        },
        prefer_skip_nested_validation=True,
    )
    def from_history(
        cls,
        history,
        *,
        best_epoch: int | None = None,
        show_disabled: bool = False,
        ax=None,
        **plot_kwargs,
    ) -> TrainingHistoryDisplay:
        """Draw the curves of a history.

        Parameters
        ----------
        history : skorch History or list of dict
            Per-epoch records.
        best_epoch : int or None, default=None
            Epoch to mark.
        show_disabled : bool, default=False
            Also draw loss components that are zero at every epoch.
        ax : array of matplotlib Axes or None, default=None
            Where to draw.
        **plot_kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        TrainingHistoryDisplay
            The drawn display.
        """
        display = cls(history, best_epoch=best_epoch, show_disabled=show_disabled)
        return display.plot(ax=ax, **plot_kwargs)

    @classmethod
    @validate_params(
        {
            "estimator": [HasMethods(["fit"])],
            "show_disabled": ["boolean"],
            "ax": AXES,
        },
        prefer_skip_nested_validation=True,
    )
    def from_estimator(
        cls, estimator, *, show_disabled: bool = False, ax=None, **plot_kwargs
    ) -> TrainingHistoryDisplay:
        """Draw the training curves of a fitted estimator.

        Parameters
        ----------
        estimator : fitted skdamerge estimator
            Its ``history_`` is drawn and its ``best_epoch_`` marked.
        show_disabled : bool, default=False
            Also draw loss components that are zero at every epoch.
        ax : array of matplotlib Axes or None, default=None
            Where to draw.
        **plot_kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        TrainingHistoryDisplay
            The drawn display.
        """
        if not hasattr(estimator, "history_"):
            raise NotFittedError(
                f"{type(estimator).__name__} has no history_; fit it first."
            )
        return cls.from_history(
            estimator.history_,
            best_epoch=getattr(estimator, "best_epoch_", None),
            show_disabled=show_disabled,
            ax=ax,
            **plot_kwargs,
        )
