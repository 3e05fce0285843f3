"""Inference throughput of ``predict_proba`` against a plain PyTorch loop.

A model is fitted briefly (the weights do not matter for speed), then the same run
times ``estimator.predict_proba(X)`` and a hand-written ``torch.inference_mode``
loop over the same network in batches of the same size (256), each several times in
alternating order; the best time counts. The plain loop runs the network's layers
in their order, as the paper's network in plain PyTorch does; skdamerge's
DeepMerge pools first in inference (the same values; "plain pools first" is the
plain loop over skdamerge's network, which does). Precisions other than fp32
are measured with an estimator fitted in that precision. With ``--memmap`` the
images are also written to a ``.npy`` file and both are timed on
``np.load(path, mmap_mode="r")`` (the file is in the page cache: this measures
the batch reading and checking of out-of-core prediction, not the disk).

Examples
--------
::

    python benchmarks/bench_inference.py             # about a minute on 2 cores
    python benchmarks/bench_inference.py --n 20000 --precision fp32 bf16
    python benchmarks/bench_inference.py --precision fp32 --memmap
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine_summary, peak_rss_mib, synthetic_images

from skdamerge import SourceOnlyClassifier


def in_layer_order(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``module`` whose sequential blocks apply their layers in order."""
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Sequential) and (
                type(child) is not torch.nn.Sequential
            ):
                setattr(parent, name, torch.nn.Sequential(*child))
    return module


def plain_inference(module, X, batch_size, device) -> np.ndarray:
    """Class probabilities from a plain fp32 inference loop."""
    module.eval()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            batch = X[start : start + batch_size]
            if not batch.flags.writeable:  # a read-only memory map: read it
                batch = np.array(batch)
            xb = torch.from_numpy(batch).to(device)
            chunks.append(torch.softmax(module(xb)[1], dim=1).cpu().numpy())
    return np.concatenate(chunks)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048, help="images to classify")
    parser.add_argument("--image-size", type=int, default=75)
    parser.add_argument(
        "--backbone", default="deepmerge", choices=["deepmerge", "resnet18"]
    )
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--memmap",
        action="store_true",
        help="also time both on a memory-mapped .npy file of the same images",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"machine: {machine_summary()}")
    shape = (3, args.image_size, args.image_size)
    print(f"inference: {args.backbone}, {args.n} images of {'x'.join(map(str, shape))}")
    X_train, y_train = synthetic_images(256, shape, 0)
    X, _ = synthetic_images(args.n, shape, 1)
    estimators = {}
    for precision in args.precision:
        estimator = SourceOnlyClassifier(
            backbone=args.backbone,
            max_epochs=1,
            validation_fraction=None,
            random_state=0,
            device=args.device,
        )
        if precision != "fp32":
            if "precision" not in estimator.get_params():
                print(f"  {precision}: not available in this version")
                continue
            estimator.set_params(precision=precision)
        estimators[precision] = estimator.fit(X_train, y_train)

    module = None
    variants = {}
    if "fp32" in estimators:
        pooling_first = estimators["fp32"].module_
        module = in_layer_order(pooling_first)
        variants["plain fp32"] = lambda: plain_inference(module, X, 256, args.device)
        variants["plain pools first"] = lambda: plain_inference(
            pooling_first, X, 256, args.device
        )
    for precision, estimator in estimators.items():
        variants[f"skdamerge {precision}"] = lambda e=estimator: e.predict_proba(X)
    directory = None
    if args.memmap:
        directory = tempfile.TemporaryDirectory(prefix="skdamerge-inference-")
        path = Path(directory.name) / "images.npy"
        np.save(path, X)
        X_mm = np.load(path, mmap_mode="r")
        if module is not None:
            variants["plain fp32 memmap"] = lambda: plain_inference(
                module, X_mm, 256, args.device
            )
        if "fp32" in estimators:
            variants["skdamerge fp32 memmap"] = lambda: estimators[
                "fp32"
            ].predict_proba(X_mm)
    best: dict[str, float] = {}
    for repeat in range(args.repeats):
        names = list(variants) if repeat % 2 == 0 else list(variants)[::-1]
        for name in names:
            start = time.perf_counter()
            variants[name]()
            elapsed = time.perf_counter() - start
            best[name] = min(elapsed, best.get(name, np.inf))
    for name, seconds in best.items():
        print(f"  {name:21s} {args.n / seconds:7.0f} images/s  ({seconds:6.2f} s)")
    for name, seconds in best.items():
        if name in ("plain fp32", "plain fp32 memmap"):
            continue
        plain = "plain fp32 memmap" if name.endswith("memmap") else "plain fp32"
        if plain in best:
            print(f"  {name} / {plain} = {best[plain] / seconds:5.2f}")
    if module is not None:
        difference = np.abs(
            plain_inference(module, X, 256, args.device)
            - estimators["fp32"].predict_proba(X)
        ).max()
        print(
            "  largest difference of the plain and skdamerge fp32 probabilities: "
            f"{difference:.1e} (skdamerge's softmax is in float64)"
        )
    if directory is not None:
        directory.cleanup()
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
