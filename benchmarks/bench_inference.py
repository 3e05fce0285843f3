"""Inference throughput of ``predict_proba`` against a plain PyTorch loop.

A model is fitted briefly (the weights do not matter for speed), then the same run
times ``estimator.predict_proba(X)`` and a hand-written ``torch.inference_mode``
loop over the same network in batches of the same size (256), each several times in
alternating order; the best time counts. Precisions other than fp32 are measured
with an estimator fitted in that precision.

Examples
--------
::

    python benchmarks/bench_inference.py             # about a minute on 2 cores
    python benchmarks/bench_inference.py --n 20000 --precision fp32 bf16
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import machine_summary, peak_rss_mib, synthetic_images

from skdamerge import SourceOnlyClassifier


def plain_inference(module, X, batch_size, device) -> np.ndarray:
    """Class probabilities from a plain fp32 inference loop."""
    module.eval()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            xb = torch.from_numpy(X[start : start + batch_size]).to(device)
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

    module = estimators["fp32"].module_ if "fp32" in estimators else None
    variants = {}
    if module is not None:
        variants["plain fp32"] = lambda: plain_inference(module, X, 256, args.device)
    for precision, estimator in estimators.items():
        variants[f"skdamerge {precision}"] = lambda e=estimator: e.predict_proba(X)
    best: dict[str, float] = {}
    for repeat in range(args.repeats):
        names = list(variants) if repeat % 2 == 0 else list(variants)[::-1]
        for name in names:
            start = time.perf_counter()
            variants[name]()
            elapsed = time.perf_counter() - start
            best[name] = min(elapsed, best.get(name, np.inf))
    for name, seconds in best.items():
        print(f"  {name:16s} {args.n / seconds:7.0f} images/s  ({seconds:6.2f} s)")
    if "plain fp32" in best:
        for name, seconds in best.items():
            if name.startswith("skdamerge"):
                print(f"  {name} / plain fp32 = {best['plain fp32'] / seconds:5.2f}")
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
