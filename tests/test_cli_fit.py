"""``skdamerge fit``: inputs, label alignment, seeds, options and errors."""

import numpy as np
import pytest
import torch
from cli_support import assert_one_line_error, make_images, run, to_png_pixels

from skdamerge.cli._model import load_model
from skdamerge.pipeline import DomainAdaptationPipeline


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arrays")
    Xs, ys = make_images(48, seed=0)
    Xt, _ = make_images(32, seed=1, noise=0.15)
    np.save(folder / "Xs.npy", Xs)
    np.save(folder / "ys.npy", ys)
    np.save(folder / "Xt.npy", Xt)
    return folder


@pytest.fixture
def fit_inputs(monkeypatch):
    """Record the images and labels that ``fit`` passes to the pipeline."""
    calls = []
    original = DomainAdaptationPipeline.fit

    def recording_fit(self, X, y=None, X_target=None, **params):
        calls.append((np.array(X), np.array(y)))
        return original(self, X, y, X_target=X_target, **params)

    monkeypatch.setattr(DomainAdaptationPipeline, "fit", recording_fit)
    return calls


# Object names whose sorted order is not the order in which they are written.
NAMES = [f"obj{(7 * i) % 24:02d}" for i in range(24)]


def write_source(kind, folder, X):
    """Write the images ``X`` (in the order of NAMES) as ``kind``; return the path.

    Returns the path and the order of NAMES in which the command reads them.
    """
    folder.mkdir()
    if kind == "fits cube":
        fits = pytest.importorskip("astropy.io.fits")
        fits.writeto(folder / "cube.fits", X)
        return folder / "cube.fits", np.arange(len(X))
    if kind == "fits folder":
        fits = pytest.importorskip("astropy.io.fits")
        for name, image in zip(NAMES, X, strict=True):
            fits.writeto(folder / f"{name}.fits", image)
    else:
        Image = pytest.importorskip("PIL.Image")
        for name, image in zip(NAMES, to_png_pixels(X), strict=True):
            Image.fromarray(image).save(folder / f"{name}.png")
    return folder, np.argsort(NAMES)


def as_cutouts(X):
    """``X`` enlarged to the 75 x 75 pixels at which source cutouts are read."""
    return np.repeat(np.repeat(X, 5, axis=2), 5, axis=3)[:, :, :75, :75]


@pytest.mark.parametrize("kind", ["fits folder", "fits cube", "image folder"])
def test_fit_source_labels_follow_sorted_file_names(capsys, tmp_path, fit_inputs, kind):
    X, y = make_images(24, seed=5)
    if kind == "image folder":
        X = as_cutouts(X)
    source, order = write_source(kind, tmp_path / "source", X)
    # Labels in the order in which the command reads the images.
    np.save(tmp_path / "labels.npy", y[order])
    model = tmp_path / "m.skdm"
    status, out, err = run(
        capsys, "fit", "--source", source, "--labels", tmp_path / "labels.npy",
        "--method", "source-only", "--param", "max_epochs=1", "--device", "cpu",
        "--quiet", "--model", model,
    )  # fmt: skip
    assert status == 0, err
    shape = (3, 75, 75) if kind == "image folder" else (3, 16, 16)
    assert f"training SourceOnlyClassifier on 24 source images {shape}" in err
    ((X_used, y_used),) = fit_inputs
    np.testing.assert_array_equal(y_used, y[order])
    # Each image went to training with the label of its file.
    if kind == "image folder":
        expected = to_png_pixels(X).transpose(0, 3, 1, 2) / np.float32(255)
    else:
        expected = X
    np.testing.assert_array_equal(X_used, expected[order])
    assert load_model(model)["n_source"] == 24


def _fit_and_predict(capsys, folder, tmp_path, seed, name):
    model = tmp_path / f"{name}.skdm"
    status, _, err = run(
        capsys, "fit", "--source", folder / "Xs.npy", "--labels",
        folder / "ys.npy", "--target", folder / "Xt.npy", "--method", "mmd",
        "--param", "max_epochs=2", "--param", "batch_size=16", "--device", "cpu",
        "--threads", "1", "--quiet", "--seed", seed, "--model", model,
    )  # fmt: skip
    assert status == 0, err
    pipeline = load_model(model)["pipeline"]
    assert pipeline[-1].random_state == seed
    weights = pipeline[-1].module_.state_dict()
    return pipeline.predict_proba(np.load(folder / "Xt.npy"))[:, 1], weights


