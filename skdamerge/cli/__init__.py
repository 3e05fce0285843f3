"""The ``skdamerge`` command: reproduce the paper, train a model, classify images.

Subcommands:

- ``skdamerge reproduce``: train the DeepMerge II methods on the built-in simulator
  (or the published data) and write the paper's table and figures;
- ``skdamerge fit``: train one domain-adaptation model on your own source images,
  labels and target images and save it;
- ``skdamerge predict``: classify images with a saved model and write a catalog,
  or classify a survey catalog on its FITS tiles (``--catalog``).

``python -m skdamerge`` is the same command. Errors are reported as one line on
stderr with a non-zero exit status (``--traceback`` shows the full traceback).

Each subcommand is one module (``_reproduce``, ``_fit``, ``_predict``) with its
help texts, its options and its ``run`` function; ``_parser`` assembles them and
``_main`` dispatches.
"""

from ._main import main

__all__ = ["main"]
