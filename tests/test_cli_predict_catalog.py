"""``skdamerge predict --catalog``: survey catalog and FITS tiles in, catalog out."""

import numpy as np
import pytest

pytest.importorskip("astropy")

from astropy.coordinates import SkyCoord  # noqa: E402
from astropy.table import Table  # noqa: E402
from cli_support import assert_one_line_error, make_images, run  # noqa: E402
from test_catalog import SIZE, _survey  # noqa: E402

from skdamerge import __version__  # noqa: E402
from skdamerge.catalog import classify_catalog  # noqa: E402
from skdamerge.cli import _tile_jobs, main  # noqa: E402
from skdamerge.cli._model import load_model  # noqa: E402
from skdamerge.cli._tile_plan import NO_TILE, plan_tiles  # noqa: E402
from skdamerge.datasets import (  # noqa: E402
    FLAG_EDGE,
    FLAG_OFF_TILES,
    FLAG_UNREADABLE_TILE,
    cutouts_from_catalog,
)

BANDS = ["b0", "b1", "b2"]
ADDED = ["p_merger", "is_merger", "flag", "flag_reason"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A source-only model of 3-band 16x16 images, trained for two epochs."""
    folder = tmp_path_factory.mktemp("model")
    X, y = make_images(48, seed=0, size=SIZE)
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", y)
    model = folder / "model.skdm"
    status = main(
        [
            "fit", "--source", str(folder / "X.npy"), "--labels",
            str(folder / "y.npy"), "--method", "source-only", "--param",
            "max_epochs=2", "--param", "batch_size=16", "--param",
            "validation_fraction=None", "--device", "cpu", "--threads", "1",
            "--quiet", "--model", str(model),
        ]
    )  # fmt: skip
    assert status == 0
    return model


@pytest.fixture
def survey(tmp_path):
    """Two overlapping 3-band tiles, ``tile{A,B}_b{0,1,2}.fits``, and a catalog."""
    tiles, catalog, _ = _survey(tmp_path, n_grid=6)
    catalog.write(tmp_path / "objects.fits")
    return tmp_path, tiles, catalog


def predict(capsys, model_file, folder, *options, out="mergers.fits"):
    """Run predict on the survey of ``folder`` with the tile pattern."""
    return run(
        capsys, "predict", "--model", model_file, "--catalog",
        folder / "objects.fits", "--tiles", f"{folder}/tile*_{{band}}.fits",
        "--bands", *BANDS, "--threads", "1", "--out", folder / out, *options,
    )  # fmt: skip


def expected_table(model_file, catalog, tiles, **kwargs):
    return classify_catalog(
        load_model(model_file)["pipeline"], catalog, tiles, **kwargs
    )


def texts(column):
    """A text column as str (FITS reads empty strings back as masked)."""
    return ["" if value is np.ma.masked else str(value) for value in column]


def p_merger(table):
    """The p_merger column as floats (FITS reads NaN back as masked)."""
    return np.ma.filled(np.ma.asarray(table["p_merger"], dtype=float), np.nan)


def assert_same_results(table, expected):
    assert len(table) == len(expected)
    # float32 network: batches of other sizes round differently
    np.testing.assert_allclose(
        p_merger(table), p_merger(expected), rtol=1e-5, atol=1e-7, equal_nan=True
    )
    # as text: a CSV reads booleans back as "True"/"False"
    for name in ("is_merger", "flag", "flag_reason"):
        assert texts(table[name]) == texts(expected[name]), name


def test_catalog_equals_the_python_api(capsys, model_file, survey):
    folder, tiles, catalog = survey
    status, out, err = predict(capsys, model_file, folder)
    assert status == 0, err
    table = Table.read(folder / "mergers.fits")
    # one row per object, in input order, every input column kept
    assert table.colnames == [*catalog.colnames, *ADDED]
    for name in catalog.colnames:
        assert list(table[name]) == list(catalog[name])
    expected = expected_table(model_file, catalog, tiles)
    assert_same_results(table, expected)
    flags = np.asarray(table["flag"])
    assert flags[:3].tolist() == [0, 0, 0]
    assert flags[3] == flags[4] == FLAG_EDGE and flags[5] == FLAG_OFF_TILES
    assert np.isfinite(p_merger(table)[flags == 0]).all()
    assert np.isnan(p_merger(table)[flags != 0]).all()
    assert table.meta["MODELFIL"] == "model.skdm"
    assert table.meta["METHOD"] == "source-only"
    assert table.meta["SKDAMVER"] == __version__
    assert table.meta["THRESH"] == 0.5
    # the training summary of the model file
    _, y = make_images(48, seed=0, size=SIZE)
    assert table.meta["NSOURCE"] == 48
    assert table.meta["NEPOCHS"] == table.meta["BESTEPOC"] == 2
    assert table.meta["SRCFRAC"] == pytest.approx(np.mean(y == 1))
    assert "TGTFRAC" not in table.meta  # a source-only model estimates none
    assert f"classified {len(catalog) - 3} of {len(catalog)} objects" in out
    assert "e.g. obj003: stamp runs off the edge" in out
    assert f"{len(catalog)}/{len(catalog)} objects" in err  # the progress bar
    assert not (folder / "mergers.fits.partial").exists()


def test_small_batches_give_the_same_catalog(capsys, model_file, survey):
    folder, tiles, catalog = survey
    # one stamp per batch: the objects of a tile are cut eight at a time
    status, _, err = predict(capsys, model_file, folder, "--batch-size", "1")
    assert status == 0, err
    table = Table.read(folder / "mergers.fits")
    assert_same_results(table, expected_table(model_file, catalog, tiles))


def test_one_tile_csv_sexagesimal_threshold_and_quiet(capsys, model_file, survey):
    folder, tiles, catalog = survey
    sky = SkyCoord(catalog["RA"], catalog["Dec"], unit="deg")
    text = Table(
        {
            "ID": catalog["object_id"],
            "RAJ2000": sky.ra.to_string(unit="hourangle", sep=":", precision=5),
            "DEJ2000": sky.dec.to_string(unit="deg", sep=":", precision=4),
        }
    )
    text.write(folder / "objects.csv")
    status, out, err = run(
        capsys, "predict", "--model", model_file, "--catalog",
        folder / "objects.csv", "--images", *tiles[0], "--threshold", "0.3",
        "--quiet", "--threads", "1", "--out", folder / "mergers.csv",
    )  # fmt: skip
    assert status == 0, err
    assert err == ""  # --quiet: no progress bar
    table = Table.read(folder / "mergers.csv")
    assert table.colnames == ["ID", "RAJ2000", "DEJ2000", *ADDED]
    expected = expected_table(model_file, catalog, [tiles[0]], threshold=0.3)
    assert_same_results(table, expected)
    assert "(p_merger >= 0.3)" in out


def test_tiles_take_the_band_order_of_the_model_file(
    capsys, model_file, survey, tmp_path
):
    from skdamerge import save_model

    folder, tiles, catalog = survey
    pipeline = load_model(model_file)["pipeline"]
    with_bands = tmp_path / "with_bands.skdm"
    save_model(with_bands, pipeline, n_source=48, bands=BANDS)
    status, _, err = run(
        capsys, "predict", "--model", with_bands, "--catalog",
        folder / "objects.fits", "--tiles", f"{folder}/tile*_{{band}}.fits",
        "--threads", "1", "--out", folder / "mergers.fits",
    )  # fmt: skip
    assert status == 0, err
    table = Table.read(folder / "mergers.fits")
    assert_same_results(table, expected_table(model_file, catalog, tiles))


def test_parquet_catalog_in_and_out(capsys, model_file, survey):
    pytest.importorskip("pyarrow")
    folder, tiles, catalog = survey
    catalog.write(folder / "objects.parquet")
    status, _, err = run(
        capsys, "predict", "--model", model_file, "--catalog",
        folder / "objects.parquet", "--tiles", f"{folder}/tile*_{{band}}.fits",
        "--bands", *BANDS, "--threads", "1", "--out", folder / "mergers.parquet",
    )  # fmt: skip
    assert status == 0, err
    table = Table.read(folder / "mergers.parquet")
    assert list(table["object_id"]) == list(catalog["object_id"])
    assert_same_results(table, expected_table(model_file, catalog, tiles))
    assert table.meta["THRESH"] == 0.5


def test_empty_catalog_gives_an_empty_catalog(capsys, model_file, survey):
    folder, _, catalog = survey
    catalog[:0].write(folder / "objects.fits", overwrite=True)
    status, out, err = predict(capsys, model_file, folder)
    assert status == 0, err
    table = Table.read(folder / "mergers.fits")
    assert len(table) == 0
    assert table.colnames == [*catalog.colnames, *ADDED]
    assert "classified 0 of 0 objects" in out


def _nothing_written(folder):
    return (
        not (folder / "mergers.fits").exists()
        and not (folder / "mergers.fits.partial").exists()
    )


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (lambda c: c.rename_column("RA", "x_sky"), ["--ra-column", "x_sky"]),
        (lambda c: c.add_column(c["RA"], name="ra"), ["several", "--ra-column"]),
        (lambda c: c.add_column(c["Dec"], name="dec_deg"), ["--dec-column"]),
        (lambda c: c.add_column(c["RA"], name="p_merger"), ["p_merger", "rename"]),
    ],
)
def test_column_errors_name_the_option(capsys, model_file, survey, change, fragments):
    folder, _, catalog = survey
    change(catalog)
    catalog.write(folder / "objects.fits", overwrite=True)
    status, _, err = predict(capsys, model_file, folder)
    assert_one_line_error(status, err, *fragments)
    assert _nothing_written(folder)


def test_named_columns_ignore_case(capsys, model_file, survey):
    folder, tiles, catalog = survey
    catalog.rename_column("RA", "x_sky")
    catalog.write(folder / "objects.fits", overwrite=True)
    status, _, err = predict(
        capsys, model_file, folder, "--ra-column", "X_SKY", "--id-column", "OBJECT_ID"
    )
    assert status == 0, err
    table = Table.read(folder / "mergers.fits")
    expected = expected_table(model_file, catalog, tiles, ra_column="x_sky")
    assert_same_results(table, expected)


def test_input_errors_name_the_option_and_write_nothing(capsys, model_file, survey):
    folder, tiles, _ = survey
    (folder / "broken.fits").write_bytes(b"not a FITS file at all")
    cases = [
        (["--catalog", folder / "broken.fits"], ["--catalog", "broken.fits"]),
        (["--catalog", folder / "absent.csv"], ["--catalog", "does not exist"]),
        (["--images", folder, *tiles[0][1:]], ["--images", "is not a file"]),
        (["--images", *tiles[0][:2]], ["--images", "2 file(s)", "3 channel"]),
        (["--tiles", f"{folder}/tile*_{{band}}.fits"], ["--bands"]),
        (["--tiles", f"{folder}/tile*.fits", "--bands", *BANDS], ["{band}"]),
        (
            ["--tiles", f"{folder}/tile*_{{band}}.fits", "--bands", "b0", "b1"],
            ["--bands", "3 channel"],
        ),
        (
            ["--tiles", f"{folder}/tile*_{{band}}.fits", "--bands", "b0", "b1", "b9"],
            ["--tiles", "'b9'"],
        ),
        ([], ["--images", "--tiles", "neither"]),
        (
            ["--images", *tiles[0], "--pixel-scale", "0.6"],
            ["--images", "pixel scales", "0.6"],
        ),
    ]
    for options, fragments in cases:
        if "--catalog" not in options:
            options = ["--catalog", folder / "objects.fits", *options]
        status, _, err = run(
            capsys, "predict", "--model", model_file, *options, "--out",
            folder / "mergers.fits",
        )  # fmt: skip
        assert_one_line_error(status, err, *fragments)
        assert _nothing_written(folder)
    status, _, err = predict(capsys, model_file, folder, out="mergers.txt")
    assert_one_line_error(status, err, "--out", "extension")
    # a tile without one of its bands
    tiles[1][2].unlink()
    status, _, err = predict(capsys, model_file, folder)
    assert_one_line_error(status, err, "--tiles", "1 tile(s) have no 'b2' file")
    assert _nothing_written(folder)
    # stamp-only use of survey options
    status, _, err = run(
        capsys, "predict", "--model", model_file, "--images", folder,
        "--workers", "2", "--out", folder / "p.csv",
    )  # fmt: skip
    assert_one_line_error(status, err, "--workers", "--catalog")


def test_an_existing_output_is_kept_without_overwrite(capsys, model_file, survey):
    folder, _, _ = survey
    (folder / "mergers.fits").write_bytes(b"keep me")
    status, _, err = predict(capsys, model_file, folder)
    assert_one_line_error(status, err, "--out", "--overwrite")
    assert (folder / "mergers.fits").read_bytes() == b"keep me"
    status, _, err = predict(capsys, model_file, folder, "--overwrite")
    assert status == 0, err
    assert len(Table.read(folder / "mergers.fits")) > 0


def test_a_truncated_tile_is_flagged_and_the_others_finish(capsys, model_file, survey):
    folder, tiles, catalog = survey
    path = tiles[0][1]  # tile A, second band: half its data lost
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    status, out, err = predict(capsys, model_file, folder)
    assert status == 0, err
    table = Table.read(folder / "mergers.fits")
    flags = np.asarray(table["flag"])
    for obj in (0, 3):  # on tile A alone
        assert flags[obj] == FLAG_UNREADABLE_TILE
        assert path.name in texts(table["flag_reason"])[obj]
    assert flags[1] == flags[2] == 0  # fully inside tile B: cut from B
    assert np.isfinite(p_merger(table)[[1, 2]]).all()
    assert "unreadable tile" in out
    assert_same_results(table, expected_table(model_file, catalog, tiles))


@pytest.mark.parametrize("broken", [None, "data", "header"])
def test_tile_plan_gives_the_cutouts_of_all_tiles(tmp_path, broken):
    tiles, _, _ = _survey(tmp_path)
    wcs_a = _wcs_of(tiles[0][0])
    if broken == "data":  # tile A's second band loses half its data
        path = tiles[0][1]
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif broken == "header":  # tile A's first band: not even its header is left
        tiles[0][0].write_bytes(tiles[0][0].read_bytes()[:10])
    rng = np.random.default_rng(0)
    # positions over both tiles, their edges and overlap, and off them
    x, y = rng.uniform(-20, 300, 80), rng.uniform(-20, 220, 80)
    sky = wcs_a.pixel_to_world(x, y)
    ra = np.append(sky.ra.deg, np.nan)  # and one invalid position
    dec = np.append(sky.dec.deg, np.nan)
    catalog = Table({"ra": ra, "dec": dec})
    reference = cutouts_from_catalog(catalog, tiles, size=SIZE)
    plan = plan_tiles(ra, dec, tiles, SIZE)
    assert set(plan.tolist()) <= {NO_TILE, 0, 1}
    flags = np.zeros(len(catalog), dtype=np.int64)
    reasons = [""] * len(catalog)
    for index in (NO_TILE, 0, 1):
        rows = np.flatnonzero(plan == index)
        tile = tiles[max(index, 0)]
        cut = cutouts_from_catalog(catalog[rows], [tile], size=SIZE)
        flags[rows] = cut.flags
        for row, reason in zip(rows, cut.reasons, strict=True):
            reasons[row] = reason
        good = cut.flags == 0
        np.testing.assert_array_equal(cut.images[good], reference.images[rows[good]])
    np.testing.assert_array_equal(flags, reference.flags)
    assert reasons == reference.reasons


def _wcs_of(path):
    from astropy.io import fits
    from astropy.wcs import WCS

    return WCS(fits.getheader(path))


def _recording(monkeypatch, fail_on=None):
    """Record the first band file of every tile classified; fail on call ``fail_on``."""
    calls = []
    original = _tile_jobs.classify_tile

    def classify_tile(model, coordinates, files, options, torch_threads=None):
        calls.append(files[0].name)
        if fail_on is not None and len(calls) == fail_on:
            raise RuntimeError("interrupted")
        return original(model, coordinates, files, options, torch_threads)

    monkeypatch.setattr(_tile_jobs, "classify_tile", classify_tile)
    return calls


def test_resume_finishes_an_interrupted_run(capsys, model_file, survey, monkeypatch):
    folder, tiles, catalog = survey
    status, _, err = predict(capsys, model_file, folder, out="reference.fits")
    assert status == 0, err
    reference = Table.read(folder / "reference.fits")

    calls = _recording(monkeypatch, fail_on=2)
    status, _, err = predict(capsys, model_file, folder)
    assert_one_line_error(status, err, "interrupted")
    assert "1 finished tile(s) are kept" in err and "--resume" in err
    partial = folder / "mergers.fits.partial"
    assert not (folder / "mergers.fits").exists()
    assert sorted(p.name for p in partial.glob("*.npz")) == ["tile-000000.npz"]
    assert calls == ["tileA_b0.fits", "tileB_b0.fits"]

    # an interrupted run is not silently restarted or resumed
    monkeypatch.undo()
    status, _, err = predict(capsys, model_file, folder)
    assert_one_line_error(status, err, "--resume", "--overwrite")
    # nor resumed with other inputs
    status, _, err = predict(
        capsys, model_file, folder, "--resume", "--threshold", "0.7"
    )
    assert_one_line_error(status, err, "--resume", "threshold")

    calls = _recording(monkeypatch)
    status, _, err = predict(capsys, model_file, folder, "--resume")
    assert status == 0, err
    # tile A was not classified again: tile B, then the rows on no tile (which
    # are flagged against the first tile's files)
    assert calls == ["tileB_b0.fits", "tileA_b0.fits"]
    table = Table.read(folder / "mergers.fits")
    assert table.colnames == reference.colnames
    np.testing.assert_array_equal(p_merger(table), p_merger(reference))
    for name in table.colnames:
        if name != "p_merger":
            assert list(table[name]) == list(reference[name]), name
    assert not partial.exists()


def test_overwrite_discards_partial_results(capsys, model_file, survey, monkeypatch):
    folder, _, _ = survey
    _recording(monkeypatch, fail_on=2)
    status, _, _ = predict(capsys, model_file, folder)
    assert status != 0
    monkeypatch.undo()
    calls = _recording(monkeypatch)
    status, _, err = predict(capsys, model_file, folder, "--overwrite")
    assert status == 0, err
    assert calls[0] == "tileA_b0.fits"  # started again from the first tile
    assert not (folder / "mergers.fits.partial").exists()


def test_an_unreachable_scheduler_is_named(capsys, model_file, survey, monkeypatch):
    pytest.importorskip("distributed")
    folder, _, _ = survey
    monkeypatch.setattr(_tile_jobs, "_CONNECT_SECONDS", 1)
    status, _, err = predict(
        capsys, model_file, folder, "--scheduler", "tcp://127.0.0.1:9"
    )
    assert_one_line_error(status, err, "--scheduler", "tcp://127.0.0.1:9")
    assert _nothing_written(folder)  # no partial results left to resume


def test_a_foreign_partial_folder_is_left_alone(capsys, model_file, survey):
    folder, _, _ = survey
    foreign = folder / "mergers.fits.partial"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not skdamerge's")
    for options in ([], ["--resume"], ["--overwrite"]):
        status, _, err = predict(capsys, model_file, folder, *options)
        assert_one_line_error(status, err, "mergers.fits.partial", "no partial results")
    assert (foreign / "notes.txt").read_text() == "not skdamerge's"


@pytest.fixture
def threaded_cluster(monkeypatch):
    """Local clusters of worker threads in this process (quick to start)."""
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    def local_cluster(workers):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        )

    monkeypatch.setattr(_tile_jobs, "local_cluster", local_cluster)
    return local_cluster


def test_workers_give_the_serial_catalog(capsys, model_file, survey, threaded_cluster):
    folder, _, _ = survey
    status, _, err = predict(capsys, model_file, folder, out="serial.fits")
    assert status == 0, err
    status, _, err = predict(capsys, model_file, folder, "--workers", "2")
    assert status == 0, err
    serial = Table.read(folder / "serial.fits")
    parallel = Table.read(folder / "mergers.fits")
    assert parallel.colnames == serial.colnames
    np.testing.assert_allclose(p_merger(parallel), p_merger(serial), rtol=1e-6)
    for name in serial.colnames:
        if name != "p_merger":
            assert list(parallel[name]) == list(serial[name]), name
    # an existing scheduler
    with threaded_cluster(1) as cluster:
        status, _, err = predict(
            capsys, model_file, folder, "--scheduler", cluster.scheduler_address,
            out="scheduled.fits",
        )  # fmt: skip
    assert status == 0, err
    scheduled = Table.read(folder / "scheduled.fits")
    assert list(scheduled["flag"]) == list(serial["flag"])
    np.testing.assert_allclose(p_merger(scheduled), p_merger(serial), rtol=1e-6)
