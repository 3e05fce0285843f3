import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from skdamerge.datasets import (
    load_deepmerge,
    load_fits_cube,
    load_fits_images,
    load_image_folder,
)
from skdamerge.datasets._deepmerge_files import DEEPMERGE_FILES

ZENODO = "10.5281/zenodo.4507941"


def write_deepmerge(folder, experiment="sim2sim", n_source=6, n_target=4, rename=str):
    """Write small files with the published names (passed through ``rename``)."""
    rng = np.random.default_rng(0)
    names = DEEPMERGE_FILES[experiment]
    data = {
        "X_source": rng.random((n_source, 3, 5, 5), dtype=np.float32),
        "y_source": np.arange(n_source) % 2,
        "X_target": rng.random((n_target, 3, 5, 5), dtype=np.float32),
        "y_target": (np.arange(n_target) + 1) % 2,
    }
    for role, array in data.items():
        with open(folder / rename(names[role]), "wb") as file:
            np.save(file, array)
    return data


# ---------------------------------------------------------------- load_deepmerge


@pytest.mark.parametrize("experiment", ["sim2sim", "sim2real"])
def test_load_deepmerge_round_trip(tmp_path, experiment):
    data = write_deepmerge(tmp_path, experiment)
    X_s, y_s, X_t, y_t = load_deepmerge(tmp_path, experiment)
    np.testing.assert_array_equal(X_s, data["X_source"])
    np.testing.assert_array_equal(X_t, data["X_target"])
    np.testing.assert_array_equal(y_s, data["y_source"])
    np.testing.assert_array_equal(y_t, data["y_target"])
    assert y_s.dtype == np.int64 and y_s.ndim == 1


def test_load_deepmerge_mmap(tmp_path):
    write_deepmerge(tmp_path)
    X_s, _, X_t, _ = load_deepmerge(tmp_path, mmap=True)
    assert isinstance(X_s, np.memmap) and isinstance(X_t, np.memmap)
    assert not X_s.flags.writeable
    X_s, _, X_t, _ = load_deepmerge(tmp_path, mmap=False)
    assert not isinstance(X_s, np.memmap)


@pytest.mark.parametrize("rename", [str.lower, str.upper])
def test_load_deepmerge_matches_names_ignoring_case(tmp_path, rename):
    data = write_deepmerge(tmp_path, rename=rename)
    X_s, *_ = load_deepmerge(tmp_path)
    np.testing.assert_array_equal(X_s, data["X_source"])


def test_load_deepmerge_float_column_labels(tmp_path):
    write_deepmerge(tmp_path)
    names = DEEPMERGE_FILES["sim2sim"]
    np.save(tmp_path / names["y_source"], np.array([[1.0], [0.0]] * 3))
    _, y_s, _, _ = load_deepmerge(tmp_path)
    assert y_s.dtype == np.int64
    np.testing.assert_array_equal(y_s, [1, 0, 1, 0, 1, 0])


def test_load_deepmerge_bunch(tmp_path):
    data = write_deepmerge(tmp_path, "sim2real")
    bunch = load_deepmerge(tmp_path, "sim2real", return_bunch=True)
    np.testing.assert_array_equal(bunch.X_target, data["X_target"])
    np.testing.assert_array_equal(bunch.y_source, data["y_source"])
    assert bunch.experiment == "sim2real"
    assert bunch.filenames["X_source"].endswith("SimReal_SOURCE_X_Illustris0.npy")
    assert list(bunch.target_names) == ["non-merger", "merger"]


@pytest.mark.parametrize(
    ("experiment", "bands"),
    [("sim2real", ("i", "r", "g")), ("sim2sim", ("F814W", "F356W", "F160W"))],
)
def test_load_deepmerge_reports_the_published_band_order(tmp_path, experiment, bands):
    data = write_deepmerge(tmp_path, experiment)
    bunch = load_deepmerge(tmp_path, experiment, return_bunch=True)
    # one band order in both domains, the arrays as stored (not reordered)
    assert bunch.band_names == {"source": bands, "target": bands}
    np.testing.assert_array_equal(bunch.X_source, data["X_source"])
    assert ", ".join(bands) in bunch.DESCR


