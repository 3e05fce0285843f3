"""Helpers of tests/test_data_parallel.py that run in other processes.

* :func:`gradient_worker` runs in each process of a ``torch.multiprocessing``
  spawn: one DANN training step through the data-parallel machinery on its share
  of a batch, in float64.
* Run as a script under ``torchrun``, the module fits the :data:`CASES` with
  ``data_parallel=True`` (MMDClassifier and DANNClassifier with the built-in and
  with a user-module backbone, every other method with the latter) and saves,
  per rank, the per-epoch losses and the predicted probabilities.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import torch

from skdamerge._engine.objectives import estimator_class

#: The estimators and settings of the torchrun fit (and of its single-process twin).
FIT_SETTINGS = {
    "max_epochs": 3,
    "batch_size": 16,
    "random_state": 0,
    "cycle_length": 2,
    "patience": 2,
}
#: (case, method, backbone kind, extra parameters, whether to pass X_target):
#: MMD and DANN with both backbones, every other method that supports
#: data-parallel training with the module backbone.
CASES = [
    ("mmd_builtin", "mmd", "builtin", {}, True),
    ("dann_builtin", "dann", "builtin", {}, True),
    ("mmd_module", "mmd", "module", {}, True),
    ("dann_module", "dann", "module", {}, True),
    ("source-only", "source-only", "module", {}, True),
    ("cdan", "cdan", "module", {"entropy_conditioning": True}, True),
    ("mdd", "mdd", "module", {}, True),
    ("mcc", "mcc", "module", {}, True),
    ("coral", "coral", "module", {"fisher_intra_weight": 0.01}, True),
    ("deepjdot", "deepjdot", "module", {}, True),
    ("sinkhorn", "sinkhorn", "module", {"dynamic_weights": True}, True),
    ("dann_no_target", "dann", "module", {}, False),
]
N_IMAGES = 48
IMAGE_SIZE = 32


def fit_data():
    """Source, labels and target of the torchrun fit (3x32x32, 48 per domain)."""
    from conftest import make_pair_shift

    Xs, ys, Xt, _ = make_pair_shift(N_IMAGES, size=IMAGE_SIZE, seed=5)
    return Xs, ys, Xt


def backbone(kind: str):
    """The network of a fit: ``"builtin"`` or ``"module"``.

    ``"builtin"`` is the estimators' DeepMerge, trained in the channels-last
    memory format; ``"module"`` the same network passed as a module (seeded),
    which trains in the default memory format.
    """
    if kind == "builtin":
        return "deepmerge"
    from skdamerge.nets import DeepMerge

    torch.manual_seed(0)
    return DeepMerge(3, IMAGE_SIZE)


def fit_and_record(
    case: str, pickle_to: Path | None = None, **params
) -> dict[str, np.ndarray]:
    """Fit one case of :data:`CASES`; return its losses and probabilities.

    With ``pickle_to`` the fitted estimator is pickled to that file too.
    """
    _, method, kind, extra, with_target = next(c for c in CASES if c[0] == case)
    Xs, ys, Xt = fit_data()
    estimator = estimator_class(method)
    clf = estimator(**FIT_SETTINGS, backbone=backbone(kind), **extra, **params)
    clf.fit(Xs, ys, X_target=Xt if with_target else None)
    if pickle_to is not None:
        pickle_to.write_bytes(pickle.dumps(clf))
    return {
        "train_loss": np.array([row["train_loss"] for row in clf.history_]),
        "valid_loss": np.array([row["valid_loss"] for row in clf.history_]),
        "best_epoch": np.array(clf.best_epoch_),
        "proba": clf.predict_proba(np.concatenate([Xs, Xt])),
        "global_norm_layers": np.array(
            sum("Global" in type(m).__name__ for m in clf.module_.modules())
        ),
    }


def step_module(seed: int = 0):
    """The DANN network of the gradient test (16x16 images)."""
    from skdamerge._engine.module import DomainAdaptationModule
    from skdamerge._engine.objectives import AdversarialObjective
    from skdamerge.nets import FeatureExtractor, make_backbone

    torch.manual_seed(seed)
    objective = AdversarialObjective(fisher_intra_weight=0.01, entropy_weight=0.1)
    extractor = FeatureExtractor(make_backbone("deepmerge", (3, 16, 16)))
    n_features = extractor(torch.zeros(2, 3, 16, 16))[0].shape[1]
    module = DomainAdaptationModule(extractor, objective.extra_modules(n_features))
    return module.train(), objective


def step_batch(n: int = 8):
    """A source batch, its labels and a target batch."""
    rng = np.random.default_rng(3)
    xs = torch.from_numpy(rng.normal(size=(n, 3, 16, 16)).astype(np.float32))
    ys = torch.from_numpy(np.arange(n) % 2)
    xt = torch.from_numpy(rng.normal(1.0, 2.0, size=(n, 3, 16, 16)).astype(np.float32))
    return xs, ys, xt


def gradients(module) -> dict[str, np.ndarray]:
    """The gradient of every parameter, by name."""
    return {
        name: param.grad.detach().numpy().copy()
        for name, param in module.named_parameters()
        if param.grad is not None
    }


def gradient_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """One data-parallel DANN step on this rank's share; save loss and gradients."""
    import torch.distributed as dist

    from skdamerge._engine.data_parallel import (
        RankRandomness,
        gathering,
        use_global_batch_norm,
        wrap_step,
    )

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
    )
    try:
        module, objective = step_module()
        use_global_batch_norm(module, cuda=False)
        step = wrap_step(
            module, objective, torch.nn.CrossEntropyLoss(), torch.device("cpu")
        )
        xs, ys, xt = step_batch()
        share = len(xs) // world_size
        rows = slice(rank * share, (rank + 1) * share)
        torch.manual_seed(1)  # the domain classifier's dropout masks
        result = step(xs[rows], ys[rows], xt[rows], 0.5)
        result["loss"].backward()
        # Dropout before the gather: masks of the rank's own; after: shared.
        torch.manual_seed(2)
        extractor = torch.nn.Dropout(0.5)
        randomness = RankRandomness(extractor, seed=7, rank=rank, device=xs.device)
        with gathering():
            own_mask = extractor(torch.ones(64))
        shared_mask = torch.nn.functional.dropout(torch.ones(64), 0.5)
        randomness.remove()
        np.savez(
            Path(out_dir) / f"rank{rank}.npz",
            own_mask=own_mask.numpy(),
            shared_mask=shared_mask.numpy(),
            loss=result["loss"].item(),
            running_var=module.extractor.backbone.features[2].running_var.numpy(),
            **gradients(module),
        )
    finally:
        dist.destroy_process_group()


