"""``compile=True``: training steps through ``torch.compile``, with an eager fallback.

Speed is measured by ``benchmarks/bench_fit.py --compile``, never asserted here.
"""

import pickle
import shutil

import numpy as np
import pytest
import torch
from torch import nn

import skdamerge._engine.compiled_steps as compiled_steps
from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge._engine.objectives import MMDObjective, estimator_class, method_names
from skdamerge.exceptions import CompileFallbackWarning, NonFiniteLossError

ESTIMATORS = [estimator_class(name) for name in method_names()]
FAST = {"max_epochs": 2, "batch_size": 64, "random_state": 0, "device": "cpu"}
HAS_CXX = any(shutil.which(name) for name in ("c++", "g++", "clang++"))


class _TracedNet(nn.Module):
    """A small CNN that records, per forward pass, whether torch.compile traced it."""

    feature_layer = "pool"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128, 2))
        self.traced: list[bool] = []

    def forward(self, x):
        self.traced.append(torch.compiler.is_compiling())
        return self.head(self.pool(torch.relu(self.norm(self.conv(x)))))


def _traced_net(clf):
    """The fitted copy of the user's network."""
    (net,) = [m for m in clf.module_.modules() if isinstance(m, _TracedNet)]
    return net


def _weights(clf):
    return {k: v.detach().clone() for k, v in clf.module_.state_dict().items()}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_compile_is_a_validated_constructor_parameter(Estimator, tiny_shift):
    assert Estimator().get_params()["compile"] is False
    assert "compile :" in Estimator.__doc__
    Xs, ys, _, _ = tiny_shift
    with pytest.raises(ValueError, match=r"'compile' parameter"):
        Estimator(compile="yes", max_epochs=1).fit(Xs, ys)


def test_compile_with_data_parallel_is_refused_before_training(tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    with pytest.raises(
        ValueError, match=r"compile=True cannot be combined.*compile=False"
    ):
        MMDClassifier(compile=True, data_parallel=True, **FAST).fit(Xs, ys, X_target=Xt)


class _FailingCompile:
    """Stands in for torch.compile on a machine where compilation fails.

    The wrapper runs the real forward pass once (updating the batch-norm
    statistics and drawing dropout masks, as a compiler failing late would),
    then raises.
    """

    def __init__(self):
        self.calls = 0

    def __call__(self, module, **kwargs):
        self.calls += 1
        test = self

        class Broken(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = module

            def forward(self, x):
                test.forward_calls = getattr(test, "forward_calls", 0) + 1
                self.inner(x)
                raise RuntimeError("C++ compile error: no compiler found")

            def __getattr__(self, name):
                if name == "inner":
                    return super().__getattr__(name)
                return getattr(self.inner, name)

        return Broken()


def test_failed_compilation_warns_and_gives_the_uncompiled_model(
    tiny_shift, monkeypatch
):
    Xs, ys, Xt, _ = tiny_shift
    reference = MMDClassifier(dropout=0.3, **FAST).fit(Xs, ys, X_target=Xt)
    failing = _FailingCompile()
    monkeypatch.setattr(compiled_steps.torch, "compile", failing)
    with pytest.warns(CompileFallbackWarning, match="no compiler found.*compile=False"):
        clf = MMDClassifier(dropout=0.3, compile=True, **FAST).fit(Xs, ys, X_target=Xt)
    assert failing.calls == 1 and failing.forward_calls == 1
    # The failed step's batch-norm update and dropout draws were undone: the
    # model is exactly the one compile=False trains.
    expected = _weights(reference)
    for name, value in _weights(clf).items():
        torch.testing.assert_close(value, expected[name], rtol=0, atol=0, msg=name)
    np.testing.assert_array_equal(
        clf.history_[:, "train_loss"], reference.history_[:, "train_loss"]
    )


def test_non_finite_loss_on_the_first_step_is_not_taken_for_a_compiler_failure(
    tiny_shift, monkeypatch
):
    Xs, ys, Xt, _ = tiny_shift

    class NaNObjective(MMDObjective):
        def __call__(self, *args):
            result = super().__call__(*args)
            result["loss"] = result["loss"] * float("nan")
            return result

    monkeypatch.setattr(MMDClassifier, "_make_objective", lambda self: NaNObjective())
    monkeypatch.setattr(compiled_steps.torch, "compile", lambda module, **kw: module)
    with pytest.raises(NonFiniteLossError, match="in epoch 1"):
        MMDClassifier(compile=True, **FAST).fit(Xs, ys, X_target=Xt)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CXX, reason="torch.compile on a CPU needs a C++ compiler")
def test_compiled_steps_train_the_model_the_eager_steps_train(tiny_shift):
    Xs, ys, Xt, yt = tiny_shift
    eager_net, compiled_net = _TracedNet(), _TracedNet()
    compiled_net.load_state_dict(eager_net.state_dict())
    eager = DANNClassifier(backbone=eager_net, **FAST).fit(Xs, ys, X_target=Xt)
    compiled = DANNClassifier(backbone=compiled_net, compile=True, **FAST)
    compiled.fit(Xs, ys, X_target=Xt)
    # The training steps were traced by torch.compile; validation, the target
    # monitor and prediction ran the plain module.
    traced = _traced_net(compiled).traced
    assert True in traced and False in traced
    assert True not in _traced_net(eager).traced
    # The same training up to floating-point rounding: the same losses epoch
    # by epoch and the same predictions. (Weights are not compared one by one:
    # the bias of a convolution followed by batch normalisation gets a zero
    # gradient up to rounding, which Adam's normalised step turns into drift
    # that does not change the output.)
    np.testing.assert_allclose(
        compiled.history_[:, "train_loss"], eager.history_[:, "train_loss"], rtol=1e-5
    )
    np.testing.assert_allclose(
        compiled.predict_proba(Xt), eager.predict_proba(Xt), atol=1e-3
    )
    # No compiled wrapper in the fitted model: the same state-dict names, and a
    # picklable estimator.
    assert compiled.module_.state_dict().keys() == eager.module_.state_dict().keys()
    restored = pickle.loads(pickle.dumps(compiled))
    np.testing.assert_array_equal(
        restored.predict_proba(Xt), compiled.predict_proba(Xt)
    )
    assert compiled.score(Xt, yt) == pytest.approx(eager.score(Xt, yt), abs=0.01)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CXX, reason="torch.compile on a CPU needs a C++ compiler")
def test_builtin_cnn_compiles_and_a_seed_still_fixes_the_model(tiny_shift, recwarn):
    Xs, ys, Xt, _ = tiny_shift
    # With dropout, whose masks the compiled network draws with the compiler's
    # own random numbers, seeded from torch's generator.
    fits = [
        SourceOnlyClassifier(compile=True, dropout=0.3, **FAST).fit(Xs, ys)
        for _ in range(2)
    ]
    assert not [w for w in recwarn if issubclass(w.category, CompileFallbackWarning)]
    assert fits[0].net_.compile_steps
    np.testing.assert_array_equal(fits[0].predict_proba(Xt), fits[1].predict_proba(Xt))
    assert all(not k.startswith("_orig_mod") for k in fits[0].module_.state_dict())