def test_load_deepmerge_missing_files_message(tmp_path):
    write_deepmerge(tmp_path)
    names = DEEPMERGE_FILES["sim2sim"]
    (tmp_path / names["X_target"]).unlink()
    (tmp_path / names["y_target"]).unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_deepmerge(tmp_path)
    message = str(info.value)
    assert names["X_target"] in message and names["y_target"] in message
    assert names["X_source"] not in message
    assert str(tmp_path) in message
    assert ZENODO in message


def test_load_deepmerge_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="zenodo.4507941"):
        load_deepmerge(tmp_path / "nowhere")


def test_load_deepmerge_unknown_experiment(tmp_path):
    with pytest.raises(ValueError, match="sim2real"):
        load_deepmerge(tmp_path, "real2real")


def test_load_deepmerge_bad_shapes(tmp_path):
    write_deepmerge(tmp_path)
    names = DEEPMERGE_FILES["sim2sim"]
    np.save(tmp_path / names["y_source"], np.zeros(5))
    with pytest.raises(ValueError, match="6 images but .* 5 labels"):
        load_deepmerge(tmp_path)
    np.save(tmp_path / names["X_source"], np.zeros((6, 5, 5)))
    with pytest.raises(ValueError, match="4-D"):
        load_deepmerge(tmp_path)
    np.save(tmp_path / names["X_source"], np.zeros((6, 5, 5, 3)))
    with pytest.raises(ValueError, match="moveaxis"):
        load_deepmerge(tmp_path)


def test_load_deepmerge_non_binary_labels(tmp_path):
    write_deepmerge(tmp_path)
    np.save(tmp_path / DEEPMERGE_FILES["sim2sim"]["y_target"], np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="other than 0 and 1"):
        load_deepmerge(tmp_path)


# ------------------------------------------------------------------------- FITS


def test_load_fits_cube_round_trip(tmp_path):
    X = np.random.default_rng(1).normal(size=(4, 3, 6, 5)).astype(np.float32)
    fits.writeto(tmp_path / "cube.fits", X)
    out = load_fits_cube(tmp_path / "cube.fits")
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, X)


def test_load_fits_cube_adds_channel_axis_and_reads_named_hdu(tmp_path):
    X = np.arange(4 * 6 * 6, dtype=np.float32).reshape(4, 6, 6)
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(X, name="IMAGES")])
    hdus.writeto(tmp_path / "cube.fits")
    out = load_fits_cube(tmp_path / "cube.fits", hdu="IMAGES")
    assert out.shape == (4, 1, 6, 6)
    np.testing.assert_array_equal(out[:, 0], X)
    with pytest.raises(ValueError, match="no image data"):
        load_fits_cube(tmp_path / "cube.fits")
    with pytest.raises(ValueError, match="no HDU 'NOPE'"):
        load_fits_cube(tmp_path / "cube.fits", hdu="NOPE")


def test_load_fits_cube_corrupt_file_is_named(tmp_path):
    path = tmp_path / "broken.fits"
    path.write_bytes(b"not a fits file" * 200)
    with pytest.raises(OSError, match="broken.fits"):
        load_fits_cube(path)
    fits.writeto(tmp_path / "good.fits", np.ones((2, 3, 20, 20), np.float32))
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes((tmp_path / "good.fits").read_bytes()[:4000])
    with pytest.raises(OSError, match="truncated.fits"):
        load_fits_cube(truncated)
    with pytest.raises(FileNotFoundError, match="absent.fits"):
        load_fits_cube(tmp_path / "absent.fits")


