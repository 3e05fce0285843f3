"""The ``skdamerge`` command: reproduce the paper, train a model, classify images."""

from ._main import main

__all__ = ["main"]
