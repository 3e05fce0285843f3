"""Survey catalogs: cutouts from FITS tiles, classification, catalog files."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("astropy")

from astropy import units as u  # noqa: E402
from astropy.coordinates import SkyCoord  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.nddata.utils import NoOverlapError, overlap_slices  # noqa: E402
from astropy.table import Table  # noqa: E402
from astropy.wcs import WCS  # noqa: E402

from skdamerge import SourceOnlyClassifier, __version__  # noqa: E402
from skdamerge.catalog import classify_catalog, write_catalog  # noqa: E402
from skdamerge.datasets import (  # noqa: E402
    FLAG_EDGE,
    FLAG_INVALID_COORDS,
    FLAG_MASKED,
    FLAG_OFF_TILES,
    FLAG_UNREADABLE_TILE,
    cutouts_from_catalog,
    make_galaxy_mergers,
)

SIZE = 16
SHAPE = (200, 160)  # (ny, nx) of each tile
SCALE = 0.5  # arcsec / pixel
SHIFT = 110  # tile B starts SHIFT pixels right of tile A: 50 columns overlap
BACKGROUND = {"A": 0.0, "B": 100.0}


def _wcs(crpix_x: float) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [crpix_x, 60.0]
    wcs.wcs.cdelt = [-SCALE / 3600.0, SCALE / 3600.0]
    return wcs


def _paste(planes, stamp, x, y):
    try:
        large, small = overlap_slices(SHAPE, (SIZE, SIZE), (y, x), mode="partial")
    except NoOverlapError:
        return
    planes[(slice(None), *large)] = (
        stamp[(slice(None), *small)] + planes[(slice(None), *large)]
    )


def _survey(folder, n_grid=0, seed=0, background=(BACKGROUND["A"], BACKGROUND["B"])):
    """Two overlapping 3-band tiles with simulator stamps at known positions.

    Positions are pixels of tile A (tile B's pixel x is x - SHIFT). Returns the
    tile file sets, the catalog and the expected stamp of each object (None for
    objects that no tile covers fully).
    """
    wcs_a, wcs_b = _wcs(80.0), _wcs(80.0 - SHIFT)
    positions = [
        (30.3, 40.2, "inside A"),
        (120.4, 60.3, "overlap, inside both"),
        (155.2, 30.4, "edge of A, inside B"),
        (60.3, 4.1, "edge of A only"),
        (265.3, 90.2, "edge of B only"),
        (900.0, 900.0, "off all tiles"),
    ]
    # more objects, none of whose stamps touches another's
    grid = [
        (20.3 + 24 * i, 20.2 + 22 * j, "grid")
        for j in range(8)
        for i in range(11)
        if all(
            max(abs(20.3 + 24 * i - x), abs(20.2 + 22 * j - y)) > SIZE + 1
            for x, y, _ in positions
        )
    ]
    positions += grid[:n_grid]
    X, y_labels, _, _ = make_galaxy_mergers(
        len(positions), image_size=SIZE, random_state=seed
    )
    X = X.astype(np.float32)
    planes = {
        "A": np.full((3, *SHAPE), background[0], dtype=np.float32),
        "B": np.full((3, *SHAPE), background[1], dtype=np.float32),
    }
    for stamp, (x, y, _) in zip(X, positions, strict=True):
        _paste(planes["A"], stamp, x, y)
        _paste(planes["B"], stamp, x - SHIFT, y)
    tiles = []
    for name, wcs in (("A", wcs_a), ("B", wcs_b)):
        files = []
        for band in range(3):
            path = folder / f"tile{name}_b{band}.fits"
            fits.PrimaryHDU(planes[name][band], header=wcs.to_header()).writeto(path)
            files.append(path)
        tiles.append(tuple(files))
    sky = wcs_a.pixel_to_world([p[0] for p in positions], [p[1] for p in positions])
    catalog = Table(
        {
            "object_id": [f"obj{i:03d}" for i in range(len(positions))],
            "RA": sky.ra.deg,
            "Dec": sky.dec.deg,
            "note": [p[2] for p in positions],
            "label": y_labels,
        }
    )
    return tiles, catalog, X


@pytest.fixture
def survey(tmp_path):
    return _survey(tmp_path)


def test_cutouts_equal_the_pasted_stamps_and_flags(survey):
    tiles, catalog, X = survey
    cut = cutouts_from_catalog(catalog, tiles, size=SIZE)
    assert cut.images.shape == (len(catalog), 3, SIZE, SIZE)
    assert cut.images.dtype == np.float32
    # fully inside tile A (first tile): the pasted stamp on A's background
    np.testing.assert_allclose(cut.images[0], X[0] + BACKGROUND["A"], atol=1e-5)
    # in both tiles: taken whole from the first tile that covers it, A
    np.testing.assert_allclose(cut.images[1], X[1] + BACKGROUND["A"], atol=1e-5)
    # runs off A, fully inside B: taken whole from B
    np.testing.assert_allclose(cut.images[2], X[2] + BACKGROUND["B"], atol=1e-5)
    assert cut.flags[:3].tolist() == [0, 0, 0]
    assert cut.reasons[:3] == ["", "", ""]
    assert cut.flags[3] == FLAG_EDGE and cut.flags[4] == FLAG_EDGE
    assert "edge" in cut.reasons[3]
    # an edge stamp keeps the covered pixels and is NaN off the tile
    edge = cut.images[3]
    assert np.isnan(edge).any() and np.isfinite(edge).any()
    covered = np.isfinite(edge)
    np.testing.assert_allclose(edge[covered], X[3][covered], atol=1e-5)
    assert cut.flags[5] == FLAG_OFF_TILES and "no tile" in cut.reasons[5]
    assert np.isnan(cut.images[5]).all()


def test_blank_pixels_are_flagged(survey, tmp_path):
    tiles, catalog, X = survey
    data = fits.getdata(tiles[0][0]).copy()
    header = fits.getheader(tiles[0][0])
    data[38:42, 28:32] = np.nan  # blank pixels on object 0, inside tile A
    blank = tmp_path / "blank_b0.fits"
    fits.PrimaryHDU(data, header=header).writeto(blank)
    cut = cutouts_from_catalog(catalog, [(blank, *tiles[0][1:])], size=SIZE)
    assert cut.flags[0] == FLAG_MASKED
    assert "16 NaN" in cut.reasons[0]
    assert cut.flags[1] == 0  # the other objects of the tile are unaffected
    np.testing.assert_allclose(cut.images[1], X[1] + BACKGROUND["A"], atol=1e-5)


def test_sexagesimal_and_degrees_give_the_same_cutouts(survey):
    tiles, catalog, _ = survey
    sky = SkyCoord(catalog["RA"], catalog["Dec"], unit="deg")
    text = Table(
        {
            "ra_j2000": sky.ra.to_string(unit=u.hourangle, sep=":", precision=4),
            "DEJ2000": sky.dec.to_string(unit=u.deg, sep=":", precision=3),
        }
    )
    in_degrees = cutouts_from_catalog(catalog, tiles, size=SIZE)
    in_text = cutouts_from_catalog(text, tiles, size=SIZE)
    np.testing.assert_array_equal(in_text.flags, in_degrees.flags)
    np.testing.assert_allclose(in_text.images, in_degrees.images, atol=1e-5)


def test_invalid_coordinates_are_flagged_not_fatal(survey):
    tiles, catalog, X = survey
    bad = Table(
        {
            "ra": ["10:00:00.5", "nonsense", "10:00:00", "-5", "400"],
            "dec": ["+02:00:00", "+02:00:00", "+95:00:00", "2", "2"],
        }
    )
    cut = cutouts_from_catalog(bad, tiles, size=SIZE)
    assert cut.flags[0] == 0
    assert cut.flags[1:].tolist() == [FLAG_INVALID_COORDS] * 4
    assert all(reason for reason in cut.reasons[1:])
    assert np.isnan(cut.images[1:]).all()


def test_a_truncated_tile_is_flagged_and_the_others_finish(tmp_path):
    tiles, catalog, X = _survey(tmp_path)
    # tile A's second band loses half its data
    path = tiles[0][1]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    cut = cutouts_from_catalog(catalog, tiles, size=SIZE)
    # objects fully inside B come from B
    np.testing.assert_allclose(cut.images[1], X[1] + BACKGROUND["B"], atol=1e-5)
    np.testing.assert_allclose(cut.images[2], X[2] + BACKGROUND["B"], atol=1e-5)
    assert cut.flags[1] == cut.flags[2] == 0
    # objects on A alone get the unreadable-tile flag, naming the file
    for obj in (0, 3):
        assert cut.flags[obj] == FLAG_UNREADABLE_TILE
        assert path.name in cut.reasons[obj]
        assert np.isnan(cut.images[obj]).all()
    assert cut.flags[4] == FLAG_EDGE and cut.flags[5] == FLAG_OFF_TILES


def test_catalog_files_round_trip_keep_columns_and_order(survey, tmp_path):
    tiles, catalog, _ = survey
    reference = cutouts_from_catalog(catalog, tiles, size=SIZE)
    shuffled = catalog[::-1]
    formats = ["fits", "csv"]
    try:
        import pyarrow  # noqa: F401

        formats.append("parquet")
    except ImportError:
        pass
    for extension in formats:
        path = tmp_path / f"objects.{extension}"
        write_catalog(shuffled, path)
        back = Table.read(path)
        assert back.colnames == shuffled.colnames
        assert list(back["object_id"]) == list(shuffled["object_id"])
        # the file is a catalog for cutouts too
        cut = cutouts_from_catalog(path, tiles, size=SIZE)
        np.testing.assert_array_equal(cut.flags, reference.flags[::-1])
        np.testing.assert_allclose(cut.images, reference.images[::-1], atol=1e-5)
        with pytest.raises(FileExistsError, match="overwrite=True"):
            write_catalog(shuffled, path)
        write_catalog(shuffled[:2], path, overwrite=True)
        assert len(Table.read(path)) == 2


def test_pandas_catalog(survey):
    pd = pytest.importorskip("pandas")
    tiles, catalog, _ = survey
    frame = pd.DataFrame({"ra_deg": catalog["RA"], "dec_deg": catalog["Dec"]})
    cut = cutouts_from_catalog(frame, tiles, size=SIZE)
    reference = cutouts_from_catalog(catalog, tiles, size=SIZE)
    np.testing.assert_allclose(cut.images, reference.images, atol=1e-6)


def test_parquet_without_pyarrow_names_the_package(survey, tmp_path, monkeypatch):
    import builtins

    tiles, catalog, _ = survey
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(ImportError, match="pyarrow"):
        write_catalog(catalog, tmp_path / "objects.parquet")


def test_missing_ra_column_names_the_columns_found(survey):
    tiles, catalog, _ = survey
    catalog.rename_column("RA", "x_sky")
    with pytest.raises(ValueError, match=r"right ascension.*x_sky.*Dec"):
        cutouts_from_catalog(catalog, tiles, size=SIZE)
    cut = cutouts_from_catalog(catalog, tiles, size=SIZE, ra_column="x_sky")
    assert cut.flags[0] == 0


def test_tile_errors(survey, tmp_path):
    tiles, catalog, _ = survey
    with pytest.raises(ValueError, match="different numbers of band files"):
        cutouts_from_catalog(catalog, [tiles[0], tiles[1][:2]], size=SIZE)
    with pytest.raises(ValueError, match="bands="):
        cutouts_from_catalog(catalog, tiles, size=SIZE, bands=["g", "r"])
    with pytest.raises(ValueError, match="pixel scales"):
        cutouts_from_catalog(catalog, tiles, size=SIZE, pixel_scale=0.6)
    # within 1% of the true scale is accepted
    cutouts_from_catalog(catalog, tiles, size=SIZE, pixel_scale=SCALE * 1.005)
    plain = tmp_path / "no_wcs.fits"
    fits.PrimaryHDU(np.zeros(SHAPE, dtype=np.float32)).writeto(plain)
    with pytest.raises(ValueError, match="no celestial WCS"):
        cutouts_from_catalog(catalog, [plain, plain, plain], size=SIZE)
    with pytest.raises(ValueError, match="one pixel grid"):
        cutouts_from_catalog(catalog, [tiles[0][0], tiles[1][1], tiles[0][2]])


def test_zero_row_catalog(survey, tmp_path):
    tiles, catalog, _ = survey
    empty = catalog[:0]
    cut = cutouts_from_catalog(empty, tiles, size=SIZE)
    assert cut.images.shape == (0, 3, SIZE, SIZE) and len(cut.flags) == 0
    model = SourceOnlyClassifier(max_epochs=1, validation_fraction=None)
    Xs, ys, _, _ = make_galaxy_mergers(40, image_size=SIZE, random_state=0)
    model.set_params(batch_size=20, random_state=0).fit(Xs, ys)
    table = classify_catalog(model, empty, tiles)
    assert len(table) == 0
    assert table.colnames == [
        *empty.colnames,
        "p_merger",
        "is_merger",
        "flag",
        "flag_reason",
    ]
    for extension in ("fits", "csv"):
        path = write_catalog(table, tmp_path / f"empty.{extension}")
        assert len(Table.read(path)) == 0


@pytest.mark.slow
def test_classify_catalog_ranks_pasted_mergers(tmp_path):
    from sklearn.metrics import roc_auc_score

    # no background: the stamps look like the training images on both tiles
    tiles, catalog, X = _survey(tmp_path, n_grid=80, seed=1, background=(0, 0))
    assert len(catalog) >= 80
    # 1,200 training stamps: with 400 the held-out AUC of 16x16 stamps varies
    # from about 0.59 to 0.87 between draws; with 1,200 it is about 0.78-0.84.
    Xs, ys, _, _ = make_galaxy_mergers(1200, image_size=SIZE, random_state=2)
    model = SourceOnlyClassifier(
        max_epochs=8, batch_size=32, validation_fraction=None, random_state=0
    ).fit(Xs, ys)
    table = classify_catalog(model, catalog, tiles)
    assert len(table) == len(catalog)
    assert table.colnames[: len(catalog.colnames)] == catalog.colnames
    assert list(table["object_id"]) == list(catalog["object_id"])
    assert table.meta["MODEL"] == "SourceOnlyClassifier"
    assert table.meta["SKDAMVER"] == __version__
    assert table.meta["THRESH"] == 0.5  # SourceOnly has no target threshold
    assert table.meta["NEPOCHS"] == table.meta["BESTEPOC"] == 8

    cut = cutouts_from_catalog(catalog, tiles, size=SIZE)
    good = cut.flags == 0
    np.testing.assert_array_equal(table["flag"], cut.flags)
    assert np.isnan(table["p_merger"][~good]).all()
    assert not table["is_merger"][~good].any()
    expected = model.predict_proba(cut.images[good])[:, 1]
    np.testing.assert_allclose(table["p_merger"][good], expected, rtol=1e-5)
    np.testing.assert_array_equal(table["is_merger"][good], expected >= 0.5)
    labels = np.asarray(catalog["label"])[good]
    auc = roc_auc_score(labels, np.asarray(table["p_merger"])[good])
    assert auc > 0.6, auc

    strict = classify_catalog(model, catalog, tiles, threshold=0.9)
    assert strict.meta["THRESH"] == 0.9
    np.testing.assert_array_equal(strict["is_merger"][good], expected >= 0.9)

    with pytest.raises(ValueError, match="3-band images"):
        classify_catalog(model, catalog, [tile[:2] for tile in tiles])
    clash = catalog.copy()
    clash["p_merger"] = 0.0
    with pytest.raises(ValueError, match="p_merger"):
        classify_catalog(model, clash, tiles)

    path = write_catalog(table, tmp_path / "mergers.fits")
    back = Table.read(path)
    assert back.colnames == table.colnames
    np.testing.assert_array_equal(back["flag"], table["flag"])
    assert back.meta["MODEL"] == "SourceOnlyClassifier"


def test_training_summary_names_the_fitted_values():
    from types import SimpleNamespace

    from skdamerge.catalog import training_summary

    estimate = SimpleNamespace(fraction=0.31, std=0.04, trusted=False)
    model = SimpleNamespace(
        n_epochs_=12,
        best_epoch_=9,
        n_target_samples_=1600,
        source_merger_fraction_=0.5,
        target_merger_fraction_=estimate,
    )
    assert training_summary(model) == {
        "NEPOCHS": 12,
        "BESTEPOC": 9,
        "NTARGET": 1600,
        "SRCFRAC": 0.5,
        "TGTFRAC": 0.31,
        "TGTFERR": 0.04,
        "TGTFTRST": False,
    }
    assert training_summary(SimpleNamespace(best_epoch_=3)) == {"BESTEPOC": 3}
