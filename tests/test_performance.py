"""Fast data path and precision: bf16 autocast, the AMP code path, channels-last.

Speed itself is measured by the scripts in ``benchmarks/``, never asserted here.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from conftest import make_pair_shift
from torch import nn

import skdamerge._estimators as estimators_module
from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge._precision import Precision, resolve_precision

ESTIMATORS = [SourceOnlyClassifier, MMDClassifier, DANNClassifier]


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
    with pytest.raises(ValueError, match=r"precision=.*not supported.*'bf16'"):
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

    original_mmd = estimators_module.MMDObjective.transfer

    def record_mmd(self, module, source_features, target_features, progress):
        seen.setdefault("mmd", source_features.dtype)
        return original_mmd(self, module, source_features, target_features, progress)

    monkeypatch.setattr(estimators_module.MMDObjective, "transfer", record_mmd)
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
