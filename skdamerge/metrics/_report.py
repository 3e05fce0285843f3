"""Reports of a fitted estimator on both domains, printable as tables."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils.validation import check_is_fitted

from .._param_validation import LABEL, HasMethods, validate_params
from .._validation import resolve_positive_class
from ._fitted import fitted_attribute, predict_proba_in
from ._merger_fraction_estimate import trusted_fraction
from ._table import (
    _DOMAINS,
    _MISSING,
    _SUPERVISED,
    _UNSUPERVISED,
    METRIC_LABELS,
    _binary_truth,
    metric_table,
    normalized_confusion_matrix,
)
from ._unsupervised import prediction_entropy

# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


def _label_names(labels: tuple[Any, Any]) -> tuple[str, str]:
    pos, neg = labels
    if _is_number(pos) and _is_number(neg) and pos == 1 and neg == 0:
        return "M", "NM"
    return str(pos), str(neg)


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating | bool | np.bool_)


def _python(value):
    """Numpy scalars to Python scalars, for dicts that ``json.dumps`` accepts."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True, eq=False)
class DomainAdaptationReport:
    """The DeepMerge II evaluation of one model on the source and target domains.

    Built by :func:`domain_adaptation_report`. Printing gives a Table 1-style
    layout (rows = metrics, columns = source / target) followed by the Table B1
    normalised confusion matrices.

    Parameters
    ----------
    source : dict of str to float
        Source-domain values: the keys of :func:`metric_table` and the label-free
        ``"merger_fraction"`` (fraction predicted merger) and ``"entropy"`` (mean
        prediction entropy in nats).
    target : dict of str to float
        Target-domain values; without target labels only the label-free keys (and
        none at all without target data). For a model fitted with a target domain
        also ``"estimated_merger_fraction"`` (its trusted label-free estimate,
        ``target_merger_fraction_``), ``"merger_fraction_at_estimate"`` (the
        fraction of these images that the decisions at ``target_threshold_``,
        those of ``predict(X, domain="target")``, call mergers) and, with target
        labels, ``"accuracy_at_estimate"`` (the accuracy of those decisions).
    source_confusion : ndarray of shape (2, 2)
        :func:`normalized_confusion_matrix` of the source: columns = true label,
        rows = predicted label, order merger, non-merger; each column sums to 1.
    target_confusion : ndarray of shape (2, 2) or None
        Same for the target; None without target labels.
    labels : tuple
        ``(merger label, non-merger label)``, the order of the confusion matrices.
    n_source, n_target : int
        Number of samples evaluated in each domain.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691,
       Table 1 and Table B1.
    """

    source: dict[str, float]
    target: dict[str, float]
    source_confusion: np.ndarray
    target_confusion: np.ndarray | None
    labels: tuple[Any, Any]
    n_source: int
    n_target: int = 0

    @property
    def has_target_labels(self) -> bool:
        """Whether the supervised target metrics are present."""
        return self.target_confusion is not None

    def to_dict(self) -> dict[str, Any]:
        """Return the report as nested plain Python objects (JSON-serialisable).

        Returns
        -------
        dict
            ``{"source": {...}, "target": {...}, "confusion": {"source": [[...]],
            "target": [[...]] or None}, "labels": [merger, non-merger],
            "n_source": int, "n_target": int}``. Quantities that could not be
            computed (target metrics without target labels) are absent keys; an
            AUC on a single-class set is NaN.
        """
        target_cm = self.target_confusion
        return {
            "source": dict(self.source),
            "target": dict(self.target),
            "confusion": {
                "source": self.source_confusion.tolist(),
                "target": None if target_cm is None else target_cm.tolist(),
            },
            "labels": [_python(label) for label in self.labels],
            "n_source": int(self.n_source),
            "n_target": int(self.n_target),
        }

    def _as_comparison(self) -> ReportComparison:
        return ReportComparison({"": self})

    def to_string(self, decimals: int = 2) -> str:
        """Render the metric table and the confusion matrices as plain text.

        Parameters
        ----------
        decimals : int, default=2
            Digits after the decimal point (the paper uses 2).

        Returns
        -------
        str
            Rows = metrics, columns = Source / Target, then the normalised
            confusion matrices (columns = true label, rows = predicted label).
            Values that need target labels show as ``-`` without them.
        """
        return self._as_comparison().to_string(decimals)

    def to_markdown(self, decimals: int = 2) -> str:
        """Render the report as two GitHub-flavoured Markdown tables.

        Parameters
        ----------
        decimals : int, default=2
            Digits after the decimal point.

        Returns
        -------
        str
            The metric table, a blank line, and the confusion matrix table.
        """
        return self._as_comparison().to_markdown(decimals)

    def to_csv(self, decimals: int | None = None) -> str:
        """Render the report as CSV text (no pandas needed).

        Parameters
        ----------
        decimals : int or None, default=None
            Round the values; None writes full precision.

        Returns
        -------
        str
            Header ``quantity,source,target``, one row per metric, then one row per
            confusion-matrix entry (e.g. ``confusion: predicted M | true NM``), the
            source matrix in the source column and the target one in the target
            column.
            Missing values are empty fields.
        """
        return self._as_comparison().to_csv(decimals)

    def __str__(self) -> str:
        return self.to_string()


