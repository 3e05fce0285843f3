"""``skdamerge fit --target-catalog``: target images cut from the survey itself."""

import numpy as np
import pytest

pytest.importorskip("astropy")

from cli_support import assert_one_line_error, make_images, run  # noqa: E402
from test_catalog import SIZE, _survey  # noqa: E402

from skdamerge.cli._model import load_model  # noqa: E402
from skdamerge.datasets import cutouts_from_catalog  # noqa: E402

# One epoch on a few images: the model is not meant to have learned the target.
pytestmark = pytest.mark.filterwarnings(
    "ignore::skdamerge.exceptions.TargetCollapseWarning"
)


@pytest.fixture
def survey(tmp_path):
    """Two 3-band tiles and their catalog; source images and labels."""
    tiles, catalog, _ = _survey(tmp_path, n_grid=6)
    catalog.write(tmp_path / "objects.fits")
    X, y = make_images(48, seed=0, size=SIZE)
    np.save(tmp_path / "Xs.npy", X)
    np.save(tmp_path / "ys.npy", y)
    return tmp_path, tiles, catalog


def fit(capsys, folder, *options, model="model.skdm"):
    return run(
        capsys, "fit", "--source", folder / "Xs.npy", "--labels",
        folder / "ys.npy", "--method", "mmd", "--param", "max_epochs=1",
        "--param", "batch_size=4", "--param", "validation_fraction=None",
        "--device", "cpu", "--threads", "1", "--quiet", "--model",
        folder / model, *options,
    )  # fmt: skip


def test_target_cut_from_the_survey_equals_the_same_stamps_given(capsys, survey):
    folder, tiles, catalog = survey
    status, _, err = fit(
        capsys, folder, "--target-catalog", folder / "objects.fits",
        "--target-tiles", f"{folder}/tile*_{{band}}.fits", "--bands", "b0", "b1",
        "b2",
    )  # fmt: skip
    assert status == 0, err
    cut = cutouts_from_catalog(catalog, tiles, size=SIZE)
    good = cut.flags == 0
    n_good = int(good.sum())
    assert n_good == len(catalog) - 3  # two edge objects, one off the tiles
    assert (
        f"target: {n_good} of {len(catalog)} catalog objects used; 3 flagged "
        "(2 edge, 1 off tiles)"
    ) in err
    model = load_model(folder / "model.skdm")
    assert model["n_target"] == n_good
    # the bands are recorded for 'skdamerge predict --tiles'
    assert list(model["bands"]) == ["b0", "b1", "b2"]

    # the same unflagged stamps given as an array train the same model
    np.save(folder / "Xt.npy", cut.images[good])
    status, _, err = fit(capsys, folder, "--target", folder / "Xt.npy", model="a.skdm")
    assert status == 0, err
    X, _ = make_images(16, seed=3, size=SIZE)
    np.testing.assert_allclose(
        model["pipeline"].predict_proba(X),
        load_model(folder / "a.skdm")["pipeline"].predict_proba(X),
        rtol=1e-6,
    )


def test_one_tile_and_named_columns(capsys, survey):
    folder, tiles, catalog = survey
    catalog.rename_column("RA", "x_sky")
    catalog.write(folder / "renamed.csv")
    status, _, err = fit(
        capsys, folder, "--target-catalog", folder / "renamed.csv",
        "--target-images", *tiles[1], "--ra-column", "x_sky",
    )  # fmt: skip
    assert status == 0, err
    cut = cutouts_from_catalog(catalog, [tiles[1]], size=SIZE, ra_column="x_sky")
    n_good = int(np.sum(cut.flags == 0))
    assert f"target: {n_good} of {len(catalog)} catalog objects used" in err
    assert load_model(folder / "model.skdm")["n_target"] == n_good


def test_target_errors_name_the_option(capsys, survey):
    folder, tiles, catalog = survey
    catalog_option = ["--target-catalog", folder / "objects.fits"]
    catalog[5:6].write(folder / "off.fits")  # the object off all tiles
    cases = [
        (
            [*catalog_option, "--target-images", *tiles[0], "--target", folder],
            ["--target", "--target-catalog", "not both"],
        ),
        (["--target-images", *tiles[0]], ["--target-images", "--target-catalog"]),
        (
            [*catalog_option, "--target-images", *tiles[0][:2]],
            ["--target-images", "2 file(s)"],
        ),
        (
            [*catalog_option, "--target-tiles", f"{folder}/tile*_{{band}}.fits"],
            ["--target-tiles", "--bands"],
        ),
        (
            ["--target-catalog", folder / "off.fits", "--target-images", *tiles[0]],
            ["--target-catalog", "flagged"],
        ),
        ([], ["--target", "--target-catalog"]),
    ]
    for options, fragments in cases:
        status, _, err = fit(capsys, folder, *options)
        assert_one_line_error(status, err, *fragments)
        assert not (folder / "model.skdm").exists()
