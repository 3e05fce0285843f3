import numpy as np
import pytest
import torch

from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge._engine.net import DomainAdaptationNet

SETTINGS = dict(batch_size=16, random_state=3, lr=0.01)


def test_checkpoint_written_every_epoch_and_resume(tiny_shift, tmp_path, monkeypatch):
    Xs, ys, Xt, _ = tiny_shift
    path = tmp_path / "run.ckpt"
    original = DomainAdaptationNet.train_step_single

    def crash(self, batch, **fit_params):
        if self.steps_done_ == 3 * 11 + 2:  # a crash in the fourth epoch
            raise RuntimeError("power cut")
        return original(self, batch, **fit_params)

    monkeypatch.setattr(DomainAdaptationNet, "train_step_single", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        MMDClassifier(max_epochs=6, checkpoint_path=path, **SETTINGS).fit(
            Xs, ys, X_target=Xt
        )
    monkeypatch.undo()
    state = torch.load(path, weights_only=True)
    assert len(state["history"]) == 3  # the three completed epochs
    assert state["steps_done"] == 33
    resumed = MMDClassifier(
        max_epochs=6, checkpoint_path=path, resume_from=path, **SETTINGS
    ).fit(Xs, ys, X_target=Xt)
    assert resumed.n_epochs_ == 6
    np.testing.assert_array_equal(resumed.history_[:, "epoch"], [1, 2, 3, 4, 5, 6])
    # The learning-rate cycle goes on where it stopped (no restart at lr / 10).
    lrs = [b["lr"] for row in resumed.history_ for b in row["batches"] if "lr" in b]
    uninterrupted = MMDClassifier(max_epochs=6, **SETTINGS).fit(Xs, ys, X_target=Xt)
    expected = [
        b["lr"] for row in uninterrupted.history_ for b in row["batches"] if "lr" in b
    ]
    np.testing.assert_allclose(lrs, expected)
    # Equivalent training: as good on the source as the uninterrupted run.
    assert abs(resumed.score(Xs, ys) - uninterrupted.score(Xs, ys)) < 0.15
    assert len(torch.load(path, weights_only=True)["history"]) == 6


def test_resume_rejects_other_models_and_corrupt_files(tiny_shift, tmp_path):
    Xs, ys, Xt, _ = tiny_shift
    path = tmp_path / "run.ckpt"
    MMDClassifier(max_epochs=1, checkpoint_path=path, **SETTINGS).fit(
        Xs, ys, X_target=Xt
    )
    with pytest.raises(ValueError, match="estimator='MMDClassifier'"):
        DANNClassifier(max_epochs=2, resume_from=path, **SETTINGS).fit(
            Xs, ys, X_target=Xt
        )
    with pytest.raises(ValueError, match="backbone='auto'"):
        MMDClassifier(
            max_epochs=2, resume_from=path, backbone="resnet18", **SETTINGS
        ).fit(Xs, ys, X_target=Xt)
    with pytest.raises(ValueError, match="input_shape"):
        MMDClassifier(max_epochs=2, resume_from=path, **SETTINGS).fit(
            Xs[:, :2], ys, X_target=Xt[:, :2]
        )
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupted"):
        MMDClassifier(max_epochs=2, resume_from=corrupt, **SETTINGS).fit(Xs, ys)
    weights = tmp_path / "weights.pt"
    SourceOnlyClassifier(max_epochs=1, **SETTINGS).fit(Xs, ys).save_weights(weights)
    with pytest.raises(ValueError, match="not a skdamerge training checkpoint"):
        SourceOnlyClassifier(max_epochs=2, resume_from=weights, **SETTINGS).fit(Xs, ys)
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        MMDClassifier(resume_from=tmp_path / "missing.ckpt", **SETTINGS).fit(Xs, ys)
