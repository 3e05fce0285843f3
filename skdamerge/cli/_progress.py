"""Progress bars of the ``skdamerge`` command: epochs of a fit, objects of a catalog.

A small skorch callback draws a progress bar over the epochs with the live losses
(total, classification, transfer, Fisher, entropy), the domain classifier's
accuracy for adversarial training and the source validation accuracy.
:class:`CountProgress` draws one over the objects of a catalog as its tiles are
classified. On a terminal a bar is redrawn in place; otherwise (a log file, a
pipe) each update is one line.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from skorch.callbacks import Callback

from .._engine import history_keys as keys

__all__ = ["CountProgress", "EpochProgress", "bar", "epoch_progress"]

_NAME = "cli_progress"
# (history key, short label) of the numbers shown after the bar, in this order.
_FIELDS = (
    (keys.TRAIN_LOSS, "loss"),
    (keys.train_key(keys.CLASSIFICATION_LOSS), "cls"),
    (keys.train_key(keys.TRANSFER_LOSS), "transfer"),
    (keys.train_key(keys.FISHER_LOSS), "fisher"),
    (keys.train_key(keys.ENTROPY_LOSS), "entropy"),
    (keys.train_key(keys.DOMAIN_ACC_SOURCE), "dom.acc src"),
    (keys.train_key(keys.DOMAIN_ACC_TARGET), "tgt"),
    (keys.VALID_LOSS, "valid loss"),
    (keys.VALID_ACC, "acc"),
)
# Components that are shown only when they are switched on (non-zero).
_OPTIONAL = {
    keys.train_key(keys.FISHER_LOSS),
    keys.train_key(keys.ENTROPY_LOSS),
}


def bar(done: int, total: int, width: int = 20) -> str:
    """Return ``[####----]``, filled in proportion to ``done / total``.

    Parameters
    ----------
    done, total : int
        Steps finished and planned (a total below 1 counts as 1).
    width : int, default=20
        Characters between the brackets.

    Returns
    -------
    str
        The bar.
    """
    filled = min(width, round(width * done / max(int(total), 1)))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _write(text: str, drawn: bool) -> bool:
    """Draw ``text`` in place on a terminal, else as one line; return whether drawn."""
    stream = sys.stderr
    if stream.isatty():
        stream.write("\r\x1b[2K" + text)
        drawn = True
    else:
        stream.write(text + "\n")
    stream.flush()
    return drawn


class CountProgress:
    """A progress bar over objects, advanced as groups of them are finished.

    Parameters
    ----------
    label : str
        Name shown before the bar.
    total : int
        Number of objects.
    unit : str, default="objects"
        What is counted.
    enabled : bool, default=True
        False draws nothing (``--quiet``).
    width : int, default=20
        Characters of the bar.

    Notes
    -----
    The output goes to ``sys.stderr``, redrawn in place on a terminal and one
    line per update otherwise.
    """

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "objects",
        enabled: bool = True,
        width: int = 20,
    ) -> None:
        self.label = label
        self.total = int(total)
        self.unit = unit
        self.enabled = enabled
        self.width = width
        self.done = 0
        self.start = time.monotonic()
        self.drawn = False

    def line(self) -> str:
        """Return the progress line (bar, count, elapsed time), without a newline.

        Returns
        -------
        str
            The line.
        """
        elapsed = time.monotonic() - self.start
        return (
            f"{self.label:<7} {bar(self.done, self.total, self.width)} "
            f"{self.done}/{self.total} {self.unit}  {elapsed:5.0f} s"
        )

    def advance(self, count: int) -> None:
        """Count ``count`` more objects as finished and redraw the bar.

        Parameters
        ----------
        count : int
            Objects just finished.
        """
        self.done += int(count)
        if self.enabled:
            self.drawn = _write(self.line(), self.drawn)

    def close(self) -> None:
        """End an in-place bar with a newline."""
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False


def _format(value: Any) -> str | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(value):
        return "nan"
    return f"{value:.3f}"


class EpochProgress(Callback):
    """Draw a progress bar over the epochs with the losses of the last epoch.

    Parameters
    ----------
    label : str
        Name of the run shown before the bar (e.g. the method).
    max_epochs : int
        Number of planned epochs (the bar's length); early stopping may end the
        run sooner.
    width : int, default=20
        Characters of the bar.

    Notes
    -----
    The output goes to ``sys.stderr`` as it is when each epoch ends, so that the
    callback holds no reference to a stream and can be pickled with a model.
    """

    def __init__(self, label: str, max_epochs: int, width: int = 20) -> None:
        self.label = label
        self.max_epochs = max_epochs
        self.width = width

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        """Start the clock."""
        self.start_ = time.monotonic()
        self.drawn_ = False

    def line(self, row: dict[str, Any], elapsed: float) -> str:
        """Return the progress line for one epoch of the history.

        Parameters
        ----------
        row : dict
            One epoch of a skorch history.
        elapsed : float
            Seconds since training began.

        Returns
        -------
        str
            Bar, epoch counter, losses and elapsed time, without a newline.
        """
        epoch = int(row.get("epoch", 0))
        total = max(int(self.max_epochs), 1)
        parts = []
        for key, label in _FIELDS:
            text = _format(row.get(key))
            if text is None:
                continue
            if key in _OPTIONAL and float(row[key]) == 0.0:
                continue
            parts.append(f"{label} {text}")
        numbers = "  ".join(parts)
        drawn = bar(epoch, total, self.width)
        return (
            f"{self.label:<7} {drawn} epoch {epoch:>3}/{total}  {numbers}  "
            f"{elapsed:5.0f} s"
        )

    def on_epoch_end(self, net, **kwargs) -> None:
        """Draw the bar with the losses of the epoch that just ended."""
        text = self.line(net.history[-1], time.monotonic() - self.start_)
        self.drawn_ = _write(text, getattr(self, "drawn_", False))

    def on_train_end(self, net, X=None, y=None, **kwargs) -> None:
        """End the in-place bar with a newline."""
        if getattr(self, "drawn_", False):
            sys.stderr.write("\n")
            sys.stderr.flush()


@contextmanager
def epoch_progress(estimator, label: str) -> Iterator[None]:
    """Show an :class:`EpochProgress` bar while ``estimator`` is fitted.

    The bar is passed through the estimator's ``callbacks`` parameter, which is
    restored when the block ends.

    Parameters
    ----------
    estimator : skdamerge estimator
        Unfitted estimator, fitted inside the ``with`` block.
    label : str
        Name shown before the bar.

    Yields
    ------
    None
        Fit the estimator inside the block.
    """
    previous = estimator.get_params()["callbacks"]
    progress = (_NAME, EpochProgress(label, estimator.max_epochs))
    estimator.set_params(callbacks=[*(previous or []), progress])
    try:
        yield
    finally:
        estimator.set_params(callbacks=previous)
