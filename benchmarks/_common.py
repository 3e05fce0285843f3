"""Helpers shared by the benchmark scripts: timing, memory, synthetic data."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator

import numpy as np
import torch

from skdamerge._engine.precision import cpu_supports_bf16


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in KiB on Linux and in bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def current_rss_mib() -> float:
    """Current resident memory of this process, in MiB (Linux; else the peak)."""
    try:
        with open("/proc/self/statm") as file:
            pages = int(file.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return peak_rss_mib()


def machine_summary() -> str:
    """One line describing the machine and the software."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    bf16 = "yes" if cpu_supports_bf16() else "no"
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, CPU bf16 instructions: {bf16}, "
        f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}"
    )


def synthetic_images(
    n: int, shape: tuple[int, ...] = (3, 75, 75), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 images and balanced 0/1 labels (content does not matter here)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, *shape), dtype=np.float32)
    y = (np.arange(n) % 2).astype(np.int64)
    rng.shuffle(y)
    return X, y


def source_target_images(
    n: int, image_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` labelled source and ``n`` target images of 3 x size x size (seeds 0, 1)."""
    shape = (3, image_size, image_size)
    X_source, y_source = synthetic_images(n, shape, 0)
    X_target, _ = synthetic_images(n, shape, 1)
    return X_source, y_source, X_target


def wants_skada_baseline(no_skada: bool) -> bool:
    """Whether to run skada's baseline: asked for and installed (else say so)."""
    run = not no_skada and skada_available()
    if not no_skada and not run:
        print("skada is not installed: pip install -e '.[bench]' for its baseline")
    return run


class StepTimer:
    """Timestamps at the end of each training step; the median gap is the step time.

    Gaps between consecutive step ends include the data path (batch slicing,
    conversion), the optimisation step and the bookkeeping, and leave out the set-up
    before the first step. The median is robust to the load of a shared machine.
    """

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def tick(self) -> None:
        """Record the end of a step."""
        self.stamps.append(time.perf_counter())

    def step_seconds(self) -> float:
        """Median seconds per step (nan with fewer than two steps)."""
        if len(self.stamps) < 2:
            return float("nan")
        return float(np.median(np.diff(self.stamps)))


@contextlib.contextmanager
def skorch_step_timer() -> Iterator[StepTimer]:
    """Time the training steps of every skorch net fitted inside the block."""
    from skorch import NeuralNet

    timer = StepTimer()
    original = NeuralNet.on_batch_end

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            timer.tick()
        return original(self, net, batch=batch, training=training, **kwargs)

    NeuralNet.on_batch_end = on_batch_end
    try:
        yield timer
    finally:
        NeuralNet.on_batch_end = original


def skada_available() -> bool:
    """Whether skada imports (it is an optional benchmark dependency)."""
    try:
        import skada.deep  # noqa: F401
    except ImportError:
        return False
    return True


def import_skada_deep():
    """Import ``skada.deep`` without keeping its global scikit-learn setting.

    skada switches on scikit-learn's metadata routing for the whole process when it
    is imported; the previous configuration is restored so that the other
    measurements of the same run are not affected.
    """
    import sklearn

    config = sklearn.get_config()
    import skada.deep

    sklearn.set_config(**config)
    return skada.deep


class _SkadaDomainClassifier(torch.nn.Module):
    """skdamerge's domain classifier behind skada's gradient reversal, with a sigmoid.

    skada's own default ends a one-unit layer in a softmax (its output is always 1),
    so the same domain classifier as skdamerge's is used: same size, same work.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        from skdamerge.nets import DomainClassifier

        self.net = DomainClassifier(n_features)

    def forward(self, x, sample_weight=None):
        from skada.deep.modules import GradientReversalLayer

        return torch.sigmoid(self.net(GradientReversalLayer.apply(x, 1.0))).flatten()


def make_skada_net(
    method: str,
    backbone: str,
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    *,
    batch_size: int,
    epochs: int,
    seed: int,
    device: str,
):
    """skada's ``DAN`` (``method="mmd"``) or ``DANN`` on skdamerge's network.

    The same backbone, optimiser (Adam with skdamerge's defaults), batch size and
    epochs as skdamerge, adaptation weight 1, no validation split
    (``train_split=None``). Returns ``(net, X, y, sample_domain)``, to be fitted
    with ``net.fit(X, y, sample_domain=sample_domain)``: the source and target
    images stacked, target labels -1, source domain 1 and target domain -2.
    """
    from skdamerge.nets import make_backbone

    deep = import_skada_deep()
    torch.manual_seed(seed)
    module = make_backbone(backbone, Xs.shape[1:])
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, -np.ones(len(Xt), dtype=ys.dtype)])
    sample_domain = np.concatenate(
        [np.ones(len(Xs), dtype=np.int64), -2 * np.ones(len(Xt), dtype=np.int64)]
    )
    common = dict(
        layer_name="features",
        reg=1,
        batch_size=batch_size,
        max_epochs=epochs,
        train_split=None,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        optimizer__betas=(0.7, 0.8),
        optimizer__weight_decay=1e-4,
        device=device,
        verbose=0,
    )
    if method == "mmd":
        net = deep.DAN(module, **common)
    else:
        with torch.no_grad():
            n_features = module.features(torch.from_numpy(Xs[:2])).shape[1]
        net = deep.DANN(
            module, domain_classifier=_SkadaDomainClassifier(n_features), **common
        )
    return net, X, y, sample_domain
