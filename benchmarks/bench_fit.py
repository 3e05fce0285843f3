"""Wall time of the whole ``fit`` call, against skada's DAN and DANN.

What a user waits for is the whole ``fit(X, y, X_target=X_target)``: set-up, the
training steps, the validation passes, the per-epoch target monitor, the kept
best weights and, at the end, the collapse verdict and the label-free merger
fraction estimate. ``benchmarks/bench_training.py`` times the training steps
alone; this script times the whole call, with skdamerge's defaults (validation
split, early stopping, target monitor, merger-fraction estimate), against skada
0.6's ``DAN`` (for :class:`~skdamerge.MMDClassifier`) and ``DANN`` (for
:class:`~skdamerge.DANNClassifier`) with ``train_split=None``, on the same
network, data, batch size, epochs and precision (fp32).

Throughput is counted as the user sees it: ``2 * n * epochs / wall`` (source and
target images per epoch, over the fit's wall time), for both libraries, although
skdamerge trains on the ``1 - validation_fraction`` of the source that it does not
hold out. Variants run in alternating order, several times; the best wall time
counts and the ratio is taken within the run, so that the load of a shared machine
moves both sides. The ratio of the best process CPU times (all threads) is printed
too: on a machine shared with other jobs it follows the work done more closely
than the wall time.

For skdamerge, the fit's time is broken down into phases: set-up (input checks,
split, network), training steps, validation passes, the target monitor, the
other per-epoch callbacks (kept weights, scores), and the end of the fit
(collapse verdict and merger-fraction estimate). ``--limit`` also measures the
CPU's fp32 matrix-multiply rate and the network's training FLOPs per image, and
prints the compute-bound limit in images/s and the fraction of it reached.

Examples
--------
The small set (600 + 600 images, 3 epochs) takes a few minutes on 2 cores::

    python benchmarks/bench_fit.py --limit

The set ten times larger, one epoch::

    python benchmarks/bench_fit.py --n 6000 --epochs 1 --repeats 2

skdamerge in bfloat16 (CPUs with bf16 matrix units) against skada in fp32::

    python benchmarks/bench_fit.py --precision bf16

With freed memory kept between training steps (the default on glibc) and not::

    python benchmarks/bench_fit.py --compare-heap --no-skada

Where the time of the operators goes (one more fit of each method, under the
PyTorch profiler), against the compute limit::

    python benchmarks/bench_fit.py --limit --operators --no-skada
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator

import numpy as np
import torch
from _common import (
    machine_summary,
    make_skada_net,
    peak_rss_mib,
    source_target_images,
    wants_skada_baseline,
)

from skdamerge import DANNClassifier, MMDClassifier
from skdamerge import _heap as heap
from skdamerge._engine.best_weights import BestWeights
from skdamerge._engine.net import DomainAdaptationNet
from skdamerge._engine.target_monitor import TargetMonitor
from skdamerge._estimators._base import DomainAdaptationClassifier
from skdamerge.nets import make_backbone

ESTIMATORS = {"mmd": MMDClassifier, "dann": DANNClassifier}
BASELINES = {"mmd": "skada DAN", "dann": "skada DANN"}
PHASES = (
    "set-up",
    "training steps",
    "validation",
    "target monitor",
    "kept weights",
    "other callbacks",
    "end of fit",
)


@contextlib.contextmanager
def _patched(owner, name: str, wrapper) -> Iterator[None]:
    own = name in owner.__dict__
    original = getattr(owner, name)
    setattr(owner, name, wrapper(original))
    try:
        yield
    finally:
        if own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


@contextlib.contextmanager
def fit_phases() -> Iterator[dict[str, float]]:
    """Seconds spent in each phase of the skdamerge fits run inside the block.

    The phases are those of :data:`PHASES`: everything before the training loop
    (set-up), the training and validation passes of the epochs, the target
    monitor's and the kept weights' end-of-epoch work, the rest of the training
    loop (scores, history, early stopping), and everything after it (end of fit).
    """
    seconds: dict[str, float] = defaultdict(float)
    stamps: dict[str, float] = {}

    def timed(key):
        def wrapper(original):
            def run(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    seconds[key] += time.perf_counter() - start

            return run

        return wrapper

    def epoch_pass(original):
        def run(self, iterator, training, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original(self, iterator, training, *args, **kwargs)
            finally:
                key = "training steps" if training else "validation"
                seconds[key] += time.perf_counter() - start

        return run

    def training_loop(original):
        def run(*args, **kwargs):
            stamps["loop start"] = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                stamps["loop end"] = time.perf_counter()

        return run

    def whole_fit(original):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                end = time.perf_counter()
                seconds["set-up"] += stamps["loop start"] - start
                seconds["end of fit"] += end - stamps["loop end"]
                seconds["loop"] += stamps["loop end"] - stamps["loop start"]

        return run

    with contextlib.ExitStack() as stack:
        stack.enter_context(
            _patched(DomainAdaptationNet, "run_single_epoch", epoch_pass)
        )
        stack.enter_context(
            _patched(TargetMonitor, "on_epoch_end", timed("target monitor"))
        )
        stack.enter_context(
            _patched(BestWeights, "on_epoch_end", timed("kept weights"))
        )
        stack.enter_context(
            _patched(DomainAdaptationClassifier, "_train", training_loop)
        )
        stack.enter_context(_patched(DomainAdaptationClassifier, "fit", whole_fit))
        yield seconds
    inside = sum(
        seconds[key]
        for key in ("training steps", "validation", "target monitor", "kept weights")
    )
    seconds["other callbacks"] = seconds.pop("loop", 0.0) - inside


def skdamerge_fit(
    method, Xs, ys, Xt, *, backbone, batch_size, epochs, seed, precision="fp32"
):
    """Fit skdamerge's estimator with its defaults; wall time and phase times."""
    estimator = ESTIMATORS[method](
        backbone=backbone,
        max_epochs=epochs,
        batch_size=batch_size,
        random_state=seed,
        device="cpu",
        precision=precision,
    )
    with fit_phases() as phases:
        cpu = time.process_time()
        start = time.perf_counter()
        estimator.fit(Xs, ys, X_target=Xt)
        wall = time.perf_counter() - start
        phases["cpu"] = time.process_time() - cpu
    held_out = estimator.validation_index_
    n_train = len(Xs) - (0 if held_out is None else len(held_out))
    # Images through the training steps: each source batch with a target batch.
    phases["trained images"] = 2 * n_train * epochs
    return wall, dict(phases)