def entry_checks_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """The checks at fit entry, with a seed and a data set that differ by rank."""
    import json

    import torch.distributed as dist

    from skdamerge._engine.data_parallel import check_same_data, same_on_every_rank

    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
    )
    try:
        seed = same_on_every_rank(100 + rank)
        y = np.arange(10) % 2
        check_same_data(np.zeros((10, 3, 8, 8)), y, np.zeros((6, 3, 8, 8)), None)
        try:
            check_same_data(np.zeros((10 + rank, 3, 8, 8)), y, None, None)
            error = None
        except ValueError as raised:
            error = str(raised)
        record = {"seed": seed, "error": error}
        (Path(out_dir) / f"checks{rank}.json").write_text(json.dumps(record))
    finally:
        dist.destroy_process_group()


def main(out_dir: str) -> None:
    """Fit every case of :data:`CASES` data-parallel; save per rank."""
    from skdamerge.distributed import init_from_torchrun

    torch.set_num_threads(1)
    context = init_from_torchrun()
    for case, *_ in CASES:
        stem = Path(out_dir) / f"{case}_rank{context.rank}"
        extra = {}
        if case == "mmd_module":  # rank 0 writes the checkpoints
            extra["checkpoint_path"] = Path(out_dir) / f"{case}.ckpt"
        record = fit_and_record(
            case,
            pickle_to=stem.with_suffix(".pkl") if case == "dann_module" else None,
            data_parallel=True,
            device=context.device,
            **extra,
        )
        np.savez(stem.with_suffix(".npz"), **record)


if __name__ == "__main__":
    main(sys.argv[1])
