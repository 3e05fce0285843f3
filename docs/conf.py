"""Sphinx configuration of the skdamerge documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The scripts of ``examples/`` run during the build (sphinx-gallery) and become the
gallery; the API reference is generated from the numpydoc docstrings.
"""

import os
import sys
import warnings
from pathlib import Path

import torch
from sphinx_gallery.sorting import ExplicitOrder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import skdamerge  # noqa: E402

# The gallery trains small networks on the CPU. One torch thread is the fastest
# setting on a small shared machine: with several threads competing for few cores
# torch slows down by an order of magnitude or more.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Figures are rendered to files, never shown.
os.environ["MPLBACKEND"] = "agg"

# -- Project -----------------------------------------------------------------------
project = "skdamerge"
author = "skdamerge developers"
copyright = "skdamerge developers"
release = skdamerge.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"

# -- API reference -----------------------------------------------------------------
autosummary_generate = True
# Public names are those in each module's ``__all__``.
autosummary_ignore_module_all = False
autodoc_default_options = {"member-order": "groupwise"}
autodoc_typehints = "none"  # the numpydoc "Parameters" sections carry the types
# Members are listed by the autosummary templates, not by numpydoc (which would
# list them a second time).
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- HTML --------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skdamerge {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_sidebars = {"index": [], "changelog": []}
html_static_path = []
html_show_sourcelink = True

# -- Gallery -----------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # Execute every example script whose name starts with "plot_".
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    # The gallery reads as a course: first steps, the paper's experiments, model
    # selection, inspection, then working with real data.
    "within_subsection_order": ExplicitOrder(
        [
            "plot_quickstart.py",
            "plot_sim2sim.py",
            "plot_sim2real_transfer.py",
            "plot_model_selection.py",
            "plot_inspection.py",
            "plot_own_data.py",
            "plot_survey_catalog.py",
            "*",
        ]
    ),
    "doc_module": ("skdamerge",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"skdamerge": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    # Show what the examples print, not the repr of a cell's last expression.
    "capture_repr": (),
    "show_memory": False,
    "plot_gallery": "True",
    # A failing example fails the build.
    "only_warn_on_example_error": False,
}

# Third-party deprecation notices printed while the examples run are not
# documentation problems.
warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Document only the members that skdamerge defines.

    The estimators inherit scikit-learn's ``get_params``, ``set_output``,
    ``set_fit_request``... and the networks all of :class:`torch.nn.Module`; their
    own documentation covers those, and their docstrings refer to labels of their
    own sites.
    """
    if what != "class":
        return None
    module = getattr(obj, "__module__", None)
    if module is None and isinstance(obj, property) and obj.fget is not None:
        module = getattr(obj.fget, "__module__", None)
    if module is not None and not module.startswith("skdamerge"):
        return True
    return None


def _drop_type_docstring(app, what, name, obj, options, lines):
    """Show a constant without a doc comment by its value alone.

    Autodoc falls back on the docstring of the value's type ("Built-in immutable
    sequence." for a tuple), which says nothing about the constant.
    """
    if what in ("data", "attribute") and lines:
        type_doc = type(obj).__doc__
        # Some descriptors (named-tuple fields) have a non-string __doc__.
        if isinstance(type_doc, str) and "\n".join(lines).strip() == type_doc.strip():
            lines.clear()


def setup(app):
    """Register the member filter and the constant docstring fix."""
    app.connect("autodoc-skip-member", _skip_foreign_member)
    # Before numpydoc (priority 500) reformats the docstring.
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=400)
