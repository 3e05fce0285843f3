"""``skdamerge fit`` then ``skdamerge predict`` with a model that has learned."""

import joblib
import numpy as np
import pytest
from cli_support import (
    assert_one_line_error,
    catalog_p_merger,
    check_catalog,
    make_images,
    read_catalog,
    run,
    to_png_pixels,
)

from skdamerge.cli import main
from skdamerge.cli._model import FORMAT, FORMAT_VERSION, load_model


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    """Clean labelled source images and noisier target images, with their labels."""
    folder = tmp_path_factory.mktemp("arrays")
    Xs, ys = make_images(160, seed=0)
    Xt, yt = make_images(64, seed=1, noise=0.15)
    np.save(folder / "Xs.npy", Xs)
    np.save(folder / "ys.npy", ys)
    np.save(folder / "Xt.npy", Xt)
    return folder, Xt, yt


@pytest.fixture(scope="module")
def model_file(small_files):
    """An MMD model trained until it separates the two classes (about 2 s).

    Without orientation augmentation, which slows learning on so small a set.
    """
    folder, _, _ = small_files
    model = folder / "model.skdm"
    status = main(
        [
            "fit", "--source", str(folder / "Xs.npy"), "--labels",
            str(folder / "ys.npy"), "--target", str(folder / "Xt.npy"),
            "--method", "mmd", "--param", "max_epochs=8", "--param",
            "batch_size=32", "--param", "betas=(0.7, 0.8)", "--param",
            "augment=False", "--device", "cpu", "--threads", "1", "--quiet",
            "--model", str(model),
        ]
    )  # fmt: skip
    assert status == 0
    return model


@pytest.fixture(scope="module")
def target_p_merger(small_files, model_file):
    """Merger probabilities of the model on the target images, from the model."""
    _, Xt, _ = small_files
    return load_model(model_file)["pipeline"].predict_proba(Xt)[:, 1]


def test_fixture_model_has_learned(model_file, small_files, target_p_merger):
    _, _, yt = small_files
    estimator = load_model(model_file)["pipeline"][-1]
    valid_acc = estimator.history_[estimator.best_epoch_ - 1]["valid_acc"]
    assert valid_acc >= 0.8
    assert np.mean((target_p_merger > 0.5) == yt) >= 0.75
    # Probabilities on both sides of 0.5, not one class for every object.
    assert np.sum(target_p_merger > 0.5) >= 10
    assert np.sum(target_p_merger < 0.5) >= 10


def test_fit_writes_a_model_file_with_metadata(model_file):
    model = load_model(model_file)
    assert model["format"] == FORMAT
    assert model["format_version"] == FORMAT_VERSION == 2
    assert model["class_names"] == ["non-merger", "merger"]
    assert model["classes"] == [0, 1]
    assert (model["method"], model["estimator"]) == ("mmd", "MMDClassifier")
    params = model["params"]
    assert (params["max_epochs"], params["batch_size"]) == (8, 32)
    assert params["betas"] == (0.7, 0.8)
    assert params["callbacks"] is None  # the progress bar is not saved
    assert model["input_shape"] == [3, 16, 16]
    assert (model["n_source"], model["n_target"]) == (160, 64)
    pipeline = model["pipeline"]
    assert type(pipeline[0]).__name__ == "ChannelStandardizer"
    assert type(pipeline[-1]).__name__ == "MMDClassifier"
    params = pipeline[-1].get_params()
    assert params["betas"] == (0.7, 0.8)
    assert (params["max_epochs"], params["batch_size"]) == (8, 32)
    assert params["random_state"] == 0  # --seed's default
    assert pipeline[-1].n_target_samples_ == 64


