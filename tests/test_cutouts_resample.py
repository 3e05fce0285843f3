"""Stamps resampled from tiles at another pixel scale (``resample=True``)."""

import numpy as np
import pytest

pytest.importorskip("astropy")
pytest.importorskip("reproject")

from astropy.io import fits  # noqa: E402
from astropy.table import Table  # noqa: E402
from astropy.wcs import WCS  # noqa: E402
from cli_support import assert_one_line_error, make_images, run  # noqa: E402

from skdamerge import SourceOnlyClassifier  # noqa: E402
from skdamerge.catalog import classify_catalog  # noqa: E402
from skdamerge.datasets import (  # noqa: E402
    FLAG_EDGE,
    FLAG_RESAMPLED,
    cutouts_from_catalog,
)

SCALE = 0.5  # arcsec/pixel of the training images
SIZE = 15  # odd: an object on a pixel centre is the stamp's centre
SIDE = 120  # pixels of the reference tile; the fine tile has twice as many
CENTRES = [(40.0, 50.0), (75.0, 62.0), (58.0, 30.0)]  # blobs, reference pixels


def _wcs(scale: float, crpix: float) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [crpix, crpix]
    wcs.wcs.cdelt = [-scale / 3600.0, scale / 3600.0]
    return wcs


REFERENCE = _wcs(SCALE, 60.5)
# pixel (60.5, 60.5) of the reference tile is pixel (120.5, 120.5) of the fine one
FINE = _wcs(SCALE / 2, 120.5)


def _sky_image(wcs: WCS, side: int, band: int) -> np.ndarray:
    """Smooth blobs, defined on the sky, sampled at the pixel centres of ``wcs``."""
    y, x = np.mgrid[:side, :side].astype(float)
    sky = wcs.pixel_to_world(x, y)
    image = np.full((side, side), 0.1 * band)
    for cx, cy in CENTRES:
        centre = REFERENCE.pixel_to_world(cx, cy)
        distance = sky.separation(centre).arcsec / SCALE  # in reference pixels
        image += np.exp(-(distance**2) / (2 * 4.0**2))
    return image.astype(np.float32)


@pytest.fixture
def two_scales(tmp_path):
    """The same sky on a tile at SCALE and on a tile at SCALE / 2, 3 bands each."""
    tiles = {}
    for name, wcs, side in (("ref", REFERENCE, SIDE), ("fine", FINE, 2 * SIDE)):
        files = []
        for band in range(3):
            path = tmp_path / f"{name}_b{band}.fits"
            data = _sky_image(wcs, side, band)
            fits.PrimaryHDU(data, header=wcs.to_header()).writeto(path)
            files.append(path)
        tiles[name] = tuple(files)
    positions = [*CENTRES, (60.0, 60.0), (3.0, 60.0)]  # the last one at the edge
    sky = REFERENCE.pixel_to_world(*np.array(positions).T)
    catalog = Table({"ra": sky.ra.deg, "dec": sky.dec.deg})
    return tiles, catalog


def test_resampled_stamps_equal_the_stamps_at_the_right_scale(two_scales):
    tiles, catalog = two_scales
    reference = cutouts_from_catalog(
        catalog, tiles["ref"], size=SIZE, pixel_scale=SCALE
    )
    resampled = cutouts_from_catalog(
        catalog, tiles["fine"], size=SIZE, pixel_scale=SCALE, resample=True
    )
    assert resampled.images.shape == reference.images.shape
    assert reference.flags.tolist() == [0, 0, 0, 0, FLAG_EDGE]
    assert resampled.flags.tolist() == [FLAG_RESAMPLED] * 4 + [
        FLAG_EDGE | FLAG_RESAMPLED
    ]
    assert "resampled from 0.25 to 0.5 arcsec/pixel" in resampled.reasons[0]
    assert resampled.reasons[4].startswith("stamp runs off the edge")
    # bilinear interpolation of the finer sampling of the same smooth sky
    np.testing.assert_allclose(
        resampled.images[:4], reference.images[:4], atol=0.02, rtol=0
    )
    # a tile at the right scale is cut as before, not resampled
    same = cutouts_from_catalog(
        catalog, tiles["ref"], size=SIZE, pixel_scale=SCALE, resample=True
    )
    np.testing.assert_array_equal(same.images, reference.images)
    np.testing.assert_array_equal(same.flags, reference.flags)


def test_resample_is_explicit(two_scales):
    tiles, catalog = two_scales
    with pytest.raises(ValueError, match="resample=True"):
        cutouts_from_catalog(catalog, tiles["fine"], size=SIZE, pixel_scale=SCALE)
    with pytest.raises(ValueError, match="needs pixel_scale"):
        cutouts_from_catalog(catalog, tiles["fine"], size=SIZE, resample=True)


def test_resampled_objects_are_classified(two_scales):
    tiles, catalog = two_scales
    X, y = make_images(40, seed=0, size=SIZE)
    model = SourceOnlyClassifier(
        max_epochs=1, batch_size=20, validation_fraction=None, random_state=0
    ).fit(X, y)
    table = classify_catalog(
        model, catalog, tiles["fine"], pixel_scale=SCALE, resample=True
    )
    cut = cutouts_from_catalog(
        catalog, tiles["fine"], size=SIZE, pixel_scale=SCALE, resample=True
    )
    np.testing.assert_array_equal(table["flag"], cut.flags)
    expected = model.predict_proba(cut.images[:4])[:, 1]
    np.testing.assert_allclose(table["p_merger"][:4], expected, rtol=1e-5)
    assert np.isnan(table["p_merger"][4])  # at the edge: not classified


def test_predict_resample_option(capsys, two_scales, tmp_path):
    tiles, catalog = two_scales
    catalog.write(tmp_path / "objects.csv")
    X, y = make_images(40, seed=0, size=SIZE)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    status, _, err = run(
        capsys, "fit", "--source", tmp_path / "X.npy", "--labels",
        tmp_path / "y.npy", "--method", "source-only", "--param", "max_epochs=1",
        "--param", "validation_fraction=None", "--device", "cpu", "--threads", "1",
        "--quiet", "--model", tmp_path / "m.skdm",
    )  # fmt: skip
    assert status == 0, err
    command = [
        "predict", "--model", tmp_path / "m.skdm", "--catalog",
        tmp_path / "objects.csv", "--images", *tiles["fine"], "--quiet",
        "--threads", "1", "--out", tmp_path / "out.fits",
    ]  # fmt: skip
    status, _, err = run(capsys, *command, "--pixel-scale", str(SCALE))
    assert_one_line_error(status, err, "--images", "pixel scales", "resample")
    status, _, err = run(capsys, *command, "--resample")
    assert_one_line_error(status, err, "--resample", "--pixel-scale")
    status, out, err = run(capsys, *command, "--pixel-scale", str(SCALE), "--resample")
    assert status == 0, err
    assert "classified 4 of 5 objects" in out and "5 resampled" in out
    table = Table.read(tmp_path / "out.fits")
    assert [int(f) for f in table["flag"]] == [FLAG_RESAMPLED] * 4 + [
        FLAG_EDGE | FLAG_RESAMPLED
    ]