@dataclass(frozen=True, eq=False)
class ReportComparison:
    """Several :class:`DomainAdaptationReport` side by side, one column group each.

    Built by :func:`compare_reports`. Rows are the metrics, as in the paper's
    Table 1; each method contributes a Source and a Target column. The confusion
    matrices follow in the Table B1 layout: a column pair (true M, true NM) per
    method, source rows above target rows.

    Parameters
    ----------
    reports : dict of str to DomainAdaptationReport
        Reports keyed by method name, in display order.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691,
       Table 1 and Table B1.
    """

    reports: Mapping[str, DomainAdaptationReport]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return ``{method: report.to_dict()}``.

        Returns
        -------
        dict
            One :meth:`DomainAdaptationReport.to_dict` per method.
        """
        return {name: report.to_dict() for name, report in self.reports.items()}

    # -- table construction ------------------------------------------------------
    def _keys(self) -> list[str]:
        keys = _SUPERVISED + _UNSUPERVISED
        present = set()
        for report in self.reports.values():
            present.update(report.source)
            present.update(report.target)
        return [k for k in keys if k in present]

    def _metric_rows(self) -> list[tuple[str, list[float | None]]]:
        rows = []
        for key in self._keys():
            values: list[float | None] = []
            for report in self.reports.values():
                values.append(report.source.get(key))
                values.append(report.target.get(key))
            rows.append((METRIC_LABELS[key], values))
        return rows

    def _names(self) -> tuple[str, str]:
        names = {_label_names(r.labels) for r in self.reports.values()}
        return names.pop() if len(names) == 1 else ("positive", "negative")

    def _confusion_rows(self) -> list[tuple[str, str, list[float | None]]]:
        pos, neg = self._names()
        rows = []
        for domain in _DOMAINS:
            for i, predicted in enumerate((pos, neg)):
                values: list[float | None] = []
                for report in self.reports.values():
                    cm = getattr(report, f"{domain}_confusion")
                    values.extend([None, None] if cm is None else list(cm[i]))
                rows.append((domain.capitalize(), predicted, values))
        return rows

    @staticmethod
    def _format(value: float | None, decimals: int | None) -> str:
        if value is None:
            return _MISSING
        if math.isnan(value):
            return "nan"
        return repr(float(value)) if decimals is None else f"{value:.{decimals}f}"

    # -- renderers ---------------------------------------------------------------
    def to_string(self, decimals: int = 2) -> str:
        """Render the comparison as plain text.

        Parameters
        ----------
        decimals : int, default=2
            Digits after the decimal point.

        Returns
        -------
        str
            The metric table (a Source/Target column pair per method) and the
            normalised confusion matrices (columns = true label, normalised per
            true class; rows = predicted label).
        """
        names = list(self.reports)
        grouped = any(names)
        metric_rows = self._metric_rows()
        header = ["Metric"] + ["Source", "Target"] * len(names)
        body = [
            [label] + [self._format(v, decimals) for v in values]
            for label, values in metric_rows
        ]
        pos, neg = self._names()
        cm_header = ["True label"] + [pos, neg] * len(names)
        cm_body = [
            [f"{domain} predicted {predicted}"]
            + [self._format(v, decimals) for v in values]
            for domain, predicted, values in self._confusion_rows()
        ]
        rows = [header, cm_header, *body, *cm_body]
        width = max(len(row[0]) for row in rows)
        col = max(6, *(len(cell) for row in rows for cell in row[1:]))
        # a method name spans its two columns
        col = max(col, *(math.ceil((len(name) - 2) / 2) for name in names))

        def line(row: Sequence[str]) -> str:
            return row[0].ljust(width) + "".join(c.rjust(col + 2) for c in row[1:])

        def group_line() -> str:
            parts = [" " * width]
            for name in names:
                parts.append(name.center(2 * (col + 2)))
            return "".join(parts).rstrip()

        out = []
        if grouped:
            out.append(group_line())
        out += [line(header), *map(line, body), ""]
        out.append(
            "Normalised confusion matrices (columns: true label, each summing to 1; "
            "rows: predicted label)"
        )
        if grouped:
            out.append(group_line())
        out += [line(cm_header), *map(line, cm_body)]
        return "\n".join(out)

    def _flat_header(self, first: str, parts: Sequence[str]) -> list[str]:
        header = [first]
        for name in self.reports:
            header += [f"{name} {p}".strip() for p in parts]
        return header

    def to_markdown(self, decimals: int = 2) -> str:
        """Render the comparison as two GitHub-flavoured Markdown tables.

        Parameters
        ----------
        decimals : int, default=2
            Digits after the decimal point.

        Returns
        -------
        str
            The metric table (columns ``"<method> source"``, ``"<method> target"``)
            and the confusion matrix table (columns ``"<method> true M"``, ...).
        """
        pos, neg = self._names()

        def table(header: list[str], rows: list[list[str]]) -> list[str]:
            lines = ["| " + " | ".join(header) + " |"]
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            return lines

        metrics = table(
            self._flat_header("Metric", ["source", "target"]),
            [
                [label] + [self._format(v, decimals) for v in values]
                for label, values in self._metric_rows()
            ],
        )
        confusion = table(
            self._flat_header("Predicted label", [f"true {pos}", f"true {neg}"]),
            [
                [f"{domain}, predicted {predicted}"]
                + [self._format(v, decimals) for v in values]
                for domain, predicted, values in self._confusion_rows()
            ],
        )
        return "\n".join(metrics + [""] + confusion) + "\n"

    def to_csv(self, decimals: int | None = None) -> str:
        """Render the comparison as CSV text (no pandas needed).

        Parameters
        ----------
        decimals : int or None, default=None
            Round the values; None writes full precision.

        Returns
        -------
        str
            Header ``quantity,<method> source,<method> target,...``; one row per
            metric, then one per confusion-matrix entry, named
            ``"confusion: predicted <p> | true <t>"`` (the source matrix in the
            source columns, the target matrix in the target columns). Missing
            values are empty fields.
        """
        pos, neg = self._names()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self._flat_header("quantity", ["source", "target"]))

        def cell(value):
            return "" if value is None else self._format(value, decimals)

        for label, values in self._metric_rows():
            writer.writerow([label] + [cell(v) for v in values])
        for i, predicted in enumerate((pos, neg)):
            for j, true in enumerate((pos, neg)):
                row = [f"confusion: predicted {predicted} | true {true}"]
                for report in self.reports.values():
                    for domain in _DOMAINS:
                        cm = getattr(report, f"{domain}_confusion")
                        row.append(cell(None if cm is None else cm[i, j]))
                writer.writerow(row)
        return buffer.getvalue()

    def __str__(self) -> str:
        return self.to_string()


def _positive_column(estimator, pos_label) -> tuple[int, Any, Any]:
    """Index of the merger column of ``predict_proba`` and the two labels.

    See :func:`skdamerge._validation.resolve_positive_class`; an estimator without
    ``classes_`` is taken to have the classes 0 and 1.
    """
    check_is_fitted(estimator)
    return resolve_positive_class(getattr(estimator, "classes_", [0, 1]), pos_label)


@validate_params(
    {
        "estimator": [HasMethods(["predict_proba"])],
        "X_source": ["array-like"],
        "y_source": ["array-like"],
        "X_target": ["array-like", None],
        "y_target": ["array-like", None],
        "pos_label": [*LABEL, None],
    },
    prefer_skip_nested_validation=True,
)
def domain_adaptation_report(
    estimator: Any,
    X_source: ArrayLike,
    y_source: ArrayLike,
    X_target: ArrayLike | None = None,
    y_target: ArrayLike | None = None,
    *,
    pos_label: Any = None,
) -> DomainAdaptationReport:
    """Evaluate a fitted classifier on source and target test sets, as in the paper.

    Computes :func:`metric_table` (AUC, accuracy, precision, recall, F1, Brier
    score, expected calibration error; merger = positive class) and
    :func:`normalized_confusion_matrix` in each domain, plus two label-free
    quantities per domain: the fraction of samples predicted merger and the mean
    prediction entropy. Without target labels
    (the real use case: telescope images) the target column holds only the
    label-free quantities.

    Parameters
    ----------
    estimator : fitted classifier
        Any binary classifier with ``predict_proba`` and ``classes_``, such as
        :class:`~skdamerge.MMDClassifier`. A sample counts as predicted merger when
        its merger probability exceeds 0.5 (the estimators' ``predict``).
    X_source, y_source : array-like
        Labelled source test data.
    X_target : array-like or None, default=None
        Target test data.
    y_target : array-like or None, default=None
        Target labels, when known (benchmarks such as simulated noisy images).
    pos_label : object, default=None
        Merger label; None takes ``estimator.classes_[1]`` (1 for 0/1 labels, the
        second in sorted order otherwise).

    Returns
    -------
    DomainAdaptationReport
        Printable (``print(report)``), with :meth:`~DomainAdaptationReport.to_dict`,
        :meth:`~DomainAdaptationReport.to_markdown` and
        :meth:`~DomainAdaptationReport.to_csv`.

    See Also
    --------
    compare_reports : several models side by side.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691,
       Sect. 6, Table 1, Table B1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdamerge.metrics import domain_adaptation_report
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(200, 4)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = Xs + 0.5  # a shifted target domain with the same labels
    >>> clf = LogisticRegression().fit(Xs, ys)
    >>> report = domain_adaptation_report(clf, Xs, ys, Xt, ys)
    >>> round(report.target["accuracy"], 2), round(report.target["recall"], 2)
    (0.82, 1.0)
    >>> print(report.to_markdown())  # doctest: +ELLIPSIS
    | Metric | source | target |
    |---|---:|---:|
    | AUC | 1.00 | 1.00 |
    ...
    """
    if y_target is not None and X_target is None:
        raise ValueError("y_target was given without X_target.")
    column, pos, neg = _positive_column(estimator, pos_label)
    source, source_cm = _evaluate(estimator, X_source, y_source, column, pos)
    target: dict[str, float] = {}
    target_cm = None
    n_target = 0
    if X_target is not None:
        target, target_cm = _evaluate(
            estimator, X_target, y_target, column, pos, domain="target"
        )
        n_target = len(X_target)
    return DomainAdaptationReport(
        source=source,
        target=target,
        source_confusion=source_cm,
        target_confusion=target_cm,
        labels=(pos, neg),
        n_source=len(X_source),
        n_target=n_target,
    )


def _evaluate(estimator, X, y, column: int, pos_label, domain: str = "source"):
    proba = np.asarray(predict_proba_in(estimator, X, domain), dtype=np.float64)
    p = proba[:, column]
    values: dict[str, float] = {}
    confusion = None
    if y is not None:
        values.update(metric_table(y, p, pos_label=pos_label))
        truth = _binary_truth(y, pos_label)
        confusion = normalized_confusion_matrix(truth, p > 0.5, pos_label=True)
    values["merger_fraction"] = float(np.mean(p > 0.5))
    if domain == "target":
        values.update(_at_estimate(estimator, p, y, pos_label))
    values["entropy"] = prediction_entropy(proba)
    return values, confusion


def _at_estimate(estimator, p, y, pos_label) -> dict[str, float]:
    """Return the label-free fraction estimate and the accuracy it implies.

    Only for models fitted with a target domain that hold a
    ``target_merger_fraction_`` (and, where it is trusted, a ``target_threshold_``).
    """
    values: dict[str, float] = {}
    fraction = trusted_fraction(fitted_attribute(estimator, "target_merger_fraction_"))
    if fraction is not None:
        # An untrusted estimate is left out of the table (see its ``reason``).
        values["estimated_merger_fraction"] = fraction
    threshold = fitted_attribute(estimator, "target_threshold_")
    if threshold is not None:
        # The decisions of predict(X, domain="target"): the fraction they call
        # mergers in these images and, with labels, their accuracy.
        decisions = p >= threshold
        values["merger_fraction_at_estimate"] = float(np.mean(decisions))
        if y is not None:
            truth = _binary_truth(y, pos_label)
            values["accuracy_at_estimate"] = float(np.mean(truth == decisions))
    return values


@validate_params({"reports": [Mapping]}, prefer_skip_nested_validation=True)
def compare_reports(
    reports: Mapping[str, DomainAdaptationReport],
) -> ReportComparison:
    """Put several reports side by side, one column group per method.

    Parameters
    ----------
    reports : mapping of str to DomainAdaptationReport
        E.g. ``{"noDA": ..., "MMD": ..., "DANN": ...}``, in display order.

    Returns
    -------
    ReportComparison
        Printable like Table 1 of the paper (rows = metrics, a Source/Target
        column pair per method) with the confusion matrices as in Table B1;
        ``to_dict``, ``to_markdown`` and ``to_csv`` as for a single report.

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691,
       Table 1 and Table B1.
    """
    reports = dict(reports)
    if not reports:
        raise ValueError("compare_reports needs at least one report.")
    for name, report in reports.items():
        if not isinstance(report, DomainAdaptationReport):
            raise TypeError(
                f"reports[{name!r}] is a {type(report).__name__}, not a "
                "DomainAdaptationReport; build it with domain_adaptation_report."
            )
    return ReportComparison(reports)
