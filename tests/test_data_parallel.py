"""Data-parallel training (``data_parallel=True`` under torchrun), on CPUs with gloo.

The batches are sharded consistently, the gathered losses give the gradient of a
single process on the same global batch, and a fit launched by torchrun over two
processes matches a single-process fit of the same global batch and seed.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from data_parallel_support import (
    CASES,
    FIT_SETTINGS,
    backbone,
    entry_checks_worker,
    fit_and_record,
    fit_data,
    gradient_worker,
    gradients,
    step_batch,
    step_module,
)

from skdamerge import DANNClassifier, MMDClassifier, SHOTClassifier
from skdamerge._batch_norm import ChannelsLastBatchNorm2d
from skdamerge._engine.batches import SourceTargetBatches
from skdamerge._engine.checkpoint import EpochCheckpoint
from skdamerge._engine.data_parallel import (
    DataParallelGroup,
    GlobalBatchNorm2d,
    gather_across_ranks,
    restore_batch_norm,
    use_global_batch_norm,
    wrap_step,
)
from skdamerge._engine.orientation import RandomOrientation
from skdamerge.distributed import init_from_torchrun

dist = torch.distributed
needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with gloo is not available",
)
ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _batches(world_size: int, rank: int, **kwargs) -> list[tuple]:
    rng = np.random.default_rng(0)
    Xs = np.arange(38, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    ys = np.arange(38) % 2
    Xt = 100 + np.arange(27, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    batches = SourceTargetBatches(
        Xs,
        ys,
        Xt,
        8,
        torch.device("cpu"),
        rng,
        target_indices=True,
        rank=rank,
        world_size=world_size,
        **kwargs,
    )
    epochs = [list(batches) for _ in range(2)]
    assert all(len(epoch) == len(batches) for epoch in epochs)
    return [batch for epoch in epochs for batch in epoch]


def _assert_same_gradient(got, expected, name: str) -> None:
    """Equal to float32 rounding: 1e-4 of each tensor's largest entry.

    A wrong scaling (a factor of the world size) or a missing term is far
    outside this.
    """
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(
        got, expected, rtol=1e-4, atol=1e-4 * scale, err_msg=name
    )


# -- sharding -------------------------------------------------------------------------
def test_rank_shares_put_together_are_the_single_process_batches():
    """Every rank draws the same order; the shares in rank order are the batch."""
    single = _batches(1, 0)
    shards = [_batches(2, rank) for rank in range(2)]
    # 38 source images: 4 batches of 8, then 6 (divisible by 2) per epoch.
    assert [len(batch[0]) for batch in single] == [8, 8, 8, 8, 6] * 2
    assert [len(batch[0]) for batch in shards[1]] == [4, 4, 4, 4, 3] * 2
    for step, batch in enumerate(single):
        xs, ys, xt, rows = batch
        parts = [shard[step] for shard in shards]
        torch.testing.assert_close(torch.cat([p[0] for p in parts]), xs)
        torch.testing.assert_close(torch.cat([p[1] for p in parts]), ys)
        torch.testing.assert_close(torch.cat([p[2] for p in parts]), xt)
        np.testing.assert_array_equal(np.concatenate([p[3] for p in parts]), rows)
        # Each rank holds its own rows, none twice.
        assert not set(parts[0][3]) & set(parts[1][3])


def test_a_partial_last_batch_is_cut_to_a_multiple_of_the_processes():
    # 38 images, batches of 8 over 4 processes: the last 6 become 4 (1 per rank).
    shards = [_batches(4, rank) for rank in range(4)]
    assert [len(batch[0]) for batch in shards[0][:5]] == [2, 2, 2, 2, 1]
    single = _batches(1, 0)
    for step in range(4):  # the full batches are the single-process ones
        torch.testing.assert_close(
            torch.cat([shard[step][0] for shard in shards]), single[step][0]
        )
    last = torch.cat([shard[4][0] for shard in shards])
    torch.testing.assert_close(last, single[4][0][:4])


def test_a_batch_size_that_does_not_split_is_refused():
    with pytest.raises(ValueError, match="not divisible by the number of processes"):
        _batches(3, 0)


def test_augmentation_turns_the_global_batch_as_one_process_does():
    images = torch.arange(8 * 4 * 4, dtype=torch.float32).reshape(8, 1, 4, 4)
    single = RandomOrientation(np.random.default_rng(4))(images)
    shards = [
        RandomOrientation(np.random.default_rng(4), rank, 2)(images[rank * 4 :][:4])
        for rank in range(2)
    ]
    torch.testing.assert_close(torch.cat(shards), single)


def test_only_rank_zero_writes_checkpoints(tmp_path):
    class Net:
        writes_files = False

    EpochCheckpoint(tmp_path / "model.ckpt", {}).on_epoch_end(Net())
    assert not (tmp_path / "model.ckpt").exists()


# -- one process: the machinery is an identity outside a step -----------------------
def test_gather_is_the_identity_outside_a_data_parallel_step():
    tensor = torch.ones(3, requires_grad=True)
    assert gather_across_ranks(tensor) is tensor
    assert gather_across_ranks(None) is None


def test_batch_norm_layers_are_swapped_and_restored_with_their_state():
    module, _ = step_module()
    keys = set(module.state_dict())
    replaced = use_global_batch_norm(module, cuda=False)
    assert [name for name, _ in replaced] == [
        "extractor.backbone.features.2",
        "extractor.backbone.features.6",
        "extractor.backbone.features.10",
    ]
    layer = module.extractor.backbone.features[2]
    assert isinstance(layer, GlobalBatchNorm2d)
    assert set(module.state_dict()) == keys
    # Without a process group the layer is an ordinary batch norm.
    module(torch.randn(4, 3, 16, 16))
    trained = {k: v.clone() for k, v in module.state_dict().items()}
    restore_batch_norm(module, replaced)
    assert type(module.extractor.backbone.features[2]) is ChannelsLastBatchNorm2d
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, trained[key], msg=key)


@needs_gloo
def test_a_data_parallel_step_in_one_process_is_the_plain_step():
    """World size 1: DDP, global batch norm and the gather change nothing."""
    xs, ys, xt = step_batch()
    criterion = torch.nn.CrossEntropyLoss()
    plain, objective = step_module()
    torch.manual_seed(1)
    expected_loss = objective(plain, criterion, xs, ys, xt, 0.5)["loss"]
    expected_loss.backward()
    expected = gradients(plain)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        module, _ = step_module()
        use_global_batch_norm(module, cuda=False)
        step = wrap_step(module, objective, criterion, torch.device("cpu"))
        torch.manual_seed(1)
        loss = step(xs, ys, xt, 0.5)["loss"]
        loss.backward()
    finally:
        dist.destroy_process_group()
    torch.testing.assert_close(loss, expected_loss, rtol=1e-6, atol=0)
    got = gradients(module)
    assert set(got) == set(expected)
    for name, grad in expected.items():
        _assert_same_gradient(got[name], grad, name)


# -- two processes: the gradient of the global batch --------------------------------
@needs_gloo
def test_two_ranks_give_the_single_process_gradient_of_the_global_batch(tmp_path):
    """DDP averages, the gather's backward sums: together the exact gradient.

    One DANN step (Fisher and entropy on) over two spawned processes,
    each with half of the source and target batch, against one process with the
    whole batch: same loss, same gradient of every parameter (feature extractor,
    classifier and domain classifier), same batch-norm running statistics.
    """
    torch.multiprocessing.spawn(
        gradient_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True
    )
    plain, objective = step_module()
    xs, ys, xt = step_batch()
    torch.manual_seed(1)
    result = objective(plain, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.5)
    result["loss"].backward()
    expected = gradients(plain)
    running_var = plain.extractor.backbone.features[2].running_var.numpy()
    assert any(name.startswith("domain_classifier.") for name in expected)
    masks = [np.load(tmp_path / f"rank{rank}.npz") for rank in range(2)]
    # The extractor's dropout draws other masks on each rank's share; after
    # it, every rank draws from the same shared state again.
    assert not np.array_equal(masks[0]["own_mask"], masks[1]["own_mask"])
    np.testing.assert_array_equal(masks[0]["shared_mask"], masks[1]["shared_mask"])
    torch.manual_seed(2)
    shared = torch.nn.functional.dropout(torch.ones(64), 0.5).numpy()
    np.testing.assert_array_equal(masks[0]["shared_mask"], shared)
    for rank in range(2):
        saved = np.load(tmp_path / f"rank{rank}.npz")
        np.testing.assert_allclose(saved["loss"], result["loss"].item(), rtol=1e-6)
        np.testing.assert_allclose(saved["running_var"], running_var, rtol=1e-5)
        records = {"loss", "running_var", "own_mask", "shared_mask"}
        assert set(saved.files) - records == set(expected)
        for name, grad in expected.items():
            _assert_same_gradient(saved[name], grad, name)


@needs_gloo
def test_every_rank_takes_rank_zeros_seed_and_refuses_other_data(tmp_path):
    torch.multiprocessing.spawn(
        entry_checks_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2
    )
    for rank in range(2):
        record = json.loads((tmp_path / f"checks{rank}.json").read_text())
        assert record["seed"] == 100  # rank 0's
        # Every rank refuses, naming what differs and the fix.
        assert "same X, y, X_target and validation_data" in record["error"]
        assert "(10, (3, 8, 8))" in record["error"]
        assert "(11, (3, 8, 8))" in record["error"]
        assert "Load the whole data set in every process" in record["error"]


# -- the estimator's contract -------------------------------------------------------
def test_data_parallel_without_a_process_group_is_refused(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with pytest.raises(ValueError, match="none is initialised.*torchrun"):
        MMDClassifier(data_parallel=True, max_epochs=1).fit(Xs, ys, X_target=Xt)


def test_data_parallel_checks_the_batch_size_and_the_method(tiny_shift, monkeypatch):
    import skdamerge._estimators._base as base

    Xs, ys, Xt, _ = tiny_shift
    group = DataParallelGroup(rank=0, world_size=3, backend="gloo")
    monkeypatch.setattr(base, "current_group", lambda: group)
    with pytest.raises(ValueError, match="batch_size=16 evenly over the 3 processes"):
        DANNClassifier(data_parallel=True, batch_size=16).fit(Xs, ys, X_target=Xt)
    with pytest.raises(ValueError, match="SHOTClassifier does not support"):
        SHOTClassifier(data_parallel=True, batch_size=12).fit(Xs, ys, X_target=Xt)


def test_init_from_torchrun_needs_a_torchrun_environment(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    with pytest.raises(RuntimeError, match="Launch the script with torchrun"):
        init_from_torchrun()


# -- torchrun -------------------------------------------------------------------------
@pytest.mark.slow
@needs_gloo
def test_torchrun_fit_matches_a_single_process_fit(tmp_path):
    """Two gloo processes under torchrun against one process, same batches and seed.

    MMDClassifier and DANNClassifier (its domain classifier trained too), and
    every other method that supports it, 3 epochs on 48 + 48 images of 3x32x32
    in global batches of 16, with validation, early stopping and the cyclic
    learning rate. Both ranks end with the same plain model, which predicts
    unpickled outside the process group, and rank 0's checkpoint resumes in one
    process to the same model. With a user-module backbone (default memory
    format) the fit is the single-process one to float32 rounding: losses
    within rtol 1e-5, probabilities within 1e-6. The built-in backbone trains
    channels-last, where PyTorch's single-process CPU batch norm is itself
    accurate to about 1e-4 in float32 (the global batch norm of the processes
    is more accurate); the difference grows over the steps to losses within
    rtol 1e-3 and probabilities within 2e-3.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(TESTS), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["OMP_NUM_THREADS"] = "1"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--standalone",
            str(TESTS / "data_parallel_support.py"),
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    # The fitted estimator of a process predicts without a process group.
    Xs, ys, Xt = fit_data()
    fitted = pickle.loads((tmp_path / "dann_module_rank1.pkl").read_bytes())
    np.testing.assert_array_equal(
        fitted.predict_proba(np.concatenate([Xs, Xt])),
        np.load(tmp_path / "dann_module_rank1.npz")["proba"],
    )
    # A checkpoint of the processes resumes in one process: the same model.
    resumed = MMDClassifier(
        **FIT_SETTINGS,
        backbone=backbone("module"),
        resume_from=tmp_path / "mmd_module.ckpt",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed.fit(Xs, ys, X_target=Xt)
    np.testing.assert_array_equal(
        resumed.predict_proba(np.concatenate([Xs, Xt])),
        np.load(tmp_path / "mmd_module_rank0.npz")["proba"],
    )
    for case, _, kind, _, _ in CASES:
        ranks = [np.load(tmp_path / f"{case}_rank{rank}.npz") for rank in range(2)]
        for key in ranks[0].files:  # every rank holds the same fitted model
            np.testing.assert_array_equal(
                ranks[0][key], ranks[1][key], err_msg=f"{case} {key}"
            )
        got = ranks[0]
        assert int(got["global_norm_layers"]) == 0  # plain batch norm again
        with warnings.catch_warnings():  # a tiny training collapses on the target
            warnings.simplefilter("ignore")
            expected = fit_and_record(case)
        rtol, atol = (1e-3, 2e-3) if kind == "builtin" else (1e-5, 1e-6)
        if case == "dann_no_target":
            # On the clean source images alone, some first-layer convolutions
            # see positive inputs only: their bias has an exact gradient of 0
            # (the batch norm after the ReLU removes it), so Adam moves it by
            # the sign of the rounding noise, in one process and in two.
            atol = 1e-4
        assert len(got["train_loss"]) == FIT_SETTINGS["max_epochs"]
        for key in ("train_loss", "valid_loss"):
            np.testing.assert_allclose(
                got[key], expected[key], rtol=rtol, err_msg=f"{case} {key}"
            )
        assert int(got["best_epoch"]) == int(expected["best_epoch"])
        np.testing.assert_allclose(
            got["proba"], expected["proba"], atol=atol, err_msg=case
        )