def skada_fit(method, Xs, ys, Xt, *, backbone, batch_size, epochs, seed, precision):
    """Fit skada's DAN or DANN with ``train_split=None`` (always fp32); wall time."""
    net, X, y, sample_domain = make_skada_net(
        method,
        backbone,
        Xs,
        ys,
        Xt,
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
        device="cpu",
    )
    cpu = time.process_time()
    start = time.perf_counter()
    net.fit(X, y, sample_domain=sample_domain)
    wall = time.perf_counter() - start
    return wall, {"cpu": time.process_time() - cpu}


def gemm_flops(size: int = 1024, repeats: int = 10) -> float:
    """Best fp32 matrix-multiply rate of this CPU in FLOP/s (torch, all threads)."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def training_flops_per_image(
    backbone: str, shape: tuple[int, ...], batch_size: int
) -> float:
    """FLOPs of one training step (forward and backward) per image of the batch.

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions and
    matrix products; element-wise work, a few percent, is not counted).
    """
    from torch.utils.flop_counter import FlopCounterMode

    model = make_backbone(backbone, shape)
    x = torch.randn(batch_size, *shape)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x).sum().backward()
    return counter.get_total_flops() / batch_size


# Operator groups of the profile, by the ATen operator's name (without "aten::").
OPERATOR_GROUPS = {
    "convolution": ("convolution",),
    "batch normalisation": ("batch_norm",),
    "ReLU": ("threshold_backward", "relu", "clamp_min"),
    "max pooling": ("max_pool",),
    "zero fills and copies": ("fill_", "zero_", "copy_"),
}
MATRIX_PRODUCTS = {"mm", "addmm", "bmm", "matmul", "_cdist_forward", "baddbmm"}
COMPUTE_BOUND = ("convolution", "matrix products")


def operator_group(name: str) -> str:
    """The group of :data:`OPERATOR_GROUPS` (or matrix products, other) of an op."""
    op = name.removeprefix("aten::")
    if op in MATRIX_PRODUCTS:
        return "matrix products"
    for group, parts in OPERATOR_GROUPS.items():
        if any(part in op for part in parts):
            return group
    return "other"


def operator_seconds(method, Xs, ys, Xt, **common) -> dict[str, float]:
    """Self CPU seconds of the operators of one whole skdamerge fit, by group.

    One fit under :class:`torch.profiler.profile` (CPU activity): the time each
    ATen operator spends in its own code, summed over the training steps,
    validation, target monitor and end of the fit, and grouped by
    :func:`operator_group`.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        skdamerge_fit(method, Xs, ys, Xt, **common)
    seconds: dict[str, float] = defaultdict(float)
    for event in profiler.key_averages():
        if event.key.startswith("aten::"):
            seconds[operator_group(event.key)] += event.self_cpu_time_total / 1e6
    return dict(seconds)


