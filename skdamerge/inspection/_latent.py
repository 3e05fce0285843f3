"""Two-dimensional embeddings of the latent features of source and target images."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.utils import check_random_state

from .._engine.batches import ArrayBatches
from .._param_validation import (
    LABEL,
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from .._validation import (
    check_images,
    check_same_sample_shape,
    resolve_positive_class,
)
from ._colors import DOMAIN_ALPHA, class_color
from ._utils import AXES, is_fitted, new_axes

__all__ = ["LatentSpaceDisplay", "initial_features"]

_METHODS = ("tsne", "pca")


@validate_params(
    {"estimator": [HasMethods(["fit", "get_params"])], "X": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def initial_features(estimator, X) -> np.ndarray:
    """Latent features of an unfitted estimator's network before any training.

    The network is built by the estimators' own builder (the ``backbone``
    wrapped in a :class:`~skdamerge.nets.FeatureExtractor` on ``feature_layer``,
    with the ``init_weights`` loaded if given), its weights initialised with the
    torch seed that ``fit`` derives from ``random_state``, and run in evaluation
    mode. For an integer ``random_state`` the features are reproducible, and
    they are those of the weights that ``fit`` starts from. The estimator is not
    modified. In
    evaluation mode the batch normalisation of a fresh network uses its initial
    running statistics (mean 0, variance 1), so it is close to the identity.

    Parameters
    ----------
    estimator : unfitted skdamerge estimator
        Gives ``backbone``, ``feature_layer``, ``dropout``, ``init_weights`` and
        ``random_state``.
    X : array-like of shape (n_samples, channels, height, width) or \
