"""Training throughput of the skdamerge estimators against two baselines.

For each method (source only, MMD, DANN) the same run measures, on the same
backbone, data and batch size:

* ``plain``: a hand-written PyTorch fp32 loop over the same network, batches sliced
  from the same in-memory arrays, Adam, the same losses (``skdamerge.losses``);
* ``skdamerge``: the estimator's ``fit`` (``validation_fraction=None`` so that it does
  the same work), in each requested precision;
* ``skada``: skada's ``DAN`` (for MMD) and ``DANN`` on the same network, when skada
  is installed (``pip install -e ".[bench]"``).

Throughput is source + target images per second of training steps: the median
time between consecutive step ends, which leaves out the set-up before the first
step and is robust to other load on a shared machine. The fit's wall time, set-up
included, is printed too. Ratios are computed within the run, so they compare
like with like even when absolute figures move with the machine's load.

Goals (2-core CPU, DeepMerge, batch 128): skdamerge fp32 at most 10% slower than
the plain loop (ratio >= 0.91), at least 2x skada's DAN, and bf16 at least 1.5x the
plain fp32 loop where the CPU has bf16 instructions.

Examples
--------
The default run takes a few minutes on 2 cores::

    python benchmarks/bench_training.py

Longer, less noisy runs, other backbones, a GPU::

    python benchmarks/bench_training.py --n 4096 --epochs 2
    python benchmarks/bench_training.py --backbone resnet18 --methods mmd
    python benchmarks/bench_training.py --device cuda --precision fp32 amp
"""

from __future__ import annotations

import argparse
import contextlib
import time
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from _common import (
    StepTimer,
    machine_summary,
    make_skada_net,
    peak_rss_mib,
    skorch_step_timer,
    source_target_images,
    wants_skada_baseline,
)

from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge.losses import (
    domain_adversarial_loss,
    gradient_reversal,
    mmd_loss,
)
from skdamerge.nets import DomainClassifier, make_backbone

ESTIMATORS = {
    "source-only": SourceOnlyClassifier,
    "mmd": MMDClassifier,
    "dann": DANNClassifier,
}


def images_per_step(method: str, batch_size: int) -> int:
    """Source + target images that one training step processes."""
    return batch_size if method == "source-only" else 2 * batch_size


def plain_loop(method, backbone, Xs, ys, Xt, *, batch_size, epochs, seed, device):
    """A hand-written fp32 training loop; returns its step timer."""
    torch.manual_seed(seed)
    model = make_backbone(backbone, Xs.shape[1:]).to(device)
    groups = [{"params": model.parameters()}]
    domain = None
    if method == "dann":
        with torch.no_grad():
            n_features = model.features(torch.from_numpy(Xs[:2]).to(device)).shape[1]
        domain = DomainClassifier(n_features).to(device)
        groups.append({"params": domain.parameters()})
    optimizer = torch.optim.Adam(
        groups, lr=1e-3, betas=(0.7, 0.8), eps=1e-8, weight_decay=1e-4
    )
    rng = np.random.default_rng(seed)
    timer = StepTimer()
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(Xs))
        target_order = rng.permutation(len(Xt))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            xs = torch.from_numpy(Xs[index]).to(device)
            ys_batch = torch.from_numpy(ys[index]).to(device)
            optimizer.zero_grad()
            if method == "source-only":
                loss = F.cross_entropy(model(xs), ys_batch)
            else:
                xt = torch.from_numpy(Xt[target_order[start : start + batch_size]])
                features = model.features(torch.cat([xs, xt.to(device)]))
                logits = model.classifier(features)
                loss = F.cross_entropy(logits[:batch_size], ys_batch)
                if method == "mmd":
                    loss = loss + mmd_loss(features[:batch_size], features[batch_size:])
                else:
                    domain_logits = domain(gradient_reversal(features, 1.0))
                    loss = loss + domain_adversarial_loss(
                        domain_logits[:batch_size], domain_logits[batch_size:]
                    )
            loss.backward()
            optimizer.step()
            if device != "cpu":
                torch.cuda.synchronize()
            timer.tick()
    return timer


def skdamerge_fit(
    method,
    backbone,
    Xs,
    ys,
    Xt,
    *,
    batch_size,
    epochs,
    seed,
    device,
    precision,
    channels_last=True,
):
    """Fit the estimator; returns its step timer and the fit's wall time.

    ``channels_last=False`` keeps the default memory format, to measure what the
    channels-last format brings.
    """
    params = dict(
        backbone=backbone,
        max_epochs=epochs,
        batch_size=batch_size,
        validation_fraction=None,
        patience=None,
        random_state=seed,
        device=device,
    )
    estimator = ESTIMATORS[method](**params)
    if precision != "fp32":
        if "precision" not in estimator.get_params():
            return None, None
        estimator.set_params(precision=precision)
    # The fit decides the memory format in this one function of the package;
    # replacing it for the fit is the only way to train the built-in CNN in the
    # default format.
    default_format = (
        contextlib.nullcontext()
        if channels_last
        else mock.patch(
            "skdamerge._estimators._base.uses_channels_last", return_value=False
        )
    )
    with default_format, skorch_step_timer() as timer:
        start = time.perf_counter()
        estimator.fit(Xs, ys, X_target=None if method == "source-only" else Xt)
        wall = time.perf_counter() - start
    return timer, wall


