"""The compute resources of a command: the torch device and the CPU threads."""

from __future__ import annotations

import os
import sys

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
    """Use ``threads`` torch threads, by default torch's own number.

    The default does not depend on how busy the machine is: a fit's result
    depends on the thread count (the order of floating-point sums in the
    convolutions), so that one seed gives one table on every machine of a kind.
    On a machine whose cores are busy with other work, several torch threads wait
    for each other; a hint on standard error then suggests ``--threads 1``.

    Parameters
    ----------
    threads : int or None
        The ``--threads`` option; None keeps torch's default.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
        return
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        return
    cores = os.cpu_count() or 1
    threads = torch.get_num_threads()
    if threads > 1 and cores - load < threads - 0.5:
        print(
            f"skdamerge: the machine is busy (load {load:.1f} on {cores} cores); "
            f"torch uses {threads} threads. --threads 1 may be faster (results "
            "depend on the thread count).",
            file=sys.stderr,
        )
