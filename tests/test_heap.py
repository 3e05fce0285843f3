"""Freed memory kept in the process while a network trains: settings and effect."""

import platform
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

from skdamerge import MMDClassifier
from skdamerge import _heap as heap
from skdamerge._heap import freed_memory_kept


class RecordingLibc:
    """Stands in for glibc: records the mallopt and malloc_trim calls."""

    def __init__(self):
        self.calls = []

    def mallopt(self, parameter, value):
        self.calls.append(("mallopt", parameter, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


def expected_calls(settings):
    return [("mallopt", parameter, value) for parameter, value in settings.items()]


def test_nested_blocks_set_once_and_restore_once(monkeypatch):
    libc = RecordingLibc()
    monkeypatch.setattr(heap, "glibc", lambda: libc)
    with freed_memory_kept(trim=True):
        assert libc.calls == expected_calls(heap.KEPT)
        assert libc.calls[0] == ("mallopt", heap.M_MMAP_MAX, 0)
        with freed_memory_kept():
            pass
        assert len(libc.calls) == len(heap.KEPT)  # the inner block changed nothing
    assert libc.calls == (
        expected_calls(heap.KEPT) + expected_calls(heap.RELEASED) + [("malloc_trim", 0)]
    )


def test_only_a_block_that_asks_for_it_trims(monkeypatch):
    # A prediction (no trim) called over and over must not give its memory back
    # each time; a fit (trim) gives it back once, also when a prediction inside
    # it is the block that ends last.
    libc = RecordingLibc()
    monkeypatch.setattr(heap, "glibc", lambda: libc)
    for _ in range(3):
        with freed_memory_kept():
            pass
    assert ("malloc_trim", 0) not in libc.calls
    assert libc.calls == 3 * (expected_calls(heap.KEPT) + expected_calls(heap.RELEASED))
    libc.calls.clear()
    inner = freed_memory_kept()
    inner.__enter__()
    with freed_memory_kept(trim=True):
        pass
    assert ("malloc_trim", 0) not in libc.calls  # the prediction is still inside
    inner.__exit__(None, None, None)
    assert libc.calls[-1] == ("malloc_trim", 0)
    libc.calls.clear()
    with freed_memory_kept():  # the request does not outlive its blocks
        pass
    assert ("malloc_trim", 0) not in libc.calls


def test_an_error_inside_still_restores(monkeypatch):
    libc = RecordingLibc()
    monkeypatch.setattr(heap, "glibc", lambda: libc)
    with pytest.raises(RuntimeError, match="boom"), freed_memory_kept(trim=True):
        raise RuntimeError("boom")
    assert libc.calls[-1] == ("malloc_trim", 0)
    with freed_memory_kept():  # the count went back to zero: set again
        pass
    assert libc.calls.count(("mallopt", heap.M_MMAP_MAX, 0)) == 2


def test_overlapping_blocks_in_threads_share_one_setting(monkeypatch):
    libc = RecordingLibc()
    monkeypatch.setattr(heap, "glibc", lambda: libc)
    inside, release = threading.Barrier(3), threading.Event()

    def hold():
        with freed_memory_kept():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=hold) for _ in range(2)]
    with freed_memory_kept(trim=True):
        for thread in threads:
            thread.start()
        inside.wait()  # all three blocks are open
        assert libc.calls == expected_calls(heap.KEPT)
    assert libc.calls == expected_calls(heap.KEPT)  # two threads still inside
    release.set()
    for thread in threads:
        thread.join()
    assert libc.calls[-1] == ("malloc_trim", 0)
    assert libc.calls.count(("malloc_trim", 0)) == 1


def test_without_glibc_the_block_makes_no_setting(monkeypatch):
    monkeypatch.setattr(heap, "glibc", lambda: None)
    with freed_memory_kept(trim=True):
        assert heap._depth == 0  # no setting taken, so none to undo
    assert heap._depth == 0 and not heap._trim


@pytest.mark.parametrize(
    "environ, configured",
    [
        ({"PATH": "/usr/bin"}, False),
        ({"MALLOC_MMAP_MAX_": "0"}, True),
        ({"MALLOC_ARENA_MAX": "2"}, False),  # arenas only: no clash with ours
        ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, True),
        ({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2"}, False),
        ({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, True),
    ],
)
def test_a_malloc_set_up_by_the_user_is_left_alone(environ, configured, monkeypatch):
    assert heap.malloc_configured(environ) is configured
    monkeypatch.setattr(heap.os, "environ", environ)
    heap.glibc.cache_clear()
    try:
        if configured:
            assert heap.glibc() is None
        else:
            assert (heap.glibc() is None) == (platform.libc_ver()[0] != "glibc")
    finally:
        heap.glibc.cache_clear()


# Run in a fresh process: in a process that has already trained, the heap holds
# freed memory that a new block may reuse without growing the resident set.
RESIDENT_CHECK = """
import importlib.util, sys
import numpy as np

spec = importlib.util.spec_from_file_location("heap", sys.argv[1])
heap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(heap)

def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

size = 256 * 2**20 // 8
before = resident_mib()
block = np.ones(size)
del block
outside = resident_mib() - before
with heap.freed_memory_kept(trim=True):
    block = np.ones(size)
    del block
    inside = resident_mib() - before
print(outside, inside, resident_mib() - before)
"""


@pytest.mark.skipif(heap.glibc() is None, reason="needs glibc's malloc")
def test_a_freed_large_block_stays_resident_inside_and_goes_back_after():
    size_mib = 256
    result = subprocess.run(
        [sys.executable, "-c", RESIDENT_CHECK, heap.__file__],
        capture_output=True,
        text=True,
        check=True,
    )
    outside, inside, after = map(float, result.stdout.split())
    # Outside, a freed large block is unmapped at once.
    assert outside < size_mib / 4
    # Inside, its pages stay in the process for the next allocation.
    assert inside > size_mib * 3 / 4
    # After the block, the trim gives them back.
    assert after < size_mib / 4


def test_a_fit_gives_the_same_model_with_and_without(tiny_shift, monkeypatch):
    Xs, ys, Xt, _ = tiny_shift
    probabilities = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for libc in (heap.glibc(), None):
            monkeypatch.setattr(heap, "glibc", lambda libc=libc: libc)
            clf = MMDClassifier(max_epochs=2, batch_size=32, random_state=0)
            probabilities.append(clf.fit(Xs, ys, X_target=Xt).predict_proba(Xt))
    np.testing.assert_array_equal(probabilities[0], probabilities[1])