def print_operator_seconds(method, seconds, *, images, limit=None) -> None:
    """Print the groups' shares, and the speed the non-compute-bound part allows.

    ``images`` counts as the whole fit's throughput does (``2 * n * epochs``).
    """
    total = sum(seconds.values())
    print(f"  {ESTIMATORS[method].__name__} ({total:.1f} s in operators):")
    for group, value in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"    {group:24s} {value:7.2f} s {100 * value / total:4.0f}%")
    rest = total - sum(seconds.get(group, 0.0) for group in COMPUTE_BOUND)
    line = (
        f"    with convolutions and matrix products taking no time, the other "
        f"operators alone would cap the whole fit at {images / rest:.0f} images/s"
    )
    if limit is not None:
        line += f" ({images / rest / limit:.0%} of the compute limit)"
    print(line)


NOT_KEPT = "memory not kept"


def memory_not_kept(fit):
    """``fit`` with freed memory returned to the system between steps.

    As where the C library is not glibc: :mod:`skdamerge._heap` finds no
    ``mallopt`` to call.
    """

    def run(*args, **kwargs):
        saved = heap.glibc
        heap.glibc = lambda: None
        try:
            return fit(*args, **kwargs)
        finally:
            heap.glibc = saved

    return run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600, help="images per domain")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=75)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="fits of each variant, in alternating order; the best counts",
    )
    parser.add_argument(
        "--methods", nargs="+", default=list(ESTIMATORS), choices=list(ESTIMATORS)
    )
    parser.add_argument("--backbone", default="deepmerge")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-skada", action="store_true", help="skip skada")
    parser.add_argument(
        "--limit",
        action="store_true",
        help="measure the CPU's fp32 GEMM rate and print the compute-bound limit",
    )
    parser.add_argument(
        "--compare-heap",
        action="store_true",
        help="also fit skdamerge without keeping freed memory between steps",
    )
    parser.add_argument(
        "--operators",
        action="store_true",
        help="profile one more fit of each method and print its operators' time",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "bf16"],
        help="skdamerge's precision (skada's baseline stays fp32)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"machine: {machine_summary()}")
    print(
        f"whole fit: {args.backbone}, {args.n} source + {args.n} target images of "
        f"3x{args.image_size}x{args.image_size}, batch {args.batch_size}, "
        f"{args.epochs} epoch(s), skdamerge {args.precision} (skada fp32), CPU, "
        f"best of {args.repeats}"
    )
    Xs, ys, Xt = source_target_images(args.n, args.image_size)
    run_skada = wants_skada_baseline(args.no_skada)
    common = dict(
        backbone=args.backbone,
        batch_size=args.batch_size,
        epochs=args.epochs,
        seed=args.seed,
        precision=args.precision,
    )
    images = 2 * args.n * args.epochs

    best: dict[tuple[str, str], float] = {}
    best_cpu: dict[tuple[str, str], float] = {}
    best_phases: dict[str, dict[str, float]] = {}
    for repeat in range(args.repeats):
        for method in args.methods:
            runs = [("skdamerge", skdamerge_fit)]
            if args.compare_heap:
                runs.append((NOT_KEPT, memory_not_kept(skdamerge_fit)))
            if run_skada:
                runs.append((BASELINES[method], skada_fit))
            for name, fit in runs if repeat % 2 == 0 else runs[::-1]:
                wall, phases = fit(method, Xs, ys, Xt, **common)
                cpu = phases.pop("cpu")
                print(
                    f"  {method} run {repeat + 1}: {name:12s} {wall:7.1f} s  "
                    f"{images / wall:6.0f} images/s  (CPU time {cpu:6.1f} s)",
                    flush=True,
                )
                key = (method, name)
                best_cpu[key] = min(cpu, best_cpu.get(key, np.inf))
                if wall < best.get(key, np.inf):
                    best[key] = wall
                    if name == "skdamerge":
                        best_phases[method] = phases

    print("\nbest wall time of the whole fit, images/s = 2 * n * epochs / wall:")
    for method in args.methods:
        wall = best[method, "skdamerge"]
        line = (
            f"  {ESTIMATORS[method].__name__:15s} {wall:7.1f} s "
            f"{images / wall:6.0f} images/s"
        )
        baseline = best.get((method, BASELINES[method]))
        if baseline is not None:
            line += (
                f"   {BASELINES[method]} {baseline:7.1f} s {images / baseline:6.0f} "
                f"images/s   ratio {baseline / wall:5.2f}"
            )
            cpu_ratio = (
                best_cpu[method, BASELINES[method]] / best_cpu[method, "skdamerge"]
            )
            line += f"  (CPU-time ratio {cpu_ratio:5.2f})"
        print(line)
        not_kept = best.get((method, NOT_KEPT))
        if not_kept is not None:
            print(
                f"  {'':15s} {NOT_KEPT}: {not_kept:7.1f} s, "
                f"{not_kept / wall:5.2f}x the time with freed memory kept"
            )
    print("\nwhere skdamerge's fit time goes (the best fit of each method):")
    print("  " + " " * 16 + "".join(f"{phase:>16s}" for phase in PHASES))
    for method, phases in best_phases.items():
        total = sum(phases.get(phase, 0.0) for phase in PHASES)
        cells = ""
        for phase in PHASES:
            seconds = phases.get(phase, 0.0)
            cells += f"{seconds:8.2f} s{100 * seconds / total:4.0f}%"
        print(f"  {ESTIMATORS[method].__name__:16s}{cells}")

    limit = None
    if args.limit:
        rate = gemm_flops()
        flops = training_flops_per_image(args.backbone, Xs.shape[1:], args.batch_size)
        limit = rate / flops
        print(
            f"\ncompute limit: fp32 GEMM {rate / 1e9:.0f} GFLOP/s, "
            f"{args.backbone} training step {flops / 1e9:.3f} GFLOP per image, "
            f"limit {limit:.0f} images/s"
        )
        for method in args.methods:
            wall = best[method, "skdamerge"]
            steps = best_phases[method]["training steps"]
            trained = best_phases[method]["trained images"]
            print(
                f"  {ESTIMATORS[method].__name__:15s} whole fit "
                f"{images / wall / limit:5.1%} of the limit; training steps "
                f"{trained / steps:5.0f} images/s, {trained / steps / limit:5.1%}"
            )
    if args.operators:
        print(
            "\nwhere the operators' time goes (one more fit of each method, under "
            "the PyTorch profiler; self CPU time, all phases of the fit):"
        )
        for method in args.methods:
            seconds = operator_seconds(method, Xs, ys, Xt, **common)
            print_operator_seconds(
                method,
                seconds,
                images=images,
                limit=limit,
            )
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
