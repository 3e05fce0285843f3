"""Distributed inference with Dask, and DDP wrapping of the network on one machine.

Data-parallel training itself (``data_parallel=True``) is tested in
tests/test_data_parallel.py.
"""

import copy
import pickle
import socket

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from skdamerge import DANNClassifier, SourceOnlyClassifier
from skdamerge.distributed import predict_proba_dask, predict_zarr

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")


@pytest.fixture(scope="module")
def fitted(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    return DANNClassifier(max_epochs=1, random_state=0).fit(Xs, ys, X_target=Xt)


@pytest.fixture(scope="module")
def images(tiny_shift):
    return tiny_shift[2]


@pytest.mark.parametrize("processes", [False, True])
def test_predict_proba_dask_on_a_local_cluster(fitted, images, processes):
    """Each chunk is classified on a worker; the model is scattered once."""
    X = da.from_array(images, chunks=(48, 3, 8, 16))  # chunks split the image too
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        proba = predict_proba_dask(fitted, X, client=client, torch_threads=1)
        # Read while the graph holds the scattered model: once computed, the
        # graph is dropped and the workers may release it at any moment.
        workers = client.has_what()
        assert proba.shape == (len(images), 2)
        assert proba.chunks[0] == X.chunks[0]
        result = proba.compute()
    np.testing.assert_allclose(result, fitted.predict_proba(images), rtol=1e-6)
    # the scattered model sits on both workers
    assert all(len(keys) >= 1 for keys in workers.values())


def test_predict_proba_dask_without_a_client_embeds_the_model_once(fitted, images):
    X = da.from_array(images, chunks=(50, 3, 16, 16))
    proba = predict_proba_dask(fitted, X)
    graph = dict(proba.__dask_graph__())
    # a task that holds the model pickles to about the model's size; the tasks
    # that only refer to it by key stay small
    model_size = len(pickle.dumps(fitted))
    heavy = [
        key
        for key, task in graph.items()
        if len(cloudpickle.dumps(task)) > model_size // 2
    ]
    assert len(heavy) == 1
    np.testing.assert_allclose(
        proba.compute(scheduler="threads"), fitted.predict_proba(images), rtol=1e-6
    )
    merger = predict_proba_dask(fitted, X)[:, 1]
    assert merger.shape == (len(images),)


def test_predict_zarr_writes_merger_probabilities(fitted, images, tmp_path):
    zarr = pytest.importorskip("zarr")
    source = zarr.open_array(
        str(tmp_path / "images.zarr"),
        mode="w",
        shape=images.shape,
        chunks=(64, *images.shape[1:]),
        dtype="f4",
    )
    source[:] = images
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        written = predict_zarr(
            fitted, str(tmp_path / "images.zarr"), tmp_path / "p.zarr", client=client
        )
    expected = fitted.predict_proba(images)[:, 1]
    assert written.shape == (len(images),)
    assert written.dtype == np.float32
    np.testing.assert_allclose(written[:], expected, rtol=1e-5)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        predict_zarr(fitted, str(tmp_path / "images.zarr"), tmp_path / "p.zarr")
    again = predict_zarr(
        fitted,
        da.from_array(images, chunks=(30, 3, 16, 16)),
        tmp_path / "p.zarr",
        chunk_size=70,
        overwrite=True,
    )
    np.testing.assert_allclose(again[:], expected, rtol=1e-5)


def test_predict_proba_dask_validates_its_input(fitted, images):
    with pytest.raises(TypeError, match="X must be a dask array"):
        predict_proba_dask(fitted, images)
    with pytest.raises(ValueError, match="got 5 dimensions"):
        predict_proba_dask(fitted, da.zeros((4, 1, 3, 16, 16)))
    with pytest.raises(NotFittedError):
        predict_proba_dask(SourceOnlyClassifier(), da.from_array(images))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_wrapped_network_gives_the_same_gradients(fitted, tiny_shift):
    """With the CPU gloo backend, wrapping the feature extractor and the domain
    classifier in DDP by hand leaves the objective step unchanged, and the domain
    classifier's gradients flow."""
    dist = torch.distributed
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    Xs, ys, Xt, _ = tiny_shift
    xs, xt = torch.from_numpy(Xs[:32]), torch.from_numpy(Xt[:32])
    ys = torch.from_numpy(ys[:32]).long()
    objective = fitted._make_objective()
    criterion = torch.nn.CrossEntropyLoss()

    def gradients(module):
        module.train()
        module.zero_grad()
        torch.manual_seed(0)  # the same dropout masks
        objective(module, criterion, xs, ys, xt, progress=0.5)["loss"].backward()
        return {
            name.replace("module.", ""): p.grad.clone()
            for name, p in module.named_parameters()
            if p.grad is not None
        }

    plain = copy.deepcopy(fitted.module_)
    wrapped = copy.deepcopy(fitted.module_)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        DDP = torch.nn.parallel.DistributedDataParallel
        wrapped.extractor = DDP(wrapped.extractor)
        wrapped.domain_classifier = DDP(wrapped.domain_classifier)
        expected, got = gradients(plain), gradients(wrapped)
    finally:
        dist.destroy_process_group()
    assert set(got) == set(expected)
    assert any(name.startswith("domain_classifier.") for name in got)
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, msg=name)
