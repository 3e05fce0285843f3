"""Histograms of the merger scores per class, source vs target domain."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .._param_validation import LABEL, HasMethods, Interval, validate_params
from ._colors import MERGER, NON_MERGER
from ._utils import AXES, check_labels_pair, new_axes, positive_scores

__all__ = ["ScoreHistogramDisplay"]


def _correct_class_scores(y, score, pos_label):
    """Split scores into the merger scores of mergers and 1 - score of the others."""
    y = np.asarray(y)
    score = np.asarray(score, dtype=np.float64)
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError(
            f"Labels and scores must be 1-D of the same length; got {y.shape} and "
            f"{score.shape}."
        )
    if np.any((score < 0) | (score > 1)):
        raise ValueError("Scores must be probabilities in [0, 1].")
    positive = y == pos_label
    return score[positive], 1.0 - score[~positive]


class ScoreHistogramDisplay:
    """Histograms of the output scores per class (DeepMerge II Figure B1).

    For true mergers the histogram is of the merger score ``p(merger)``, for
    non-mergers of ``1 - p(merger)``, so that for both classes a confident correct
    prediction sits at 1 and a confident error at 0. One panel per domain (source
    left, target right); mergers red, non-mergers blue.

    Create it with :meth:`from_estimator` or :meth:`from_predictions`.

    Parameters
    ----------
    scores : dict
        ``{domain: (merger scores of true mergers, 1 - merger scores of
        non-mergers)}`` with domain ``"source"`` and optionally ``"target"``.
    bins : int, default=20
        Number of equal bins on [0, 1].
    name : str or None, default=None
        Model name, for the titles.
    class_names : tuple of str, default=("non-merger", "merger")
        Legend names of the negative and positive class.

    Attributes
    ----------
    ax_ : ndarray of matplotlib Axes of shape (n_domains,)
        One panel per domain.
    figure_ : matplotlib Figure
        Figure containing the axes.
    bars_ : dict
        ``{(domain, class name): BarContainer}``; each bar's height is the count
        (or density) of its bin.
    counts_ : dict
        ``{(domain, class name): ndarray}`` the bar heights.
    bin_edges_ : ndarray of shape (bins + 1,)
        Bin edges on [0, 1].

    References
    ----------
    .. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II: Building robust deep
       learning algorithms for merging galaxy identification across domains."
       MNRAS 506, 677-691. Appendix B, Figure B1.
    """

    def __init__(
        self,
        scores: dict,
        *,
        bins: int = 20,
        name: str | None = None,
        class_names: tuple[str, str] = ("non-merger", "merger"),
    ) -> None:
        self.scores = scores
        self.bins = bins
        self.name = name
        self.class_names = class_names

    def plot(
        self,
        ax=None,
        *,
        density: bool = False,
        alpha: float = 0.6,
        sharey: bool = True,
    ) -> ScoreHistogramDisplay:
        """Draw the histograms.

        Parameters
        ----------
        ax : array of matplotlib Axes or None, default=None
            One Axes per domain; None creates a figure.
        density : bool, default=False
            Normalise each histogram to unit area instead of counts.
        alpha : float, default=0.6
            Opacity of the bars (the two classes overlap).
        sharey : bool, default=True
            Give the domain panels the same vertical range.

        Returns
        -------
        ScoreHistogramDisplay
            This display, with ``ax_``, ``figure_``, ``bars_`` and ``counts_`` set.
        """
        if not isinstance(self.bins, int | np.integer) or self.bins < 1:
            raise ValueError(f"bins must be a positive integer; got {self.bins!r}.")
        domains = [d for d in ("source", "target") if d in self.scores]
        if not domains:
            raise ValueError("scores needs a 'source' and/or a 'target' entry.")
        figure, axes = new_axes(ax, 1, len(domains), figsize=(3.6 * len(domains), 3))
        edges = np.linspace(0.0, 1.0, self.bins + 1)
        self.bars_, self.counts_ = {}, {}
        non_merger, merger = self.class_names
        for panel, domain in zip(axes, domains, strict=True):
            merger_scores, non_merger_scores = self.scores[domain]
            for values, label, color in (
                (merger_scores, merger, MERGER),
                (non_merger_scores, non_merger, NON_MERGER),
            ):
                counts, _ = np.histogram(values, bins=edges, density=density)
                self.counts_[(domain, label)] = counts
                self.bars_[(domain, label)] = panel.bar(
                    edges[:-1],
                    counts,
                    width=np.diff(edges),
                    align="edge",
                    color=color,
                    alpha=alpha,
                    label=f"{label} (n={len(values)})",
                )
            title = domain if self.name is None else f"{self.name}: {domain}"
            panel.set_title(title)
            panel.set_xlim(0, 1)
            panel.set_xlabel(f"score ({merger}), 1 - score ({non_merger})")
            panel.legend(loc="upper left", fontsize="small")
        axes[0].set_ylabel("density" if density else "count")
        if sharey and len(axes) > 1:
            top = max(a.get_ylim()[1] for a in axes)
            for a in axes:
                a.set_ylim(0, top)
        self.ax_ = axes
        self.figure_ = figure
        self.bin_edges_ = edges
        return self

    @classmethod
    @validate_params(
        {
            "y_source": ["array-like"],
            "y_score_source": ["array-like"],
            "y_target": ["array-like", None],
            "y_score_target": ["array-like", None],
            "pos_label": LABEL,
            "bins": [Interval(Integral, 1, None, closed="left")],
            "name": [str, None],
            "class_names": [tuple, list],
            "ax": AXES,
        },
        prefer_skip_nested_validation=True,
    )
    def from_predictions(
        cls,
        y_source,
        y_score_source,
        y_target=None,
        y_score_target=None,
        *,
        pos_label=1,
        bins: int = 20,
        name: str | None = None,
        class_names: tuple[str, str] = ("non-merger", "merger"),
        ax=None,
        **plot_kwargs,
    ) -> ScoreHistogramDisplay:
        """Draw score histograms from labels and merger scores.

        Parameters
        ----------
        y_source : array-like of shape (n_source,)
            True source labels.
        y_score_source : array-like of shape (n_source,)
            Probability of the positive (merger) class for the source samples.
        y_target, y_score_target : array-like or None, default=None
            The same for the target domain; None draws the source panel only.
        pos_label : label, default=1
            The merger class.
        bins : int, default=20
            Number of bins on [0, 1].
        name : str or None, default=None
            Model name for the titles.
        class_names : tuple of str, default=("non-merger", "merger")
            Legend names of the negative and positive class.
        ax : array of matplotlib Axes or None, default=None
            One Axes per domain.
        **plot_kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        ScoreHistogramDisplay
            The drawn display.
        """
        check_labels_pair(y_score_source, y_source, "y_score_source", "y_source")
        check_labels_pair(y_score_target, y_target, "y_score_target", "y_target")
        scores = {"source": _correct_class_scores(y_source, y_score_source, pos_label)}
        if y_target is not None:
            scores["target"] = _correct_class_scores(
                y_target, y_score_target, pos_label
            )
        display = cls(scores, bins=bins, name=name, class_names=class_names)
        return display.plot(ax=ax, **plot_kwargs)

    @classmethod
    @validate_params(
        {
            "estimator": [HasMethods(["predict_proba"])],
            "X_source": ["array-like"],
            "y_source": ["array-like"],
            "X_target": ["array-like", None],
            "y_target": ["array-like", None],
            "bins": [Interval(Integral, 1, None, closed="left")],
            "name": [str, None],
            "ax": AXES,
        },
        prefer_skip_nested_validation=True,
    )
    def from_estimator(
        cls,
        estimator,
        X_source,
        y_source,
        X_target=None,
        y_target=None,
        *,
        bins: int = 20,
        name: str | None = None,
        ax=None,
        **kwargs,
    ) -> ScoreHistogramDisplay:
        """Draw score histograms of a fitted classifier on both domains.

        Parameters
        ----------
        estimator : fitted binary classifier with predict_proba
            The merger score is ``predict_proba(X)[:, 1]`` (class ``classes_[1]``).
        X_source : array-like of shape (n_source, ...)
            Source test images.
        y_source : array-like of shape (n_source,)
            Their labels.
        X_target, y_target : array-like or None, default=None
            Labelled target test images; None draws the source panel only.
        bins : int, default=20
            Number of bins on [0, 1].
        name : str or None, default=None
            Model name for the titles.
        ax : array of matplotlib Axes or None, default=None
            One Axes per domain.
        **kwargs : dict
            ``class_names`` and the arguments of :meth:`plot`.

        Returns
        -------
        ScoreHistogramDisplay
            The drawn display.
        """
        check_labels_pair(X_target, y_target, "X_target", "y_target")
        score_source, pos_label = positive_scores(estimator, X_source)
        score_target = (
            None if X_target is None else positive_scores(estimator, X_target)[0]
        )
        return cls.from_predictions(
            y_source,
            score_source,
            y_target,
            score_target,
            pos_label=pos_label,
            bins=bins,
            name=name,
            ax=ax,
            **kwargs,
        )