(n_samples, n_features)
        Images or flat features.

    Returns
    -------
    ndarray of shape (n_samples, n_latent)
        The latent features of the untrained network.
    """
    from .._estimators._building import build_extractor

    X = check_images(X, "X")
    seed = int(
        check_random_state(getattr(estimator, "random_state", None)).randint(
            np.iinfo(np.int32).max
        )
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        extractor = build_extractor(estimator, tuple(X.shape[1:]))
    extractor.eval()
    chunks = []
    with torch.inference_mode():
        for xb, _ in ArrayBatches(X, None, 256, torch.device("cpu")):
            chunks.append(extractor(xb)[0].float().numpy())
    return np.concatenate(chunks)


def _embed(features, method, random_state, perplexity, embedding_kwargs):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    kwargs = dict(embedding_kwargs or {})
    if method == "pca":
        return PCA(n_components=2, random_state=random_state, **kwargs).fit_transform(
            features
        )
    n_samples = len(features)
    if n_samples < 3:
        raise ValueError(f"t-SNE needs at least 3 samples; got {n_samples}.")
    # scikit-learn requires perplexity < n_samples.
    perplexity = min(float(perplexity), (n_samples - 1) / 3)
    return TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        random_state=random_state,
        **kwargs,
    ).fit_transform(features)


class LatentSpaceDisplay:
    """Source and target latent features in two dimensions (DeepMerge II Figure 5).

    Points are coloured by class (mergers red, non-mergers blue, unlabelled grey)
    and made transparent for the source domain and opaque for the target domain.
    Domain adaptation shows as overlapping domains; a discriminative latent space
    as separated classes.

    Create it with :meth:`from_estimator` (t-SNE or PCA of ``transform``) or
    :meth:`from_features`.

    Parameters
    ----------
    embedding : ndarray of shape (n_samples, 2)
        Two-dimensional coordinates, source samples first.
    domain : ndarray of shape (n_samples,)
        ``"source"`` or ``"target"`` per sample.
    is_merger : ndarray of shape (n_samples,) of object
        True (positive class), False, or None (unlabelled) per sample.
    method : str, default="tsne"
        Name of the embedding, for the axis labels.
    class_names : tuple of str, default=("non-merger", "merger")
        Legend names of the negative and positive class.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the scatter plot.
    figure_ : matplotlib Figure
        Figure containing the axes.
    scatters_ : dict
        ``{(domain, class name): PathCollection}``, one scatter per domain and
        class (``"unlabelled"`` for points without labels); the source collections
        are drawn first.

    References
    ----------
    .. [1] van der Maaten, L., Hinton, G. (2008). "Visualizing data using t-SNE."
       JMLR 9, 2579-2605.
    .. [2] Ćiprijanović, A., et al. (2021). "DeepMerge II: Building robust deep
       learning algorithms for merging galaxy identification across domains."
       MNRAS 506, 677-691. Section 7.1, Figure 5.
    """

    def __init__(
        self,
        embedding,
        domain,
        is_merger,
        *,
        method: str = "tsne",
        class_names: tuple[str, str] = ("non-merger", "merger"),
    ) -> None:
        self.embedding = embedding
        self.domain = domain
        self.is_merger = is_merger
        self.method = method
        self.class_names = class_names

    def plot(
        self,
        ax=None,
        *,
        source_alpha: float = DOMAIN_ALPHA["source"],
        target_alpha: float = DOMAIN_ALPHA["target"],
        s: float = 10.0,
        legend: bool = True,
    ) -> LatentSpaceDisplay:
        """Draw the embedding.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Axes to draw on; None creates a figure.
        source_alpha : float, default=0.3
            Opacity of the source points.
        target_alpha : float, default=1.0
            Opacity of the target points.
        s : float, default=10.0
            Marker size.
        legend : bool, default=True
            Add a legend.

        Returns
        -------
        LatentSpaceDisplay
            This display, with ``ax_``, ``figure_`` and ``scatters_`` set.
        """
        embedding = np.asarray(self.embedding, dtype=np.float64)
        domain = np.asarray(self.domain)
        is_merger = np.asarray(self.is_merger, dtype=object)
        if embedding.ndim != 2 or embedding.shape[1] != 2:
            raise ValueError(f"embedding must be (n, 2); got {embedding.shape}.")
        if not len(domain) == len(is_merger) == len(embedding):
            raise ValueError("embedding, domain and is_merger differ in length.")
        figure, axes = new_axes(ax, 1, 1, figsize=(4.5, 4.0))
        ax = axes[0]
        names = {
            False: self.class_names[0],
            True: self.class_names[1],
            None: "unlabelled",
        }
        alphas = {"source": source_alpha, "target": target_alpha}
        self.scatters_ = {}
        for dom in ("source", "target"):
            for label in (False, True, None):
                mask = (domain == dom) & np.array(
                    [value is label for value in is_merger], dtype=bool
                )
                if not mask.any():
                    continue
                self.scatters_[(dom, names[label])] = ax.scatter(
                    embedding[mask, 0],
                    embedding[mask, 1],
                    s=s,
                    color=class_color(label),
                    alpha=alphas[dom],
                    linewidths=0,
                    label=f"{dom}, {names[label]}",
                )
        pretty = {"tsne": "t-SNE", "pca": "PCA"}.get(self.method, self.method)
        ax.set_xlabel(f"{pretty} 1")
        ax.set_ylabel(f"{pretty} 2")
        if legend:
            ax.legend(loc="best", fontsize="small", markerscale=1.5)
        self.ax_ = ax
        self.figure_ = figure
        return self

    @classmethod
    @validate_params(
        {
            "features_source": ["array-like"],
            "features_target": ["array-like", None],
            "y_source": ["array-like", None],
            "y_target": ["array-like", None],
            "pos_label": [*LABEL, None],
            "method": [StrOptions(set(_METHODS))],
            "random_state": ["random_state"],
            "perplexity": [Interval(Real, 0, None, closed="neither")],
            "embedding_kwargs": [dict, None],
            "class_names": [tuple, list],
            "ax": AXES,
        },
        prefer_skip_nested_validation=True,
    )
    def from_features(
        cls,
        features_source,
        features_target=None,
        y_source=None,
        y_target=None,
        *,
        pos_label=None,
        method: str = "tsne",
        random_state=None,
        perplexity: float = 30.0,
        embedding_kwargs: dict | None = None,
        class_names: tuple[str, str] = ("non-merger", "merger"),
        ax=None,
        **plot_kwargs,
    ) -> LatentSpaceDisplay:
        """Embed latent features of both domains in 2-D and draw them.

        The source and target features are stacked (source first) and embedded
        together with :class:`sklearn.manifold.TSNE` (``init="pca"``, perplexity
        capped below a third of the number of samples) or
        :class:`sklearn.decomposition.PCA`.

        Parameters
        ----------
        features_source : array-like of shape (n_source, n_latent)
            Source-domain features.
        features_target : array-like of shape (n_target, n_latent) or None
            Target-domain features.
        y_source, y_target : array-like of shape (n_source,) / (n_target,) or None
            Labels; None draws that domain in the neutral colour.
        pos_label : label or None, default=None
            The merger class; None is the largest label present (1 for 0/1 labels).
        method : {"tsne", "pca"}, default="tsne"
            Embedding method.
        random_state : int, RandomState instance or None, default=None
            Seed of the embedding.
        perplexity : float, default=30.0
            t-SNE perplexity.
        embedding_kwargs : dict or None, default=None
            Further arguments of ``TSNE`` or ``PCA`` (e.g. ``{"max_iter": 500}``).
        class_names : tuple of str, default=("non-merger", "merger")
            Legend names of the negative and positive class.
        ax : matplotlib Axes or None, default=None
            Axes to draw on.
        **plot_kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        LatentSpaceDisplay
            The drawn display; ``embedding`` holds the 2-D coordinates.
        """
        blocks = [np.asarray(features_source, dtype=np.float64)]
        labels = [y_source]
        if features_target is not None:
            blocks.append(np.asarray(features_target, dtype=np.float64))
            labels.append(y_target)
        elif y_target is not None:
            raise ValueError("y_target is given without target features.")
        blocks = [b.reshape(len(b), -1) for b in blocks]
        for block, y, name in zip(blocks, labels, ("source", "target"), strict=False):
            if y is not None and len(y) != len(block):
                raise ValueError(
                    f"The {name} domain has {len(block)} samples but {len(y)} labels."
                )
        if pos_label is None:
            present = [np.asarray(y) for y in labels if y is not None]
            pos_label = np.unique(np.concatenate(present)).max() if present else None
        is_merger = []
        for block, y in zip(blocks, labels, strict=True):
            if y is None:
                is_merger.extend([None] * len(block))
            else:
                is_merger.extend(bool(v == pos_label) for v in np.asarray(y))
        domain = np.repeat(
            ["source", "target"][: len(blocks)], [len(b) for b in blocks]
        )
        embedding = _embed(
            np.concatenate(blocks), method, random_state, perplexity, embedding_kwargs
        )
        display = cls(
            embedding,
            domain,
            np.array(is_merger, dtype=object),
            method=method,
            class_names=class_names,
        )
        return display.plot(ax=ax, **plot_kwargs)

    @classmethod
    @validate_params(
        {
            "estimator": [HasMethods(["fit"])],
            "X_source": ["array-like"],
            "X_target": ["array-like", None],
            "y_source": ["array-like", None],
            "y_target": ["array-like", None],
            "method": [StrOptions(set(_METHODS))],
            "random_state": ["random_state"],
            "perplexity": [Interval(Real, 0, None, closed="neither")],
            "embedding_kwargs": [dict, None],
            "ax": AXES,
        },
        prefer_skip_nested_validation=True,
    )
    def from_estimator(
        cls,
        estimator,
        X_source,
        X_target=None,
        y_source=None,
        y_target=None,
        *,
        method: str = "tsne",
        random_state=None,
        perplexity: float = 30.0,
        embedding_kwargs: dict | None = None,
        ax=None,
        **kwargs,
    ) -> LatentSpaceDisplay:
        """Embed an estimator's latent features of both domains and draw them.

        A fitted estimator gives ``estimator.transform(X)``. An **unfitted**
        estimator shows the state before training (the first panel of Figure 5):
        its network is built and initialised as :meth:`fit` would, without
        training and without modifying the estimator (see
        :func:`initial_features`).

        Parameters
        ----------
        estimator : skdamerge estimator, fitted or not
            Any estimator with ``transform`` giving latent features when fitted.
        X_source : array-like of shape (n_source, ...)
            Source-domain images (or flat features).
        X_target : array-like of shape (n_target, ...) or None, default=None
            Target-domain images.
        y_source, y_target : array-like or None, default=None
            Labels for the colours; None draws that domain in the neutral colour
            (unlabelled target data).
        method : {"tsne", "pca"}, default="tsne"
            Embedding method.
        random_state : int, RandomState instance or None, default=None
            Seed of the embedding.
        perplexity : float, default=30.0
            t-SNE perplexity.
        embedding_kwargs : dict or None, default=None
            Further arguments of ``TSNE`` or ``PCA``.
        ax : matplotlib Axes or None, default=None
            Axes to draw on.
        **kwargs : dict
            ``pos_label``, ``class_names`` (see :meth:`from_features`) and the
            arguments of :meth:`plot`.

        Returns
        -------
        LatentSpaceDisplay
            The drawn display.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from skdamerge import MMDClassifier
        >>> from skdamerge.inspection import LatentSpaceDisplay
        >>> rng = np.random.default_rng(0)
        >>> Xs, Xt = rng.normal(size=(2, 40, 3, 16, 16))
        >>> ys = rng.integers(0, 2, 40)
        >>> display = LatentSpaceDisplay.from_estimator(
        ...     MMDClassifier(random_state=0), Xs, Xt, ys, method="pca")
        >>> display.embedding.shape
        (80, 2)
        """
        X_source = check_images(X_source, "X_source")
        if X_target is not None:
            X_target = check_images(X_target, "X_target")
            check_same_sample_shape(
                X_source.shape[1:], X_target, "X_target", "X_source"
            )
        if is_fitted(estimator):
            features = estimator.transform
            if "pos_label" not in kwargs and hasattr(estimator, "classes_"):
                _, kwargs["pos_label"], _ = resolve_positive_class(estimator.classes_)
        else:

            def features(X):
                return initial_features(estimator, X)

        features_target = None if X_target is None else features(X_target)
        return cls.from_features(
            features(X_source),
            features_target,
            y_source,
            y_target,
            method=method,
            random_state=random_state,
            perplexity=perplexity,
            embedding_kwargs=embedding_kwargs,
            ax=ax,
            **kwargs,
        )
