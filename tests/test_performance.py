"""Fast data path, precision and out-of-core data.

bf16 autocast, the AMP code path, channels-last; training on memory maps and
prediction over memory maps, HDF5, zarr and dask arrays without loading them.

Speed itself is measured by the scripts in ``benchmarks/``, never asserted here.
"""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from conftest import make_pair_shift
from torch import nn

import skdamerge._estimators._base as estimators_module
import skdamerge._outofcore as outofcore
from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge._engine.net import DomainAdaptationNet
from skdamerge._engine.objectives import MMDObjective, estimator_class, method_names
from skdamerge._engine.precision import (
    BF16_CPU_FEATURES,
    Precision,
    cpu_capabilities,
    cpu_supports_bf16,
    resolve_precision,
)
from skdamerge._outofcore import LazyImages, _file_layout

# Every registered method: a new one is checked here without an edit.
ESTIMATORS = [estimator_class(name) for name in method_names()]


@pytest.fixture(scope="module")
def small_shift():
    return make_pair_shift(256, size=32, noise=0.2, seed=5)


def _no_emulation_warning():
    """bf16 works on every CPU; where it is emulated a warning says it is slow."""
    warnings.filterwarnings("ignore", message="precision='bf16' on a CPU without")


# -- argument validation ---------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_precision_is_a_constructor_parameter(Estimator):
    assert Estimator().get_params()["precision"] == "fp32"
    assert Estimator(precision="bf16").get_params()["precision"] == "bf16"
    assert "precision :" in Estimator.__doc__


@pytest.mark.parametrize("precision", ["half", "float16", None, 16])
def test_unknown_precision_names_the_argument(precision, tiny_shift):
    Xs, ys, _, _ = tiny_shift
    clf = SourceOnlyClassifier(max_epochs=1, precision=precision, device="cpu")
    with pytest.raises(ValueError, match=r"'precision' parameter.*'bf16'"):
        clf.fit(Xs, ys)


@pytest.mark.parametrize("precision", ["amp", "fp16"])
def test_float16_amp_on_cpu_is_refused(precision, tiny_shift):
    Xs, ys, _, _ = tiny_shift
    clf = MMDClassifier(max_epochs=1, precision=precision, device="cpu")
    with pytest.raises(ValueError, match=rf"precision='{precision}'.*needs a CUDA"):
        clf.fit(Xs, ys)


def test_resolve_precision_policies():
    assert resolve_precision("fp32", "cpu").dtype is None
    with warnings.catch_warnings():
        _no_emulation_warning()
        bf16 = resolve_precision("bf16", "cpu")
    assert bf16.dtype is torch.bfloat16 and not bf16.scale_gradients
    assert bf16.make_grad_scaler() is None
    cpu_fp16 = Precision("amp", "cpu", torch.float16, scale_gradients=True)
    assert cpu_fp16.autocast().fast_dtype is torch.float16
    assert isinstance(cpu_fp16.make_grad_scaler(), torch.amp.GradScaler)


def test_cpu_capabilities_come_from_torchs_public_call():
    # The public call and the feature names the bf16 check relies on; this fails
    # when torch renames or removes them.
    assert callable(getattr(torch.cpu, "get_capabilities", None))
    capabilities = cpu_capabilities()
    assert dict(capabilities) == dict(torch.cpu.get_capabilities())
    if capabilities.get("architecture") in ("x86", "x86_64"):
        assert set(BF16_CPU_FEATURES) <= set(capabilities)
    assert cpu_supports_bf16() == any(
        bool(capabilities.get(name)) for name in BF16_CPU_FEATURES
    )


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ({"avx512_bf16": True, "amx_tile": False}, True),
        ({"avx512_bf16": False, "amx_tile": True}, True),
        ({"avx512_bf16": False, "amx_tile": False, "avx2": True}, False),
        ({"architecture": "arm64", "bf16": True}, False),
    ],
)
def test_cpu_supports_bf16_reads_the_bf16_features(monkeypatch, features, expected):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: features)
    assert cpu_supports_bf16() is expected
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolve_precision("bf16", "cpu")
    emulated = [w for w in caught if "emulated" in str(w.message)]
    assert len(emulated) == (0 if expected else 1)


