"""The compute resources of a command: the torch device and the CPU threads."""

from __future__ import annotations

import os

from ._errors import CommandError

__all__ = ["check_device", "set_threads"]


def check_device(device: str) -> None:
    """Fail early when ``--device cuda`` is asked for on a machine without CUDA.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        The ``--device`` option.

    Raises
    ------
    CommandError
        If ``device`` is ``"cuda"`` and torch sees no CUDA device.
    """
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise CommandError(
                "--device cuda: no CUDA device is available; use --device cpu."
            )


def set_threads(threads: int | None) -> None:
    """Use ``threads`` torch threads, by default the cores that are not busy.

    On a machine whose cores are all busy with other work, several torch threads
    wait for each other and training becomes many times slower than with one.

    Parameters
    ----------
    threads : int or None
        The ``--threads`` option; None takes the cores left free by the load
        average (at least 1, at most torch's default), and keeps torch's default
        where the platform has no load average.
    """
    import torch

    if threads is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # not available on this platform
            return
        cores = os.cpu_count() or 1
        threads = max(1, min(torch.get_num_threads(), int(cores - load + 0.5)))
    torch.set_num_threads(threads)