def test_fit_predict_round_trip_on_npy(
    capsys, small_files, model_file, target_p_merger, tmp_path
):
    folder, Xt, _ = small_files
    catalog = tmp_path / "catalog.csv"
    status, out, err = run(
        capsys, "predict", "--model", model_file, "--images", folder / "Xt.npy",
        "--out", catalog,
    )  # fmt: skip
    assert status == 0, err
    rows = read_catalog(catalog)
    check_catalog(rows, [str(i) for i in range(len(Xt))])
    # The catalog holds the pipeline's probabilities (standardiser included).
    np.testing.assert_allclose(catalog_p_merger(rows), target_p_merger, atol=1e-6)
    n_mergers = int(np.sum(np.round(target_p_merger, 6) > 0.5))
    assert f"classified 64 objects (npy): {n_mergers} mergers" in out


def _thresholds(p):
    """A threshold above 0.5 and one below it, each between two probabilities."""
    above = np.sort(p[p > 0.5])
    below = np.sort(p[p < 0.5])
    high = (above[len(above) // 2 - 1] + above[len(above) // 2]) / 2
    low = (below[len(below) // 2 - 1] + below[len(below) // 2]) / 2
    return round(float(high), 4), round(float(low), 4)


def test_predict_threshold_flips_exactly_the_rows_it_crosses(
    capsys, small_files, model_file, target_p_merger, tmp_path
):
    folder, _, _ = small_files
    labels = {}
    for threshold in (None, *_thresholds(target_p_merger)):
        catalog = tmp_path / f"catalog_{threshold}.csv"
        extra = [] if threshold is None else ["--threshold", str(threshold)]
        status, out, err = run(
            capsys, "predict", "--model", model_file, "--images",
            folder / "Xt.npy", "--out", catalog, *extra,
        )  # fmt: skip
        assert status == 0, err
        rows = read_catalog(catalog)
        check_catalog(rows, [str(i) for i in range(len(rows))], threshold or 0.5)
        p = catalog_p_merger(rows)
        label = np.array([int(row["predicted_label"]) for row in rows])
        assert f": {label.sum()} mergers (p_merger > {threshold or 0.5})" in out
        labels[threshold] = (p, label)
    p, default = labels.pop(None)
    assert default.sum() not in (0, len(default))  # mergers and non-mergers
    for threshold, (_, label) in labels.items():
        flipped = np.flatnonzero(label != default)
        crossed = np.flatnonzero((p > 0.5) != (p > threshold))
        assert len(crossed) >= 5, threshold
        np.testing.assert_array_equal(flipped, crossed)
        # Above 0.5 mergers become non-mergers; below it the other way round.
        assert set(label[flipped]) == {int(threshold < 0.5)}


def test_predict_fits_cube_and_fits_folder(
    capsys, small_files, model_file, target_p_merger, tmp_path
):
    fits = pytest.importorskip("astropy.io.fits")
    _, Xt, _ = small_files
    cube = tmp_path / "cube.fits"
    fits.writeto(cube, Xt[:8])
    status, out, err = run(
        capsys, "predict", "--model", model_file, "--images", cube,
        "--out", tmp_path / "cube.csv",
    )  # fmt: skip
    assert status == 0, err
    assert "(fits cube)" in out
    rows = read_catalog(tmp_path / "cube.csv")
    check_catalog(rows, [str(i) for i in range(8)])
    np.testing.assert_allclose(catalog_p_merger(rows), target_p_merger[:8], atol=1e-6)

    # One file per object, written out of order: the catalog follows the names.
    folder = tmp_path / "objects"
    folder.mkdir()
    names = ["J0003", "J0001", "J0010", "J0002"]
    for name, image in zip(names, Xt[:4], strict=True):
        fits.writeto(folder / f"{name}.fits", image)
    status, _, err = run(
        capsys, "predict", "--model", model_file, "--images", folder,
        "--out", tmp_path / "objects.csv",
    )  # fmt: skip
    assert status == 0, err
    rows = read_catalog(tmp_path / "objects.csv")
    order = np.argsort(names)
    check_catalog(rows, sorted(names))
    np.testing.assert_allclose(
        catalog_p_merger(rows), target_p_merger[:4][order], atol=1e-6
    )


def test_predict_image_folder(capsys, small_files, model_file, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    _, Xt, yt = small_files
    folder = tmp_path / "cutouts"
    (folder / "night1").mkdir(parents=True)
    pixels = to_png_pixels(Xt[:12])
    names = [f"g{i:02d}" for i in range(11)] + ["night1/big"]
    for name, image in zip(names[:11], pixels, strict=False):
        Image.fromarray(image).save(folder / f"{name}.png")
    # A larger cutout, resized to the model's 16 x 16 pixels.
    big = Image.fromarray(pixels[11]).resize((24, 24), Image.Resampling.BILINEAR)
    big.save(folder / "night1" / "big.png")
    catalog = tmp_path / "cutouts.csv"
    status, out, err = run(
        capsys, "predict", "--model", model_file, "--images", folder,
        "--out", catalog,
    )  # fmt: skip
    assert status == 0, err
    assert "(image folder)" in out
    rows = read_catalog(catalog)
    check_catalog(rows, names)
    # The same pixels as the model sees them: RGB, channels first, in [0, 1].
    stamps = [np.asarray(Image.open(folder / f"{n}.png")) for n in names[:11]]
    stamps.append(np.asarray(big.resize((16, 16), Image.Resampling.BILINEAR)))
    X = np.stack(stamps).transpose(0, 3, 1, 2).astype(np.float32) / 255
    expected = load_model(model_file)["pipeline"].predict_proba(X)[:, 1]
    np.testing.assert_allclose(catalog_p_merger(rows), expected, atol=1e-6)
    # Cutouts of pairs look like mergers to the model, single blobs do not.
    p = catalog_p_merger(rows)[:11]
    assert p[yt[:11] == 1].min() > p[yt[:11] == 0].max()


def test_predict_errors_are_one_line(capsys, small_files, model_file, tmp_path):
    folder, _, _ = small_files
    catalog = tmp_path / "catalog.csv"
    # A model file that is not one.
    status, _, err = run(
        capsys, "predict", "--model", folder / "Xs.npy", "--images",
        folder / "Xt.npy", "--out", catalog,
    )  # fmt: skip
    assert_one_line_error(status, err, "skdamerge model file")
    # Images of another shape than the model's.
    np.save(tmp_path / "big.npy", np.zeros((2, 3, 20, 20), np.float32))
    status, _, err = run(
        capsys, "predict", "--model", model_file, "--images",
        tmp_path / "big.npy", "--out", catalog,
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
            capsys, "predict", "--model", model_file, "--images", images,
            "--out", catalog,
        )  # fmt: skip
        assert_one_line_error(status, err, fragment)
    # An output folder that does not exist.
    status, _, err = run(
        capsys, "predict", "--model", model_file, "--images", folder / "Xt.npy",
        "--out", tmp_path / "nowhere" / "catalog.csv",
    )  # fmt: skip
    assert_one_line_error(status, err, "nowhere", "does not exist")
    assert not catalog.exists()


def test_predict_refuses_a_pickled_model_file_unless_allowed(
    capsys, small_files, model_file, target_p_merger, tmp_path
):
    folder, _, _ = small_files
    # A format-version-1 model file: the pickle the earlier 'skdamerge fit' wrote.
    model = load_model(model_file)
    old = tmp_path / "old.skdm"
    joblib.dump({**model, "format_version": 1}, old)
    catalog = tmp_path / "catalog.csv"
    args = ["predict", "--model", old, "--images", folder / "Xt.npy", "--out", catalog]
    status, _, err = run(capsys, *args)
    assert_one_line_error(status, err, "old.skdm", "pickle", "--allow-pickle")
    assert not catalog.exists()
    status, _, err = run(capsys, *args, "--allow-pickle")
    assert status == 0, err
    np.testing.assert_allclose(
        catalog_p_merger(read_catalog(catalog)), target_p_merger, atol=1e-6
    )