def skada_fit(method, backbone, Xs, ys, Xt, *, batch_size, epochs, seed, device):
    """Fit skada's DAN or DANN on the same network; returns timer and wall time."""
    net, X, y, sample_domain = make_skada_net(
        method,
        backbone,
        Xs,
        ys,
        Xt,
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
        device=device,
    )
    with skorch_step_timer() as timer:
        start = time.perf_counter()
        net.fit(X, y, sample_domain=sample_domain)
        wall = time.perf_counter() - start
    return timer, wall


def _report(name, timer, n_images, wall=None):
    seconds = timer.step_seconds()
    rate = n_images / seconds
    wall_text = "" if wall is None else f"  fit wall {wall:6.1f} s"
    print(
        f"  {name:20s} {1000 * seconds:8.0f} ms/step  {rate:7.0f} images/s"
        f"{wall_text}  peak RSS {peak_rss_mib():6.0f} MiB",
        flush=True,
    )
    return rate


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="images per domain")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=75)
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="measurements of each variant, in alternating order; the best counts",
    )
    parser.add_argument(
        "--methods", nargs="+", default=list(ESTIMATORS), choices=list(ESTIMATORS)
    )
    parser.add_argument(
        "--backbone", default="deepmerge", choices=["deepmerge", "resnet18"]
    )
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["fp32", "bf16"],
        help="skdamerge precisions to measure (fp32, bf16, amp)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-skada", action="store_true", help="skip skada")
    parser.add_argument(
        "--compare-channels-last",
        action="store_true",
        help="also measure skdamerge in the default (NCHW) memory format",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"machine: {machine_summary()}")
    print(
        f"training: {args.backbone}, {args.n} source + {args.n} target images of "
        f"3x{args.image_size}x{args.image_size}, batch {args.batch_size}, "
        f"{args.epochs} epoch(s), device {args.device}, best of {args.repeats}"
    )
    Xs, ys, Xt = source_target_images(args.n, args.image_size)
    run_skada = wants_skada_baseline(args.no_skada)
    common = dict(
        batch_size=args.batch_size,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
    )
    data = (args.backbone, Xs, ys, Xt)

    def variants(method):
        yield "plain fp32", lambda: (plain_loop(method, *data, **common), None)
        for precision in args.precision:
            yield (
                f"skdamerge {precision}",
                lambda p=precision: skdamerge_fit(method, *data, precision=p, **common),
            )
            if args.compare_channels_last:
                yield (
                    f"skdamerge {precision} NCHW",
                    lambda p=precision: skdamerge_fit(
                        method, *data, precision=p, channels_last=False, **common
                    ),
                )
        if run_skada and method != "source-only":
            name = "skada DAN" if method == "mmd" else "skada DANN"
            yield name, lambda: skada_fit(method, *data, **common)

    rates: dict[tuple[str, str], float] = {}
    for repeat in range(args.repeats):
        for method in args.methods:
            print(f"{method} (run {repeat + 1}):")
            runs = list(variants(method))
            for name, run in runs if repeat % 2 == 0 else runs[::-1]:
                timer, wall = run()
                if timer is None:
                    print(f"  {name}: not available in this version")
                    continue
                rate = _report(
                    name, timer, images_per_step(method, args.batch_size), wall
                )
                rates[method, name] = max(rate, rates.get((method, name), 0.0))

    print("\nbest images/s (source + target) and ratios (> 1: skdamerge faster):")
    for method in args.methods:
        plain = rates[method, "plain fp32"]
        skada_name = "skada DAN" if method == "mmd" else "skada DANN"
        skada_rate = rates.get((method, skada_name))
        line = f"  {method:12s} plain fp32 {plain:6.0f}"
        if skada_rate:
            line += f"  {skada_name} {skada_rate:6.0f}"
        print(line)
        names = [
            name
            for precision in args.precision
            for name in (f"skdamerge {precision}", f"skdamerge {precision} NCHW")
        ]
        for name in names:
            rate = rates.get((method, name))
            if rate is None:
                continue
            text = f"    {name:20s} {rate:6.0f}  / plain fp32 = "
            text += f"{rate / plain:5.2f}"
            if skada_rate:
                text += f"   / {skada_name} = {rate / skada_rate:5.2f}"
            print(text)
    print(
        "goals: fp32 / plain >= 0.91 (overhead <= 10%), fp32 / skada DAN >= 2, "
        "bf16 / plain fp32 >= 1.5 where the CPU has bf16 instructions"
    )
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
