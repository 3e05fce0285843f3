"""The colours and line styles shared by every inspection display.

One place for the colour code of DeepMerge II [1]_, so that a merger is the same red
and a source domain the same dashed line in every figure:

* classes (Figure 5): mergers red, non-mergers blue, unlabelled points grey;
* domains: source drawn transparent, dashed or hatched; target opaque and solid
  (Figures 3 and 5);
* methods (Figure 3): no domain adaptation navy, MMD purple, MMD with Fisher loss
  and entropy minimisation dark purple, adversarial training gold, adversarial
  training with Fisher loss and entropy minimisation pink.

References
----------
.. [1] Ćiprijanović, A., et al. (2021). "DeepMerge II: Building robust deep learning
   algorithms for merging galaxy identification across domains." MNRAS 506,
   677-691. Figures 3 and 5.
"""

from __future__ import annotations

from numbers import Integral

from .._param_validation import Interval, validate_params

__all__ = [
    "DOMAIN_ALPHA",
    "DOMAIN_COLORS",
    "DOMAIN_HATCH",
    "DOMAIN_LINESTYLE",
    "MERGER",
    "METHOD_COLORS",
    "NON_MERGER",
    "UNLABELLED",
    "class_color",
    "method_color",
]

MERGER = "#d62728"
NON_MERGER = "#1f77b4"
UNLABELLED = "#7f7f7f"

DOMAIN_COLORS = {"source": "#ff7f0e", "target": "#2ca02c"}
DOMAIN_ALPHA = {"source": 0.3, "target": 1.0}
DOMAIN_LINESTYLE = {"source": "--", "target": "-"}
DOMAIN_HATCH = {"source": "//", "target": None}

METHOD_COLORS = {
    "noDA": "#000080",  # navy
    "MMD": "#9b30ff",  # purple
    "MMD+F": "#4b0082",  # dark purple (indigo)
    "ADA": "#e6b800",  # yellow / gold
    "ADA+F": "#ff69b4",  # pink
}

# Other spellings of the paper's method names, compared after lower-casing and
# removing spaces, underscores and hyphens.
_ALIASES = {
    "noda": "noDA",
    "sourceonly": "noDA",
    "sourceonlyclassifier": "noDA",
    "nodomainadaptation": "noDA",
    "mmd": "MMD",
    "mmdclassifier": "MMD",
    "mmd+f": "MMD+F",
    "mmd+fisher": "MMD+F",
    "mmd+fisher+entropy": "MMD+F",
    "ada": "ADA",
    "dann": "ADA",
    "dannclassifier": "ADA",
    "adversarial": "ADA",
    "ada+f": "ADA+F",
    "dann+f": "ADA+F",
    "adversarial+fisher+entropy": "ADA+F",
}

# Used, in order, for models whose name is not one of the paper's methods.
_FALLBACK = ("#17becf", "#8c564b", "#bcbd22", "#e377c2", "#2ca02c", "#7f7f7f")


@validate_params(
    {"name": [str], "index": [Interval(Integral, 0, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def method_color(name: str, index: int = 0) -> str:
    """Colour of a model in the multi-model figures.

    Parameters
    ----------
    name : str
        Model name. The paper's method names (``"noDA"``, ``"MMD"``, ``"MMD+F"``,
        ``"ADA"``, ``"ADA+F"``) and common spellings (``"SourceOnly"``, ``"DANN"``,
        ...) get the paper's colours.
    index : int, default=0
        Position of the model in its figure; picks a colour from a fixed cycle for
        other names.

    Returns
    -------
    str
        A matplotlib colour.
    """
    key = name.lower().replace(" ", "").replace("_", "").replace("-", "")
    canonical = _ALIASES.get(key)
    if canonical is not None:
        return METHOD_COLORS[canonical]
    return _FALLBACK[index % len(_FALLBACK)]


@validate_params({"is_merger": ["boolean", None]}, prefer_skip_nested_validation=True)
def class_color(is_merger: bool | None) -> str:
    """Colour of a class: red for mergers, blue for non-mergers, grey if unknown.

    Parameters
    ----------
    is_merger : bool or None
        True for the positive (merger) class, False for the other, None for
        unlabelled samples.

    Returns
    -------
    str
        A matplotlib colour.
    """
    if is_merger is None:
        return UNLABELLED
    return MERGER if is_merger else NON_MERGER