def test_fit_seed_makes_training_repeatable(capsys, small_files, tmp_path):
    p1, w1 = _fit_and_predict(capsys, small_files, tmp_path, 3, "first")
    p2, w2 = _fit_and_predict(capsys, small_files, tmp_path, 3, "again")
    p3, w3 = _fit_and_predict(capsys, small_files, tmp_path, 4, "other")
    np.testing.assert_array_equal(p1, p2)
    assert all(torch.equal(w1[key], w2[key]) for key in w1)
    assert not np.allclose(p1, p3)
    assert not all(torch.equal(w1[key], w3[key]) for key in w1)


def test_fit_source_only_without_target(capsys, small_files, tmp_path):
    model = tmp_path / "noda.skdm"
    status, out, err = run(
        capsys, "fit", "--source", small_files / "Xs.npy", "--labels",
        small_files / "ys.npy", "--method", "source-only", "--param",
        "max_epochs=1", "--device", "cpu", "--quiet", "--model", model,
    )  # fmt: skip
    assert status == 0, err
    assert "epoch" not in err  # --quiet: no progress bar
    assert "trained for 1 epochs" in out
    model = load_model(model)
    assert (model["method"], model["n_target"]) == ("source-only", 0)
    assert model["pipeline"][-1].n_target_samples_ == 0


def test_fit_shows_a_progress_line_per_epoch(capsys, small_files, tmp_path):
    status, out, err = run(
        capsys, "fit", "--source", small_files / "Xs.npy", "--labels",
        small_files / "ys.npy", "--target", small_files / "Xt.npy", "--method",
        "dann", "--param", "max_epochs=2", "--param", "patience=5", "--device",
        "cpu", "--model", tmp_path / "dann.skdm",
    )  # fmt: skip
    assert status == 0, err
    lines = [line for line in err.splitlines() if line.startswith("dann")]
    assert [line.split("epoch")[1].split()[0] for line in lines] == ["1/2", "2/2"]
    assert all("dom.acc src" in line for line in lines)


# -- errors -------------------------------------------------------------------------
def test_fit_unknown_param_lists_valid_names(capsys, small_files, tmp_path):
    status, _, err = run(
        capsys, "fit", "--source", small_files / "Xs.npy", "--labels",
        small_files / "ys.npy", "--target", small_files / "Xt.npy", "--method",
        "dann", "--param", "max_epoch=3", "--model", tmp_path / "m.skdm",
    )  # fmt: skip
    assert_one_line_error(
        status, err, "max_epoch", "valid names", "max_epochs", "domain_lr_multiplier"
    )
    assert not (tmp_path / "m.skdm").exists()


@pytest.mark.parametrize(
    "change, fragments",
    [
        ({"--param": "max_epochs"}, ["name=value"]),
        ({"--source": "missing.npy"}, ["missing.npy", "does not exist"]),
        ({"--labels": "Xt.npy"}, ["labels", "Xt.npy"]),
        ({"--target": "missing_dir"}, ["missing_dir", "does not exist"]),
        ({"--param": "backbone=vgg"}, ["vgg"]),
    ],
)
def test_fit_errors_are_one_line(capsys, small_files, tmp_path, change, fragments):
    options = {
        "--source": "Xs.npy",
        "--labels": "ys.npy",
        "--target": "Xt.npy",
        "--param": "max_epochs=1",
        **change,
    }
    args = ["fit", "--method", "mmd", "--device", "cpu"]
    args += ["--model", str(tmp_path / "m.skdm")]
    for flag, value in options.items():
        args += [flag, value if flag == "--param" else str(small_files / value)]
    status, _, err = run(capsys, *args)
    assert_one_line_error(status, err, *fragments)
    assert not (tmp_path / "m.skdm").exists()


def test_fit_one_class_labels(capsys, small_files, tmp_path):
    np.save(tmp_path / "ones.npy", np.ones(48, dtype=int))
    status, _, err = run(
        capsys, "fit", "--source", small_files / "Xs.npy", "--labels",
        tmp_path / "ones.npy", "--method", "source-only", "--model",
        tmp_path / "m.skdm",
    )  # fmt: skip
    assert_one_line_error(status, err, "one class")


def test_fit_dann_without_target(capsys, small_files, tmp_path):
    status, _, err = run(
        capsys, "fit", "--source", small_files / "Xs.npy", "--labels",
        small_files / "ys.npy", "--method", "dann", "--model", tmp_path / "m.skdm",
    )  # fmt: skip
    assert_one_line_error(status, err, "--target")
