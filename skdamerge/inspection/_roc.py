"""ROC curves of several models on the source and the target domain."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.metrics import RocCurveDisplay, auc, roc_curve

from .._param_validation import LABEL, validate_params
from ._colors import DOMAIN_LINESTYLE, method_color
from ._utils import (
    AXES,
    ESTIMATORS,
    check_estimators,
    check_labels_pair,
    new_axes,
    positive_scores,
)

__all__ = ["DomainRocDisplay"]


class DomainRocDisplay:
    """ROC curves per model and domain (DeepMerge II Figure 3, right).

    Each curve is a :class:`sklearn.metrics.RocCurveDisplay`; one colour per model
    (the paper's method colours), the source domain dashed, the target domain
    solid, the AUC in the legend.

    Create it with :meth:`from_estimators` or :meth:`from_predictions`.

    Parameters
    ----------
    roc_displays : dict
        ``{(model name, domain): RocCurveDisplay}`` (not yet drawn, or drawn
        elsewhere).

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the curves.
    figure_ : matplotlib Figure
        Figure containing the axes.
    lines_ : dict
        ``{(model name, domain): Line2D}``.
    chance_level_ : matplotlib Line2D or None
        The diagonal of a random classifier.

    See Also
    --------
    MetricBarsDisplay : the metrics of the same models.
    sklearn.metrics.RocCurveDisplay : one ROC curve.

    References
    ----------
    .. [1] Fawcett, T. (2006). "An introduction to ROC analysis." Pattern
       Recognition Letters 27, 861-874.
    .. [2] Ćiprijanović, A., et al. (2021). "DeepMerge II: Building robust deep
       learning algorithms for merging galaxy identification across domains."
       MNRAS 506, 677-691. Figure 3.
    """

    def __init__(self, roc_displays: Mapping[tuple[str, str], RocCurveDisplay]):
        self.roc_displays = roc_displays

    def plot(
        self,
        ax=None,
        *,
        colors: Mapping[str, str] | None = None,
        plot_chance_level: bool = True,
    ) -> DomainRocDisplay:
        """Draw the ROC curves.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Axes to draw on; None creates a figure.
        colors : mapping or None, default=None
            ``{model name: colour}`` overriding the default colours.
        plot_chance_level : bool, default=True
            Draw the diagonal of a random classifier.

        Returns
        -------
        DomainRocDisplay
            This display, with ``ax_``, ``figure_`` and ``lines_`` set.
        """
        figure, axes = new_axes(ax, 1, 1, figsize=(4.5, 4.0))
        ax = axes[0]
        colors = dict(colors or {})
        models = list(dict.fromkeys(model for model, _ in self.roc_displays))
        self.lines_ = {}
        self.chance_level_ = None
        for (model, domain), display in self.roc_displays.items():
            color = colors.get(model, method_color(model, models.index(model)))
            first = plot_chance_level and self.chance_level_ is None
            display.plot(
                ax=ax,
                name=f"{model} ({domain})",
                curve_kwargs={
                    "color": color,
                    "linestyle": DOMAIN_LINESTYLE.get(domain, "-"),
                },
                plot_chance_level=first,
                chance_level_kw={"color": "0.6", "linestyle": ":"},
            )
            self.lines_[(model, domain)] = display.line_
            if first:
                self.chance_level_ = display.chance_level_
        ax.legend(loc="lower right", fontsize="small")
        self.ax_ = ax
        self.figure_ = figure
        return self

    @classmethod
    @validate_params(
        {
            "y_source": ["array-like"],
            "scores_source": [Mapping],
            "y_target": ["array-like", None],
            "scores_target": [Mapping, None],
            "pos_label": LABEL,
            "ax": AXES,
        },
        prefer_skip_nested_validation=True,
    )
    def from_predictions(
        cls,
        y_source,
        scores_source: Mapping[str, object],
        y_target=None,
        scores_target: Mapping[str, object] | None = None,
        *,
        pos_label=1,
        ax=None,
        **plot_kwargs,
    ) -> DomainRocDisplay:
        """Draw ROC curves from labels and the scores of several models.

        Parameters
        ----------
        y_source : array-like of shape (n_source,)
            True source labels.
        scores_source : mapping
            ``{model name: positive-class scores on the source samples}``.
        y_target : array-like of shape (n_target,) or None, default=None
            True target labels.
        scores_target : mapping or None, default=None
            ``{model name: scores on the target samples}``.
        pos_label : label, default=1
            The positive (merger) class.
        ax : matplotlib Axes or None, default=None
            Axes to draw on.
        **plot_kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        DomainRocDisplay
            The drawn display.
        """
        if (scores_target is None) != (y_target is None):
            raise ValueError(
                "scores_target and y_target must be given together (or neither)."
            )
        for name, scores in [("source", scores_source), ("target", scores_target)]:
            labels = y_source if name == "source" else y_target
            for model, values in (scores or {}).items():
                if len(values) != len(labels):
                    raise ValueError(
                        f"scores_{name}[{model!r}] has {len(values)} scores but "
                        f"y_{name} has {len(labels)} labels."
                    )
        data = {"source": (y_source, scores_source)}
        if y_target is not None:
            data["target"] = (y_target, scores_target)
        models = list(scores_source)
        if y_target is not None and list(scores_target) != models:
            raise ValueError(
                f"scores_target is for models {list(scores_target)}, scores_source "
                f"for {models}."
            )
        roc_displays = {}
        for model in models:
            for domain, (y, scores) in data.items():
                y = np.asarray(y)
                score = np.asarray(scores[model], dtype=np.float64)
                fpr, tpr, auc = _roc(y, score, pos_label)
                roc_displays[(str(model), domain)] = RocCurveDisplay(
                    fpr=fpr, tpr=tpr, roc_auc=auc, pos_label=pos_label
                )
        return cls(roc_displays).plot(ax=ax, **plot_kwargs)

    @classmethod
    @validate_params(
        {
            "estimators": ESTIMATORS,
            "X_source": ["array-like"],
            "y_source": ["array-like"],
            "X_target": ["array-like", None],
            "y_target": ["array-like", None],
            "ax": AXES,
        },
        prefer_skip_nested_validation=True,
    )
    def from_estimators(
        cls,
        estimators: Mapping[str, object],
        X_source,
        y_source,
        X_target=None,
        y_target=None,
        *,
        ax=None,
        **plot_kwargs,
    ) -> DomainRocDisplay:
        """Draw the ROC curves of several fitted classifiers on both domains.

        Parameters
        ----------
        estimators : mapping
            ``{name: fitted estimator}``; the score is ``predict_proba(X)[:, 1]``
            for the positive class ``classes_[1]``.
        X_source, y_source : array-like
            Labelled source test data.
        X_target, y_target : array-like or None, default=None
            Labelled target test data; None draws the source only.
        ax : matplotlib Axes or None, default=None
            Axes to draw on.
        **plot_kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        DomainRocDisplay
            The drawn display.
        """
        estimators = check_estimators(estimators)
        check_labels_pair(X_target, y_target, "X_target", "y_target")
        data = {"source": (X_source, y_source)}
        if X_target is not None:
            data["target"] = (X_target, y_target)
        roc_displays = {}
        for name, estimator in estimators.items():
            for domain, (X, y) in data.items():
                score, pos_label = positive_scores(estimator, X)
                fpr, tpr, auc = _roc(np.asarray(y), score, pos_label)
                roc_displays[(name, domain)] = RocCurveDisplay(
                    fpr=fpr, tpr=tpr, roc_auc=auc, pos_label=pos_label
                )
        return cls(roc_displays).plot(ax=ax, **plot_kwargs)


def _roc(y, score, pos_label):
    fpr, tpr, _ = roc_curve(y, score, pos_label=pos_label)
    return fpr, tpr, auc(fpr, tpr)