# -- bf16 ------------------------------------------------------------------------
def test_bf16_target_accuracy_within_seed_noise(small_shift):
    """bf16 autocast trains as well as fp32: paired by seed, and across seeds."""
    Xs, ys, Xt, yt = small_shift
    accuracy = {"fp32": [], "bf16": []}
    with warnings.catch_warnings():
        _no_emulation_warning()
        for precision in accuracy:
            for seed in range(3):
                clf = MMDClassifier(
                    max_epochs=10,
                    batch_size=32,
                    random_state=seed,
                    precision=precision,
                    device="cpu",
                ).fit(Xs, ys, X_target=Xt)
                proba = clf.predict_proba(Xt)
                assert proba.dtype == np.float64
                assert np.isfinite(proba).all()
                np.testing.assert_allclose(proba.sum(axis=1), 1.0)
                assert np.isfinite(clf.transform(Xt[:10])).all()
                accuracy[precision].append(clf.score(Xt, yt))
    fp32, bf16 = np.array(accuracy["fp32"]), np.array(accuracy["bf16"])
    # the method works at all here, so the comparison means something
    assert fp32.max() > 0.8
    assert abs(bf16.mean() - fp32.mean()) <= fp32.std() + 0.02
    assert np.abs(bf16 - fp32).max() <= 0.1


def test_bf16_runs_the_network_in_bfloat16_and_the_losses_in_float32(
    tiny_shift, monkeypatch
):
    """Under bf16 the convolutions see bfloat16; the MMD gets float32 features."""
    Xs, ys, Xt, _ = tiny_shift
    seen = {}

    def record_conv(module, inputs, output):
        seen.setdefault("conv", output.dtype)

    original_mmd = MMDObjective.transfer

    def record_mmd(self, module, source, target, progress):
        seen.setdefault("mmd", source.features.dtype)
        return original_mmd(self, module, source, target, progress)

    monkeypatch.setattr(MMDObjective, "transfer", record_mmd)
    clf = MMDClassifier(max_epochs=1, precision="bf16", device="cpu", random_state=0)
    with warnings.catch_warnings():
        _no_emulation_warning()
        clf.fit(Xs, ys, X_target=Xt)
    assert seen["mmd"] is torch.float32
    conv = clf.module_.extractor.backbone.features[0]
    handle = conv.register_forward_hook(record_conv)
    try:
        proba = clf.predict_proba(Xt)
    finally:
        handle.remove()
    assert seen["conv"] is torch.bfloat16
    assert np.isfinite(proba).all()
    # the weights stay float32
    assert all(p.dtype is torch.float32 for p in clf.module_.parameters())


def _fit_recording_dtypes(precision, tiny_shift, monkeypatch):
    """Fit an MMD model; return it and the dtypes of the conv and linear outputs.

    Only the forward passes of the training steps (inside the objective) are
    recorded, not the shape probe that builds the network.
    """
    Xs, ys, Xt, _ = tiny_shift
    dtypes = set()
    in_step = []
    objective_call = MMDObjective.__call__

    def step(self, *args, **kwargs):
        in_step.append(True)
        try:
            return objective_call(self, *args, **kwargs)
        finally:
            in_step.pop()

    def record(module, inputs, output):
        if in_step and isinstance(module, (nn.Conv2d, nn.Linear)):
            dtypes.add(output.dtype)

    monkeypatch.setattr(MMDObjective, "__call__", step)
    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        with warnings.catch_warnings():
            _no_emulation_warning()
            clf = MMDClassifier(
                max_epochs=1, precision=precision, device="cpu", random_state=0
            ).fit(Xs, ys, X_target=Xt)
    finally:
        handle.remove()
    return clf, dtypes


def test_bf16_autocast_is_active_in_the_training_forward_pass(tiny_shift, monkeypatch):
    _, bf16 = _fit_recording_dtypes("bf16", tiny_shift, monkeypatch)
    _, fp32 = _fit_recording_dtypes("fp32", tiny_shift, monkeypatch)
    assert bf16 == {torch.bfloat16}
    assert fp32 == {torch.float32}


def test_bf16_inference_is_close_to_fp32_but_not_identical(tiny_shift, monkeypatch):
    """The same weights under bf16 autocast: bfloat16 rounding, nothing more."""
    _, _, Xt, _ = tiny_shift
    clf, _ = _fit_recording_dtypes("fp32", tiny_shift, monkeypatch)
    fp32 = clf.predict_proba(Xt)
    clf.net_.precision = Precision("bf16", "cpu", torch.bfloat16)
    bf16 = clf.predict_proba(Xt)
    difference = np.abs(bf16 - fp32)[:, 1]
    # bfloat16 keeps 8 significant bits (relative rounding 2**-9 ~ 0.002 per
    # operation): the probabilities move, by far less than a decision margin
    assert difference.max() > 0
    assert difference.max() < 0.05
    assert np.median(difference) < 0.01
    assert np.mean((bf16[:, 1] > 0.5) == (fp32[:, 1] > 0.5)) > 0.95


