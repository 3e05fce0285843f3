"""Bar charts of the classification metrics of several models on both domains."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np

from .._param_validation import LABEL, Interval, validate_params
from ..metrics import METRIC_LABELS, metric_table
from ._colors import DOMAIN_HATCH, DOMAIN_LINESTYLE, method_color
from ._utils import (
    AXES,
    check_estimators,
    check_labels_pair,
    new_axes,
    positive_scores,
)

__all__ = ["METRICS", "MetricBarsDisplay", "binary_metrics"]

#: The metrics drawn, in the order of DeepMerge II Figure 3, and the expected
#: calibration error after the Brier score: the supervised rows of
#: :func:`skdamerge.metrics.metric_table`.
METRICS = ("accuracy", "precision", "recall", "f1", "brier", "ece", "auc")


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "pos_label": LABEL,
        "threshold": [Interval(Real, 0, 1, closed="both")],
    },
    prefer_skip_nested_validation=True,
)
def binary_metrics(y_true, y_score, *, pos_label=1, threshold=0.5) -> dict[str, float]:
    """Compute the metrics of DeepMerge II Table 1 and the ECE for one model.

    The values of :func:`skdamerge.metrics.metric_table`, in the order of
    :data:`METRICS`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_score : array-like of shape (n_samples,)
        Probability of the positive class ``pos_label``.
    pos_label : label, default=1
        The positive (merger) class.
    threshold : float, default=0.5
        A sample is predicted positive when its score is above the threshold (as
        ``predict`` does for two classes).

    Returns
    -------
    dict
        ``accuracy``, ``precision``, ``recall``, ``f1`` (of the positive class),
        ``brier`` (Brier score of the positive-class probability), ``ece``
        (its expected calibration error, 15 equal-width bins) and ``auc``
        (area under the ROC curve; NaN if ``y_true`` holds a single class).

    See Also
    --------
    skdamerge.metrics.metric_table : the same metrics, in the table's order.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691.
       Section 6, Table 1.
    """
    table = metric_table(y_true, y_score, pos_label=pos_label, threshold=threshold)
    return {name: table[name] for name in METRICS}


class MetricBarsDisplay:
    """Accuracy, precision, recall, F1, Brier score, ECE and AUC per model and domain.

    The bar chart of DeepMerge II Figure 3 (left): one group per metric, one colour
    per model (the paper's colours for ``"noDA"``, ``"MMD"``, ``"MMD+F"``,
    ``"ADA"``, ``"ADA+F"``), the source domain as hatched bars with a dashed edge,
    the target domain as solid bars. Lower is better for the Brier score and the
    expected calibration error, higher for the others.

    Create it with :meth:`from_estimators` or :meth:`from_metrics`.

    Parameters
    ----------
    values : ndarray of shape (n_models, n_domains, n_metrics)
        Metric values.
    model_names : list of str
        Model names, in the order of ``values``.
    domains : list of str
        ``["source"]``, ``["target"]`` or ``["source", "target"]``.
    metrics : list of str, default=METRICS
        Metric names, in the order of ``values``.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the bar chart.
    figure_ : matplotlib Figure
        Figure containing the axes.
    bars_ : dict
        ``{(model name, domain): BarContainer}``; each container holds one bar per
        metric, in the order of ``metrics``.

    See Also
    --------
    DomainRocDisplay : the ROC curves of the same models.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II: Building robust deep
       learning algorithms for merging galaxy identification across domains."
       MNRAS 506, 677-691. Figure 3.
    """

    def __init__(self, values, model_names, domains, metrics=METRICS) -> None:
        self.values = values
        self.model_names = model_names
        self.domains = domains
        self.metrics = metrics

    def plot(
        self, ax=None, *, colors: Mapping[str, str] | None = None, legend: bool = True
    ) -> MetricBarsDisplay:
        """Draw the bar chart.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Axes to draw on; None creates a figure.
        colors : mapping or None, default=None
            ``{model name: colour}`` overriding the default colours.
        legend : bool, default=True
            Add a legend.

        Returns
        -------
        MetricBarsDisplay
            This display, with ``ax_``, ``figure_`` and ``bars_`` set.
        """
        values = np.asarray(self.values, dtype=np.float64)
        n_models, n_domains, n_metrics = (
            len(self.model_names),
            len(self.domains),
            len(self.metrics),
        )
        if values.shape != (n_models, n_domains, n_metrics):
            raise ValueError(
                f"values must have shape (n_models, n_domains, n_metrics) = "
                f"{(n_models, n_domains, n_metrics)}; got {values.shape}."
            )
        figure, axes = new_axes(
            ax,
            1,
            1,
            figsize=(max(5.0, 1.1 * n_metrics * n_models * n_domains / 3), 3.5),
        )
        ax = axes[0]
        colors = dict(colors or {})
        group = np.arange(n_metrics)
        n_bars = n_models * n_domains
        width = 0.85 / n_bars
        self.bars_ = {}
        for i, model in enumerate(self.model_names):
            color = colors.get(model, method_color(model, i))
            for j, domain in enumerate(self.domains):
                offset = (i * n_domains + j - (n_bars - 1) / 2) * width
                solid = domain != "source"
                self.bars_[(model, domain)] = ax.bar(
                    group + offset,
                    values[i, j],
                    width=width,
                    color=color if solid else "none",
                    edgecolor=color,
                    hatch=DOMAIN_HATCH.get(domain),
                    linestyle=DOMAIN_LINESTYLE.get(domain, "-"),
                    linewidth=1.2,
                    label=f"{model} ({domain})",
                )
        ax.set_xticks(group, [METRIC_LABELS.get(m, m) for m in self.metrics])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("value")
        if legend:
            ax.legend(
                fontsize="small",
                ncols=max(1, n_models),
                loc="lower center",
                bbox_to_anchor=(0.5, 1.0),
                frameon=False,
            )
        self.ax_ = ax
        self.figure_ = figure
        return self

    @classmethod
    @validate_params(
        {
            "source_metrics": [Mapping, None],
            "target_metrics": [Mapping, None],
            "metrics": ["array-like"],
            "ax": AXES,
        },
        prefer_skip_nested_validation=True,
    )
    def from_metrics(
        cls,
        source_metrics: Mapping[str, Mapping[str, float]] | None,
        target_metrics: Mapping[str, Mapping[str, float]] | None = None,
        *,
        metrics=METRICS,
        ax=None,
        **plot_kwargs,
    ) -> MetricBarsDisplay:
        """Draw metrics computed elsewhere.

        Parameters
        ----------
        source_metrics : mapping or None
            ``{model name: {metric name: value}}`` for the source domain.
        target_metrics : mapping or None, default=None
            The same for the target domain, with the same model names.
        metrics : sequence of str, default=METRICS
            Metrics to draw, in order; each must be present for every model (NaN
            is drawn as no bar).
        ax : matplotlib Axes or None, default=None
            Axes to draw on.
        **plot_kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        MetricBarsDisplay
            The drawn display.
        """
        tables = {
            domain: table
            for domain, table in (
                ("source", source_metrics),
                ("target", target_metrics),
            )
            if table is not None
        }
        if not tables:
            raise ValueError("Pass source_metrics and/or target_metrics.")
        models = list(next(iter(tables.values())))
        for domain, table in tables.items():
            if list(table) != models:
                raise ValueError(
                    f"The {domain} metrics are for models {list(table)}, expected "
                    f"{models}."
                )
        metrics = list(metrics)
        values = np.empty((len(models), len(tables), len(metrics)))
        for j, table in enumerate(tables.values()):
            for i, model in enumerate(models):
                missing = [m for m in metrics if m not in table[model]]
                if missing:
                    raise ValueError(f"Model {model!r} has no value for {missing}.")
                values[i, j] = [table[model][m] for m in metrics]
        display = cls(values, [str(m) for m in models], list(tables), metrics)
        return display.plot(ax=ax, **plot_kwargs)

    @classmethod
    def from_estimators(
        cls,
        estimators: Mapping[str, object],
        X_source,
        y_source,
        X_target=None,
        y_target=None,
        *,
        metrics=METRICS,
        ax=None,
        **plot_kwargs,
    ) -> MetricBarsDisplay:
        """Compute and draw the metrics of several fitted classifiers.

        Predictions are ``predict_proba(X)[:, 1] > 0.5`` for the positive class
        ``classes_[1]`` (merger); see :func:`skdamerge.metrics.metric_table`.

        Parameters
        ----------
        estimators : mapping
            ``{name: fitted estimator}``, e.g. ``{"noDA": ..., "MMD": ...}``.
        X_source, y_source : array-like
            Labelled source test data.
        X_target, y_target : array-like or None, default=None
            Labelled target test data; None draws the source only.
        metrics : sequence of str, default=METRICS
            Metrics to draw, from :data:`METRICS`.
        ax : matplotlib Axes or None, default=None
            Axes to draw on.
        **plot_kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        MetricBarsDisplay
            The drawn display.
        """
        estimators = check_estimators(estimators)
        check_labels_pair(X_target, y_target, "X_target", "y_target")
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"Unknown metrics {unknown}; choose from {METRICS}.")
        data = {"source": (X_source, y_source)}
        if X_target is not None:
            data["target"] = (X_target, y_target)
        tables = {domain: {} for domain in data}
        for name, estimator in estimators.items():
            for domain, (X, y) in data.items():
                score, pos_label = positive_scores(estimator, X)
                tables[domain][name] = metric_table(y, score, pos_label=pos_label)
        return cls.from_metrics(
            tables["source"],
            tables.get("target"),
            metrics=metrics,
            ax=ax,
            **plot_kwargs,
        )
