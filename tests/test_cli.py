"""The ``skdamerge`` command: reproduce, fit, predict, help and error handling."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skdamerge.cli import main
from skdamerge.cli._fit import parse_params
from skdamerge.cli._io import write_atomic
from skdamerge.cli._model import FORMAT, load_model

SIM2SIM_METHODS = ["noDA", "MMD", "MMD+F", "ADA", "ADA+F"]
SIM2REAL_METHODS = ["noDA", "MMD", "MMD+TL"]
TABLE_METRICS = ["auc", "accuracy", "precision", "recall", "f1", "brier"]
FIGURES = ["metrics.png", "score_histograms.png", "latent_space.png", "gradcam.png"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    """Run the command in-process; return (exit status, stdout, stderr)."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, *fragments):
    """A non-zero status and the error as the one last line of stderr."""
    assert status != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    errors = [line for line in lines if "error:" in line]
    assert errors == lines[-1:], err
    for fragment in fragments:
        assert fragment in lines[-1]


# -- help ---------------------------------------------------------------------------
def test_python_m_help():
    result = subprocess.run(
        [sys.executable, "-m", "skdamerge", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for word in ("reproduce", "fit", "predict", "examples:"):
        assert word in result.stdout


@pytest.mark.parametrize("command", ["reproduce", "fit", "predict"])
def test_subcommand_help_shows_an_example(capsys, command):
    status, out, _ = run(capsys, command, "--help")
    assert status == 0
    assert "examples:" in out
    examples = out.split("examples:", 1)[1]
    assert f"skdamerge {command} --" in examples


def test_no_command_prints_help(capsys):
    status, out, _ = run(capsys)
    assert status == 2
    assert "reproduce" in out


# -- reproduce ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim2sim_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim2sim")
    status = main(
        ["reproduce", "--profile", "tiny", "--out", str(out), "--device", "cpu"]
    )
    return status, out


def test_reproduce_tiny_writes_table_and_figures(sim2sim_run):
    status, out = sim2sim_run
    assert status == 0
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "sim2sim"
    assert results["profile"] == "tiny"
    assert list(results["methods"]) == SIM2SIM_METHODS
    for name, entry in results["methods"].items():
        for domain in ("source", "target"):
            for metric in TABLE_METRICS:
                value = entry[domain][metric]
                assert 0.0 <= value <= 1.0, (name, domain, metric, value)
        assert entry["n_epochs"] >= 1
    # Table A2 values reached the estimators.
    assert results["methods"]["ADA+F"]["params"]["domain_lr_multiplier"] == 0.01
    # MMD+F: the documented deviation for the summed Fisher loss.
    assert results["methods"]["MMD+F"]["params"]["entropy_weight"] == 0.01
    assert results["methods"]["MMD+F"]["params"]["fisher_intra_weight"] == 0.001
    assert results["methods"]["noDA"]["params"]["weight_decay"] == 0.01

    csv_rows = list(csv.reader((out / "results.csv").open()))
    assert csv_rows[0][0] == "quantity"
    for name in SIM2SIM_METHODS:
        assert f"{name} source" in csv_rows[0] and f"{name} target" in csv_rows[0]
    accuracy = next(row for row in csv_rows if row[0] == "Accuracy")
    assert all(0.0 <= float(v) <= 1.0 for v in accuracy[1:])
    markdown = (out / "results.md").read_text()
    assert "| AUC |" in markdown and "| Brier score |" in markdown

    for name in [*FIGURES, "training_mmd_f.png"]:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, name
    assert set(results["figures"]) >= set(FIGURES)
    assert (out / "weights" / "sim2sim_mmd_deepmerge.pt").stat().st_size > 0
    # Only complete files: no temporary files are left behind.
    assert not list(out.glob(".*.tmp"))


def test_reproduce_missing_pretrained_weights(capsys, tmp_path):
    status, out, err = run(
        capsys,
        "reproduce", "--profile", "tiny", "--out", str(tmp_path),
        "--experiment", "sim2real", "--device", "cpu", "--seed", "3",
        "--pretrained", str(tmp_path / "missing.pt"),
    )  # fmt: skip
    assert_one_line_error(status, err, "missing.pt")


def write_published_files(folder, n, seed):
    """Small files named like the DeepMerge II sim2real data on Zenodo."""
    from skdamerge.datasets._deepmerge_files import DEEPMERGE_FILES

    rng = np.random.default_rng(seed)
    names = DEEPMERGE_FILES["sim2real"]
    for domain in ("source", "target"):
        X = rng.normal(size=(n, 3, 32, 32)).astype(np.float32)
        y = np.tile([0.0, 1.0], n // 2)  # stored as floats, as published
        X[y == 1, :, 12:20, 12:20] += 2.0
        np.save(folder / names[f"X_{domain}"], X)
        np.save(folder / names[f"y_{domain}"], y)


def test_reproduce_sim2real_from_files_with_transfer_learning(
    capsys, sim2sim_run, tmp_path
):
    _, sim2sim_out = sim2sim_run
    weights = sim2sim_out / "weights" / "sim2sim_mmd_deepmerge.pt"
    data = tmp_path / "zenodo"
    data.mkdir()
    write_published_files(data, 70, seed=0)
    out = tmp_path / "out"
    status, stdout, err = run(
        capsys,
        "reproduce", "--profile", "tiny", "--experiment", "sim2real",
        "--data", str(data), "--out", str(out), "--device", "cpu",
        "--pretrained", str(weights),
    )  # fmt: skip
    assert status == 0, err
    for label in ("AUC", "Accuracy", "Precision", "Recall", "F1 score", "Brier"):
        assert label in stdout
    for name in SIM2REAL_METHODS:
        assert name in stdout
        assert f"done {name}:" in err  # one summary line per method
    assert "epoch   2/2" in err  # the per-epoch progress lines
    results = json.loads((out / "results.json").read_text())
    assert list(results["methods"]) == SIM2REAL_METHODS
    # The tiny profile takes a stratified subset of 60 of the 70 images.
    assert "60 of 70 source" in results["data"]
    assert sum(results["n_images"]["target"].values()) == 60
    assert results["pretraining"]["weights"] == str(weights)
    assert results["methods"]["MMD+TL"]["params"]["lr"] == 0.01  # Table A3
    assert results["methods"]["MMD+TL"]["params"]["init_weights"] == str(weights)


def test_reproduce_rejects_resnet18_for_sim2real(capsys, tmp_path):
    status, _, err = run(
        capsys,
        "reproduce", "--profile", "tiny", "--experiment", "sim2real",
        "--backbone", "resnet18", "--out", str(tmp_path),
    )  # fmt: skip
    assert_one_line_error(status, err, "DeepMerge only")


def test_reproduce_missing_data_folder(capsys, tmp_path):
    status, _, err = run(
        capsys, "reproduce", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)
    )
    assert_one_line_error(status, err, "nowhere", "does not exist")


# -- fit / predict ------------------------------------------------------------------
def make_images(n, seed, size=16, noise=0.0):
    """Blobs (label 0) and blob pairs (label 1), channels first, float32."""
    rng = np.random.default_rng(seed)
    grid_y, grid_x = np.mgrid[:size, :size] - size / 2
    y = np.tile([0, 1], n // 2)
    X = np.exp(-(grid_x**2 + grid_y**2) / 8.0)[None].repeat(n, axis=0)
    X = X + y[:, None, None] * np.exp(-((grid_x - 4) ** 2 + grid_y**2) / 4.0)
    X = np.repeat(X[:, None], 3, axis=1) + rng.normal(
        0, 0.05 + noise, (n, 3, size, size)
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arrays")
    Xs, ys = make_images(48, seed=0)
    Xt, _ = make_images(32, seed=1, noise=0.3)
    np.save(folder / "Xs.npy", Xs)
    np.save(folder / "ys.npy", ys)
    np.save(folder / "Xt.npy", Xt)
    return folder, Xt


@pytest.fixture(scope="module")
def model_file(small_files):
    folder, _ = small_files
    model = folder / "model.skdm"
    status = main(
        [
            "fit", "--source", str(folder / "Xs.npy"), "--labels",
            str(folder / "ys.npy"), "--target", str(folder / "Xt.npy"),
            "--method", "mmd", "--param", "max_epochs=2", "--param",
            "batch_size=16", "--param", "betas=(0.7, 0.8)", "--device", "cpu",
            "--model", str(model),
        ]
    )  # fmt: skip
    assert status == 0
    return model


def read_catalog(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def check_catalog(rows, ids):
    assert [row["object_id"] for row in rows] == list(ids)
    for row in rows:
        p = float(row["p_merger"])
        assert 0.0 <= p <= 1.0
        assert int(row["predicted_label"]) == int(p > 0.5)
        expected = "merger" if p > 0.5 else "non-merger"
        assert row["predicted_class"] == expected


def test_fit_writes_a_model_file_with_metadata(model_file):
    model = load_model(model_file)
    assert model["format"] == FORMAT
    assert model["format_version"] == 1
    assert model["class_names"] == ["non-merger", "merger"]
    assert model["method"] == "mmd"
    assert model["input_shape"] == [3, 16, 16]
    pipeline = model["pipeline"]
    assert type(pipeline[0]).__name__ == "ChannelStandardizer"
    assert pipeline[-1].get_params()["betas"] == (0.7, 0.8)
    assert pipeline[-1].n_target_samples_ == 32


def test_fit_predict_round_trip_on_npy(capsys, small_files, model_file, tmp_path):
    folder, Xt = small_files
    catalog = tmp_path / "catalog.csv"
    status, out, err = run(
        capsys, "predict", "--model", str(model_file), "--images",
        str(folder / "Xt.npy"), "--out", str(catalog),
    )  # fmt: skip
    assert status == 0, err
    assert "32 objects" in out
    rows = read_catalog(catalog)
    check_catalog(rows, [str(i) for i in range(len(Xt))])
    # The catalog holds the pipeline's probabilities (standardiser included).
    expected = load_model(model_file)["pipeline"].predict_proba(Xt)[:, 1]
    np.testing.assert_allclose(
        [float(r["p_merger"]) for r in rows], expected, atol=1e-6
    )


def test_predict_threshold(capsys, small_files, model_file, tmp_path):
    folder, _ = small_files
    catalog = tmp_path / "catalog.csv"
    status, _, _ = run(
        capsys, "predict", "--model", str(model_file), "--images",
        str(folder / "Xt.npy"), "--out", str(catalog), "--threshold", "0.999",
    )  # fmt: skip
    assert status == 0
    rows = read_catalog(catalog)
    assert all(
        int(r["predicted_label"]) == int(float(r["p_merger"]) > 0.999) for r in rows
    )


def test_predict_fits_cube_and_fits_folder(capsys, small_files, model_file, tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    _, Xt = small_files
    cube = tmp_path / "cube.fits"
    fits.writeto(cube, Xt[:5])
    status, _, err = run(
        capsys, "predict", "--model", str(model_file), "--images", str(cube),
        "--out", str(tmp_path / "cube.csv"),
    )  # fmt: skip
    assert status == 0, err
    check_catalog(read_catalog(tmp_path / "cube.csv"), ["0", "1", "2", "3", "4"])

    folder = tmp_path / "objects"
    folder.mkdir()
    names = ["J0001", "J0002", "J0003"]
    for name, image in zip(names, Xt[:3], strict=True):
        fits.writeto(folder / f"{name}.fits", image)
    status, _, err = run(
        capsys, "predict", "--model", str(model_file), "--images", str(folder),
        "--out", str(tmp_path / "objects.csv"),
    )  # fmt: skip
    assert status == 0, err
    check_catalog(read_catalog(tmp_path / "objects.csv"), names)


def test_predict_image_folder(capsys, model_file, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    folder = tmp_path / "cutouts"
    (folder / "night1").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = ["a", "b", "night1/c"]
    for name in names:
        pixels = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.png")
    catalog = tmp_path / "cutouts.csv"
    status, out, err = run(
        capsys, "predict", "--model", str(model_file), "--images", str(folder),
        "--out", str(catalog),
    )  # fmt: skip
    assert status == 0, err
    check_catalog(read_catalog(catalog), names)


def test_fit_source_only_without_target(capsys, small_files, tmp_path):
    folder, _ = small_files
    model = tmp_path / "noda.skdm"
    status, out, err = run(
        capsys, "fit", "--source", str(folder / "Xs.npy"), "--labels",
        str(folder / "ys.npy"), "--method", "source-only", "--param",
        "max_epochs=1", "--device", "cpu", "--quiet", "--model", str(model),
    )  # fmt: skip
    assert status == 0, err
    assert "epoch" not in err  # --quiet: no progress bar
    assert load_model(model)["pipeline"][-1].n_target_samples_ == 0


# -- errors -------------------------------------------------------------------------
def test_fit_unknown_param_lists_valid_names(capsys, small_files, tmp_path):
    folder, _ = small_files
    status, _, err = run(
        capsys, "fit", "--source", str(folder / "Xs.npy"), "--labels",
        str(folder / "ys.npy"), "--target", str(folder / "Xt.npy"), "--method",
        "dann", "--param", "max_epoch=3", "--model", str(tmp_path / "m.skdm"),
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
    folder, _ = small_files
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
        args += [flag, value if flag == "--param" else str(folder / value)]
    status, _, err = run(capsys, *args)
    assert_one_line_error(status, err, *fragments)
    assert not (tmp_path / "m.skdm").exists()


def test_fit_dann_without_target(capsys, small_files, tmp_path):
    folder, _ = small_files
    status, _, err = run(
        capsys, "fit", "--source", str(folder / "Xs.npy"), "--labels",
        str(folder / "ys.npy"), "--method", "dann", "--model",
        str(tmp_path / "m.skdm"),
    )  # fmt: skip
    assert_one_line_error(status, err, "--target")


def test_usage_errors_are_one_line(capsys):
    status, _, err = run(capsys, "fit", "--method", "mmd")
    assert status == 2
    assert_one_line_error(status, err, "required", "--help")
    status, _, err = run(capsys, "reproduce", "--profile", "huge")
    assert_one_line_error(status, err, "huge")


def test_predict_errors_are_one_line(capsys, small_files, model_file, tmp_path):
    folder, _ = small_files
    catalog = tmp_path / "catalog.csv"
    # A model file that is not one.
    status, _, err = run(
        capsys, "predict", "--model", str(folder / "Xs.npy"), "--images",
        str(folder / "Xt.npy"), "--out", str(catalog),
    )  # fmt: skip
    assert_one_line_error(status, err, "skdamerge model file")
    # Images of another shape than the model's.
    np.save(tmp_path / "big.npy", np.zeros((2, 3, 20, 20), np.float32))
    status, _, err = run(
        capsys, "predict", "--model", str(model_file), "--images",
        str(tmp_path / "big.npy"), "--out", str(catalog),
    )  # fmt: skip
    assert_one_line_error(status, err, "(3, 20, 20)", "(3, 16, 16)")
    # A folder without images, an unreadable file, an unknown format.
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.npy").write_bytes(b"not an array")
    (tmp_path / "table.txt").write_text("1 2 3\n")
    for images, fragment in [
        (tmp_path / "empty", "no FITS files"),
        (tmp_path / "broken.npy", "broken.npy"),
        (tmp_path / "table.txt", "not a .npy or FITS file"),
        (tmp_path / "nothing.npy", "does not exist"),
    ]:
        status, _, err = run(
            capsys, "predict", "--model", str(model_file), "--images", str(images),
            "--out", str(catalog),
        )  # fmt: skip
        assert_one_line_error(status, err, fragment)
    assert not catalog.exists()


# -- helpers ------------------------------------------------------------------------
def test_parse_params_literals_and_strings():
    params = parse_params(
        ["max_epochs=20", "betas=(0.7, 0.8)", "backbone=resnet18", "dropout=None"]
    )
    assert params == {
        "max_epochs": 20,
        "betas": (0.7, 0.8),
        "backbone": "resnet18",
        "dropout": None,
    }
    with pytest.raises(ValueError, match="twice"):
        parse_params(["lr=1", "lr=2"])


def test_write_atomic_leaves_no_partial_file(tmp_path):
    target = tmp_path / "catalog.csv"

    def interrupted(handle):
        handle.write(b"object_id,p_merger\n0,0.1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, interrupted)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []

    target.write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, interrupted)
    assert target.read_text() == "old\n"  # the previous file is untouched
    write_atomic(target, lambda handle: handle.write(b"new\n"))
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.csv"]
    assert Path(target).stat().st_mode & 0o044  # readable like a normal file


def test_sim2sim_twins_stay_in_the_same_split_part():
    from skdamerge.cli._profiles import PROFILES
    from skdamerge.cli._reproduce_data import prepare_data

    data = prepare_data("sim2sim", PROFILES["tiny"], None, seed=0)
    # The noisy twin of a source training galaxy is never a target test galaxy.
    np.testing.assert_array_equal(data.idx_source_test, data.idx_target_test)
    np.testing.assert_array_equal(data.y_source_test, data.y_target_test)
    assert data.sizes["source"] == {"train": 42, "valid": 6, "test": 12}
    assert (len(data.y_fit), len(data.y_valid)) == (42, 6)
    # Standardised with the statistics of the source fitting images.
    fitting = np.concatenate([data.X_fit, data.X_valid])
    np.testing.assert_allclose(fitting.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(fitting.std(axis=(0, 2, 3)), 1, atol=1e-3)
