"""Independent numpy jobs on a few threads."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["map_on_threads"]

Job = TypeVar("Job")
Result = TypeVar("Result")


def map_on_threads(
    func: Callable[[Job], Result], jobs: Iterable[Job], max_threads: int = 4
) -> list[Result]:
    """Return ``[func(job) for job in jobs]``, computed on up to ``max_threads``.

    Meant for jobs whose work is numpy or scipy array code, which releases the
    GIL. The threads are also capped by the machine's CPU count and the number of
    jobs; with one thread the jobs run in the calling thread, in order.
    """
    jobs = list(jobs)
    n_threads = min(max_threads, os.cpu_count() or 1, len(jobs))
    if n_threads <= 1:
        return [func(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        return list(pool.map(func, jobs))
