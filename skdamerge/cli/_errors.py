"""Errors of the ``skdamerge`` command and their one-line form."""

from __future__ import annotations

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "CommandError",
    "UsageError",
    "one_line",
]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """An error to report as one line, without a traceback."""


class UsageError(Exception):
    """A command line that the parser rejects; the message is the whole report."""


def one_line(error: BaseException) -> str:
    """Return the message of ``error`` on one line.

    Parameters
    ----------
    error : BaseException
        The error to report.

    Returns
    -------
    str
        Its message with runs of white space collapsed (the class name when the
        message is empty; ``missing key ...`` for a :class:`KeyError`).
    """
    text = str(error) or type(error).__name__
    if isinstance(error, KeyError):
        text = f"missing key {text}"
    return " ".join(text.split())
