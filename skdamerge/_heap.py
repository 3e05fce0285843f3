"""Freed memory kept in the process while a network trains or predicts (glibc).

A training step of a convolutional network on the CPU allocates its activations
afresh, tens of megabytes each (DeepMerge: 46 MB for the first layer's output on
256 images of 75x75 pixels), and frees them at the end of the step. glibc's
``malloc`` serves blocks above 32 MB (and, until the first such block is freed,
above 128 kB) with a fresh ``mmap`` and returns them to the operating system on
``free``: every step then faults its activation memory in again, page by page,
and the kernel zeroes each page (or, with transparent huge pages, may first
compact memory). On a 2-core machine this made DeepMerge training steps 1.2 to
1.6 times slower than the same steps on reused memory.

:func:`freed_memory_kept` asks glibc, through its public ``mallopt`` function,
to serve large blocks from the heap and not to give freed heap memory back while
a network trains or predicts, so the next step reuses the pages of the last.
The arithmetic, and so every result, is unchanged; the peak resident memory
rises by about one step's activations. On leaving, large blocks are
served by ``mmap`` again (above 32 MB, the largest threshold glibc's own
adaptive rule reaches) and, after a fit, the heap is trimmed back to what is in
use, so that the process's resident memory returns to what it holds. Elsewhere
than with glibc (macOS, Windows, musl) it does nothing, and so it does where the
user has configured ``malloc`` already (``MALLOC_*_`` environment variables, malloc
tunables in ``GLIBC_TUNABLES``, or jemalloc or tcmalloc in ``LD_PRELOAD``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import threading
from collections.abc import Iterator
from functools import cache

__all__ = ["freed_memory_kept"]

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
# While kept: no block is mapped on its own, and the heap is trimmed only above
# the largest value mallopt accepts (an int).
KEPT = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 2**31 - 1}
# On leaving: glibc's defaults once its adaptive rule has seen a large block
# freed (the rule stops at these), with mapping allowed again.
RELEASED = {
    M_MMAP_MAX: 65536,
    M_MMAP_THRESHOLD: 32 * 2**20,
    M_TRIM_THRESHOLD: 64 * 2**20,
}

_lock = threading.Lock()
_depth = 0
_trim = False


@cache
def glibc() -> ctypes.CDLL | None:
    """Return the process's C library if it is glibc (with ``mallopt``), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    if malloc_configured(os.environ):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc


def malloc_configured(environ) -> bool:
    """Whether the environment sets up ``malloc`` (then it is left alone)."""
    return (
        any(name.startswith("MALLOC_") and name.endswith("_") for name in environ)
        or "glibc.malloc." in environ.get("GLIBC_TUNABLES", "")
        or any(
            allocator in environ.get("LD_PRELOAD", "")
            for allocator in ("jemalloc", "tcmalloc", "mimalloc")
        )
    )


def _set(libc: ctypes.CDLL, settings: dict[int, int]) -> None:
    for parameter, value in settings.items():
        libc.mallopt(parameter, value)


@contextlib.contextmanager
def freed_memory_kept(trim: bool = False) -> Iterator[None]:
    """Keep freed memory in the process for reuse inside the block (glibc only).

    Nested and concurrent blocks (threads) share one setting: it is made on
    entering the first block and undone on leaving the last.

    Parameters
    ----------
    trim : bool, default=False
        Give the free memory back to the system (``malloc_trim``) when the last
        block ends, if this block was one of them: for a fit, which ends once.
        Not for a prediction, which may be called over and over on small
        batches: each call would then fault its memory in afresh (measured: 256
        images took 2.2x as long); glibc trims the heap by itself once more than
        64 MB at its top are free.
    """
    global _depth, _trim
    libc = glibc()
    if libc is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _set(libc, KEPT)
        _depth += 1
        _trim = _trim or trim
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(libc, RELEASED)
                if _trim:
                    libc.malloc_trim(0)
                _trim = False