def test_load_fits_images_one_cube_per_object(tmp_path):
    rng = np.random.default_rng(2)
    images = {name: rng.random((3, 5, 5), dtype=np.float32) for name in "cab"}
    for name, image in images.items():
        fits.writeto(tmp_path / f"{name}.fits", image)
    X, ids = load_fits_images(tmp_path)
    assert list(ids) == ["a", "b", "c"]
    np.testing.assert_array_equal(X, np.stack([images[k] for k in "abc"]))
    X, ids = load_fits_images([tmp_path / "c.fits", tmp_path / "a.fits"])
    assert list(ids) == ["c", "a"]
    np.testing.assert_array_equal(X[0], images["c"])


def test_load_fits_images_multi_extension_per_object(tmp_path):
    planes = np.random.default_rng(3).random((3, 4, 4), dtype=np.float32)
    extensions = [fits.ImageHDU(p, name=b) for p, b in zip(planes, "gri", strict=True)]
    hdus = [fits.PrimaryHDU(), *extensions]
    fits.HDUList(hdus).writeto(tmp_path / "obj1.fits")
    X, ids = load_fits_images(tmp_path)
    assert X.shape == (1, 3, 4, 4) and list(ids) == ["obj1"]
    np.testing.assert_array_equal(X[0], planes)
    X, _ = load_fits_images(tmp_path, hdu="R")
    np.testing.assert_array_equal(X[0, 0], planes[1])


def test_load_fits_images_one_file_per_band(tmp_path):
    rng = np.random.default_rng(4)
    truth = {}
    for obj in ("J1+2", "J0-1"):
        for band in "girz":
            plane = rng.random((5, 5), dtype=np.float32)
            truth[obj, band] = plane
            fits.writeto(tmp_path / f"{obj}_{band}.fits", plane)
    (tmp_path / "notes.txt").write_text("ignored")
    fits.writeto(tmp_path / "catalogue.fits", np.zeros((2, 2), np.float32))
    X, ids = load_fits_images(tmp_path, bands=["i", "r", "g"])
    assert list(ids) == ["J0-1", "J1+2"]
    assert X.shape == (2, 3, 5, 5)
    for k, obj in enumerate(ids):
        for c, band in enumerate("irg"):
            np.testing.assert_array_equal(X[k, c], truth[obj, band])


def test_load_fits_images_custom_pattern_and_missing_band(tmp_path):
    for band in ("g", "r"):
        fits.writeto(tmp_path / f"{band}-obj7.fits.gz", np.ones((3, 3), np.float32))
    X, ids = load_fits_images(tmp_path, bands=["g", "r"], pattern="{band}-{object}")
    assert X.shape == (1, 2, 3, 3) and list(ids) == ["obj7"]
    with pytest.raises(ValueError, match=r"'obj7' has no file for band\(s\) \['i'\]"):
        load_fits_images(tmp_path, bands=["g", "r", "i"], pattern="{band}-{object}")