def test_bf16_model_pickles(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with warnings.catch_warnings():
        _no_emulation_warning()
        clf = DANNClassifier(max_epochs=1, precision="bf16", random_state=0)
        clf.fit(Xs, ys, X_target=Xt)
        restored = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(restored.predict_proba(Xt), clf.predict_proba(Xt))


# -- the float16 AMP path, exercised on the CPU ------------------------------------
@pytest.mark.parametrize("Estimator", [SourceOnlyClassifier, DANNClassifier])
def test_amp_gradient_scaler_path_runs_on_cpu(Estimator, monkeypatch):
    """The CUDA AMP code (float16 autocast, GradScaler, scaled optimizer step) with
    the device type set to the CPU: only the device differs on a GPU."""
    Xs, ys, Xt, yt = make_pair_shift(96, size=16, seed=4)
    policy = Precision("amp", "cpu", torch.float16, scale_gradients=True)
    monkeypatch.setattr(estimators_module, "resolve_precision", lambda p, d: policy)
    clf = Estimator(
        max_epochs=2, batch_size=32, validation_fraction=None, random_state=0
    )
    with warnings.catch_warnings():
        # a first step skipped for overflow makes the scheduler warn about order
        warnings.filterwarnings("ignore", message="Detected call of")
        clf.fit(Xs, ys, X_target=Xt)
    scaler = clf.net_.grad_scaler_
    assert isinstance(scaler, torch.amp.GradScaler)
    assert np.isfinite(scaler.get_scale())
    # the scaler was updated after the steps: each step either grew the count of
    # good steps or, on overflow, halved the scale
    steps = 2 * 3
    tracker = scaler._get_growth_tracker()
    assert tracker == steps or scaler.get_scale() < 2.0**16
    assert np.isfinite(clf.predict_proba(Xt)).all()
    assert np.isfinite(clf.history_[:, "train_loss"]).all()


# -- channels-last ----------------------------------------------------------------
def test_builtin_cnn_trains_channels_last_and_predicts_the_same(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    clf = SourceOnlyClassifier(max_epochs=1, random_state=0, device="cpu")
    clf.fit(Xs, ys)
    assert clf.net_.channels_last
    conv = clf.module_.extractor.backbone.features[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    module = clf.module_.eval()
    with torch.inference_mode():
        logits = module(torch.from_numpy(Xt))[1]
    expected = torch.softmax(logits.double(), dim=1).numpy()
    np.testing.assert_allclose(clf.predict_proba(Xt), expected, atol=1e-5)


class _ViewNet(nn.Module):
    """A user CNN that flattens with ``view``, which channels-last would break."""

    feature_layer = "conv"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4 * 16 * 16, 2)

    def forward(self, x):
        z = torch.relu(self.conv(x))
        return self.head(z.view(z.shape[0], -1))


def test_user_module_keeps_the_default_memory_format(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    clf = SourceOnlyClassifier(backbone=_ViewNet(), max_epochs=1, random_state=0)
    clf.fit(Xs, ys)
    assert not clf.net_.channels_last
    assert clf.predict_proba(Xt).shape == (len(Xt), 2)


# -- out-of-core: memory maps, HDF5, zarr ----------------------------------------
def _save_memmap(path, X):
    np.save(path, X)
    return np.load(path, mmap_mode="r")


def test_lazy_images_reads_rows_like_the_array(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2, 4, 3)).astype(np.float32)
    memmap = _save_memmap(tmp_path / "x.npy", X)
    offset = np.memmap(tmp_path / "x.npy", dtype=np.float32, mode="r", offset=128)
    views = {
        "memmap": (memmap, X),
        "slice": (memmap[7:40], X[7:40]),
        "strided": (memmap[1::3], X[1::3]),
        "fortran": (
            _save_memmap(tmp_path / "f.npy", np.asfortranarray(X)),
            X,
        ),
        "float64": (_save_memmap(tmp_path / "d.npy", X.astype(np.float64)), X),
        "flat offset": (offset[: 50 * 24].reshape(50, 24), X.reshape(50, 24)),
        "copy-on-write": (np.load(tmp_path / "x.npy", mmap_mode="c"), X),
    }
    rows = np.array([5, 1, 5, 3, 2, 9, 8, 16])
    for name, (source, expected) in views.items():
        images = LazyImages(source)
        assert images.shape == expected.shape, name
        np.testing.assert_array_equal(images[rows], expected[rows], err_msg=name)
        np.testing.assert_array_equal(images[3:11], expected[3:11], err_msg=name)
        np.testing.assert_array_equal(images[4], expected[4], err_msg=name)
        subset = images.subset(rows[::-1])
        np.testing.assert_array_equal(subset[1:4], expected[rows[::-1]][1:4])
        assert images[rows].dtype == np.float32
    assert _file_layout(memmap) is not None
    assert _file_layout(memmap[1::3]) is not None  # a read per row
    for name in ("fortran", "copy-on-write"):  # read through the map
        assert _file_layout(views[name][0]) is None


@pytest.mark.skipif(
    not hasattr(__import__("mmap"), "MADV_DONTNEED"), reason="needs madvise"
)
def test_reading_a_memmap_does_not_grow_the_resident_memory(tmp_path):
    """Random rows are read with file reads, not through the map."""

    def mapped_file_kib():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssFile:"):
                    return int(line.split()[1])
        pytest.skip("no RssFile in /proc/self/status")

    X = np.zeros((2000, 3, 32, 32), dtype=np.float32)  # 24 MiB
    memmap = _save_memmap(tmp_path / "x.npy", X)
    images = LazyImages(memmap)
    before = mapped_file_kib()
    rng = np.random.default_rng(0)
    for _ in range(20):
        images[rng.choice(len(X), 128, replace=False)]
    assert mapped_file_kib() - before < 4 * 1024


@pytest.fixture(scope="module")
def memmap_shift(tmp_path_factory):
    """3x32x32 images on disk: 2,000 source and 600 target images (30 MiB)."""
    directory = tmp_path_factory.mktemp("memmap")
    Xs, ys, Xt, yt = make_pair_shift(2000, size=32, seed=6)
    Xt, yt = Xt[:600], yt[:600]
    return (
        _save_memmap(directory / "source.npy", Xs),
        ys,
        _save_memmap(directory / "target.npy", Xt),
        yt,
    )


def test_fit_on_a_memmap_keeps_the_data_on_disk(memmap_shift, monkeypatch):
    """The training and validation sets inside the net are views of the files, and
    the fit allocates a small fraction of the data; the model is the same as with
    the data in memory."""
    Xs, ys, Xt, yt = memmap_shift
    captured = {}
    original = DomainAdaptationNet.get_split_datasets

    def capture(self, X, y=None, **fit_params):
        captured["train"], captured["valid"] = original(self, X, y, **fit_params)
        return captured["train"], captured["valid"]

    monkeypatch.setattr(DomainAdaptationNet, "get_split_datasets", capture)
    monkeypatch.setattr(outofcore, "CHUNK_BYTES", 2**20)
    params = dict(max_epochs=1, batch_size=128, random_state=0, device="cpu")
    tracemalloc.start()
    try:
        on_disk = MMDClassifier(**params).fit(Xs, ys, X_target=Xt)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    train, valid = captured["train"], captured["valid"]
    for view, source in (
        (train.X_source, Xs),
        (train.X_target, Xt),
        (valid.X, Xs),
    ):
        assert isinstance(view, LazyImages)
        assert view.source is source
        assert isinstance(view.source, np.memmap)
    assert len(train.X_source) + len(valid.X) == len(Xs)
    data_bytes = Xs.nbytes + Xt.nbytes
    assert peak < 0.25 * data_bytes, (peak, data_bytes)

    in_memory = MMDClassifier(**params).fit(np.asarray(Xs), ys, X_target=np.asarray(Xt))
    np.testing.assert_array_equal(
        on_disk.predict_proba(Xt), in_memory.predict_proba(np.asarray(Xt))
    )


@pytest.fixture(scope="module")
def fitted(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    return SourceOnlyClassifier(max_epochs=1, random_state=0).fit(Xs, ys)


def test_predict_proba_streams_over_memmap_h5py_zarr_and_dask(
    fitted, tiny_shift, tmp_path
):
    h5py = pytest.importorskip("h5py")
    zarr = pytest.importorskip("zarr")
    da = pytest.importorskip("dask.array")
    _, _, Xt, _ = tiny_shift
    expected = fitted.predict_proba(Xt)
    with h5py.File(tmp_path / "x.h5", "w") as file:
        file.create_dataset("X", data=Xt, chunks=(32, *Xt.shape[1:]))
    store = zarr.open_array(
        str(tmp_path / "x.zarr"),
        mode="w",
        shape=Xt.shape,
        chunks=(64, *Xt.shape[1:]),
        dtype="f4",
    )
    store[:] = Xt
    with h5py.File(tmp_path / "x.h5", "r") as file:
        sources = {
            "memmap": _save_memmap(tmp_path / "x.npy", Xt),
            "h5py": file["X"],
            "zarr": zarr.open_array(str(tmp_path / "x.zarr"), mode="r"),
            "dask": da.from_array(Xt, chunks=(50, *Xt.shape[1:])),
        }
        for name, source in sources.items():
            np.testing.assert_allclose(
                fitted.predict_proba(source), expected, rtol=1e-6, err_msg=name
            )
        assert fitted.predict(file["X"]).shape == (len(Xt),)


def test_single_band_memmap_gets_a_channel_axis(tmp_path):
    Xs, ys, _, _ = make_pair_shift(120, size=16, seed=2)
    single = Xs[:, 0]
    clf = SourceOnlyClassifier(max_epochs=1, random_state=0).fit(single, ys)
    memmap = _save_memmap(tmp_path / "single.npy", single)
    np.testing.assert_allclose(
        clf.predict_proba(memmap), clf.predict_proba(single), rtol=1e-6
    )


@pytest.mark.parametrize("dtype", [np.float64, np.uint8])
def test_memmap_of_another_dtype_is_converted_per_batch(dtype, tmp_path):
    Xs, ys, _, _ = make_pair_shift(120, size=16, seed=2)
    X = (Xs * 100).clip(0, 255).astype(dtype)
    memmap = _save_memmap(tmp_path / "x.npy", X)
    params = dict(max_epochs=1, random_state=0)
    on_disk = SourceOnlyClassifier(**params).fit(memmap, ys)
    in_memory = SourceOnlyClassifier(**params).fit(X.astype(np.float32), ys)
    np.testing.assert_array_equal(
        on_disk.predict_proba(memmap), in_memory.predict_proba(X)
    )


def test_non_finite_values_on_disk_are_reported(fitted, tiny_shift, tmp_path):
    Xs, ys, Xt, _ = tiny_shift
    bad = Xs.copy()
    bad[150, 1, 2, 3] = np.nan
    memmap = _save_memmap(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        SourceOnlyClassifier(max_epochs=1).fit(memmap, ys)
    with pytest.raises(ValueError, match="Input X_target contains NaN"):
        MMDClassifier(max_epochs=1).fit(Xs, ys, X_target=memmap)
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        fitted.predict_proba(memmap)


def test_invalid_arrays_on_disk_name_the_argument(tmp_path, tiny_shift):
    Xs, ys, _, _ = tiny_shift
    channels_last = _save_memmap(tmp_path / "cl.npy", np.moveaxis(Xs, 1, -1))
    with pytest.raises(ValueError, match="X looks channels-last"):
        SourceOnlyClassifier(max_epochs=1).fit(channels_last, ys)
    complex_ = _save_memmap(tmp_path / "c.npy", Xs.astype(np.complex64))
    with pytest.raises(ValueError, match="X has dtype complex64"):
        SourceOnlyClassifier(max_epochs=1).fit(complex_, ys)
    five_d = _save_memmap(tmp_path / "5d.npy", Xs[:, None])
    with pytest.raises(ValueError, match="got 5 dimensions"):
        SourceOnlyClassifier(max_epochs=1).fit(five_d, ys)


def test_fit_streams_from_hdf5_and_zarr(tmp_path):
    h5py = pytest.importorskip("h5py")
    zarr = pytest.importorskip("zarr")
    Xs, ys, Xt, _ = make_pair_shift(200, size=16, seed=3)
    with h5py.File(tmp_path / "source.h5", "w") as file:
        file.create_dataset("X", data=Xs, chunks=(32, *Xs.shape[1:]))
    target = zarr.open_array(
        str(tmp_path / "target.zarr"),
        mode="w",
        shape=Xt.shape,
        chunks=(64, *Xt.shape[1:]),
        dtype="f4",
    )
    target[:] = Xt
    params = dict(max_epochs=2, random_state=0)
    in_memory = MMDClassifier(**params).fit(Xs, ys, X_target=Xt)
    with h5py.File(tmp_path / "source.h5", "r") as file:
        on_disk = MMDClassifier(**params).fit(file["X"], ys, X_target=target)
    np.testing.assert_array_equal(
        on_disk.predict_proba(Xt), in_memory.predict_proba(Xt)
    )
