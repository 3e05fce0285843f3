"""Value types of the command's options: each parses one text and says what is wrong.

argparse calls them on the option's text and turns their
:class:`argparse.ArgumentTypeError` into a one-line usage error naming the option.
"""

from __future__ import annotations

import argparse

__all__ = ["positive_float", "positive_int", "probability"]


def _number(text: str, kind: type, name: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None


def positive_int(text: str) -> int:
    """Return ``text`` as an integer of at least 1."""
    value = _number(text, int, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def positive_float(text: str) -> float:
    """Return ``text`` as a number above 0."""
    value = _number(text, float, "a number")
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def probability(text: str) -> float:
    """Return ``text`` as a number strictly between 0 and 1."""
    value = _number(text, float, "a number")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be in (0, 1)")
    return value