def test_load_fits_images_errors(tmp_path):
    fits.writeto(tmp_path / "a.fits", np.ones((3, 4, 4), np.float32))
    fits.writeto(tmp_path / "b.fits", np.ones((3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="b.fits"):
        load_fits_images(tmp_path)
    (tmp_path / "b.fits").write_bytes(b"garbage" * 500)
    with pytest.raises(OSError, match="b.fits"):
        load_fits_images(tmp_path)
    with pytest.raises(FileNotFoundError, match="absent.fits"):
        load_fits_images(tmp_path / "absent.fits")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No FITS files"):
        load_fits_images(tmp_path / "empty")


# ---------------------------------------------------------------- image folders


def save_rgb(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode="RGB").save(path)


def test_load_image_folder_png_subfolders(tmp_path):
    rng = np.random.default_rng(5)
    arrays = {}
    for name in ("merger/m2.png", "merger/m1.png", "nonmerger/n1.png"):
        arrays[name] = rng.integers(0, 256, size=(8, 8, 3))
        save_rgb(tmp_path / name, arrays[name])
    X, y, ids = load_image_folder(tmp_path, size=8)
    assert list(ids) == ["merger/m1.png", "merger/m2.png", "nonmerger/n1.png"]
    np.testing.assert_array_equal(y, [1, 1, 0])
    assert X.shape == (3, 3, 8, 8) and X.dtype == np.float32
    for k, name in enumerate(ids):
        expected = arrays[name].transpose(2, 0, 1) / 255
        np.testing.assert_allclose(X[k], expected, atol=1e-6)


def test_load_image_folder_jpeg_resized(tmp_path):
    yy, xx = np.mgrid[0:100, 0:100]
    smooth = np.stack([xx * 2.0, yy * 2.0, np.full_like(xx, 128.0)], axis=-1)
    save_rgb(tmp_path / "Mergers" / "a.jpg", smooth)
    save_rgb(tmp_path / "non-mergers" / "b.JPEG", np.full((60, 60, 3), 200))
    X, y, ids = load_image_folder(tmp_path, size=25)
    assert X.shape == (2, 3, 25, 25)
    np.testing.assert_array_equal(y, [1, 0])
    assert X.min() >= 0 and X.max() <= 1
    np.testing.assert_allclose(X[1], 200 / 255, atol=0.02)
    assert X[0, 2].mean() == pytest.approx(128 / 255, abs=0.03)
    assert X[0, 0, :, -1].mean() > X[0, 0, :, 0].mean() + 0.5  # x gradient in red


def test_load_image_folder_class_names(tmp_path):
    save_rgb(tmp_path / "spirals" / "s.png", np.zeros((4, 4, 3)))
    save_rgb(tmp_path / "pairs" / "p.png", np.zeros((4, 4, 3)))
    save_rgb(tmp_path / "unsure" / "u.png", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="class_names"):
        load_image_folder(tmp_path, size=4)
    _, y, ids = load_image_folder(tmp_path, size=4, class_names=["spirals", "pairs"])
    assert list(ids) == ["pairs/p.png", "spirals/s.png"]
    np.testing.assert_array_equal(y, [1, 0])
    _, y, _ = load_image_folder(tmp_path, size=4, class_names={"Pairs": 0, "unsure": 1})
    np.testing.assert_array_equal(y, [0, 1])


def test_load_image_folder_csv_labels(tmp_path):
    for name in ("b", "a", "c", "unlisted"):
        save_rgb(tmp_path / f"{name}.png", np.zeros((4, 4, 3)))
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("objid,is_merger,extra\nb,1,x\na.png,merger,y\nc,0,z\n")
    X, y, ids = load_image_folder(tmp_path, size=4, labels=csv_path)
    assert list(ids) == ["a.png", "b.png", "c.png"]
    np.testing.assert_array_equal(y, [1, 1, 0])
    csv_path.write_text("objid,is_merger\nb,1\nmissing,0\n")
    with pytest.raises(FileNotFoundError, match="missing"):
        load_image_folder(tmp_path, size=4, labels=csv_path)


def test_load_image_folder_unlabelled_and_greyscale(tmp_path):
    Image.fromarray(np.full((6, 6), 51, np.uint8), mode="L").save(tmp_path / "g.png")
    save_rgb(tmp_path / "sub" / "c.png", np.zeros((6, 6, 3)))
    X, y, ids = load_image_folder(tmp_path, size=6, labels=None)
    assert y is None and list(ids) == ["g.png", "sub/c.png"]
    np.testing.assert_allclose(X[0], 0.2, atol=1e-6)


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image_folder(tmp_path / "absent")
    (tmp_path / "merger").mkdir()
    with pytest.raises(FileNotFoundError, match="No images"):
        load_image_folder(tmp_path)
    (tmp_path / "merger" / "bad.jpg").write_bytes(b"no jpeg here")
    with pytest.raises(OSError, match="bad.jpg"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match="size"):
        load_image_folder(tmp_path, size=0)


def test_load_image_folder_csv_duplicates(tmp_path):
    save_rgb(tmp_path / "a.png", np.zeros((4, 4, 3)))
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("file,label\na,1\na.png,0\n")
    with pytest.raises(ValueError, match="twice.*a.png"):
        load_image_folder(tmp_path, size=4, labels=csv_path)
