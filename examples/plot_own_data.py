"""
=================
Your own data
=================

skdamerge works on NumPy arrays of shape ``(n_samples, channels, height, width)``.
:mod:`skdamerge.datasets` reads the formats such images usually come in:

* the published DeepMerge II files (Zenodo record 10.5281/zenodo.4507941), with
  :func:`~skdamerge.datasets.load_deepmerge`;
* FITS files, one per object or one per object and band, with
  :func:`~skdamerge.datasets.load_fits_images`, or a cube of many objects with
  :func:`~skdamerge.datasets.load_fits_cube`;
* folders of JPEG or PNG cutouts, such as those of the SDSS cutout server, with
  :func:`~skdamerge.datasets.load_image_folder`.

Nothing is downloaded. To run anywhere, this example first writes small files of
each kind into a temporary folder (from the built-in simulator), then reads them
back as you would read your own, and trains and applies a model. Reading FITS
files needs astropy and image folders Pillow (``pip install "skdamerge[io]"``).
"""

# %%
# Some images to write
# --------------------
import tempfile
from pathlib import Path

import numpy as np

from skdamerge.datasets import make_galaxy_mergers

folder = Path(tempfile.mkdtemp(prefix="skdamerge-own-data-"))
X_pristine, y_pristine, X_noisy, y_noisy = make_galaxy_mergers(
    600, image_size=32, random_state=0
)

# %%
# The published DeepMerge II files
# --------------------------------
# Each experiment is four ``.npy`` files: source and target images
# ``(n, 3, 75, 75)`` and labels. Here they hold simulated stand-ins under the
# published names; with the real download, point ``load_deepmerge`` at its folder.
from skdamerge.datasets import load_deepmerge

zenodo = folder / "deepmerge2"
zenodo.mkdir()
np.save(zenodo / "SimSim_SOURCE_X_Illustris2_pristine.npy", X_pristine)
np.save(zenodo / "SimSim_SOURCE_y_Illustris2_pristine.npy", y_pristine)
np.save(zenodo / "SimSim_TARGET_X_Illustris2_noisy.npy", X_noisy)
np.save(zenodo / "SimSim_TARGET_y_Illustris2_noisy.npy", y_noisy)

X_source, y_source, X_target, y_target = load_deepmerge(zenodo, "sim2sim")
print(type(X_source).__name__, X_source.shape, y_source[:10])

# %%
# The images come memory-mapped (``mmap=True``, the default): they are read from
# disk only when used, so the full data sets need not fit in memory.
# :func:`~skdamerge.datasets.train_valid_test_split` makes the paper's 70/10/20
# split, reading only the rows of each part. It keeps each galaxy's pristine and
# noisy images in the same part (``paired="auto"`` detects the twins: equal labels
# row by row), so that no target test galaxy has its labelled twin in training.
from skdamerge.datasets import train_valid_test_split

split = train_valid_test_split(X_source, y_source, X_target, y_target, random_state=0)
print("split as pairs:", split.paired)
print({key: value.shape for key, value in split.items() if key.startswith("X_")})

# %%
# FITS files
# ----------
# Telescope cutouts often come as FITS files. Two layouts are common: one file per
# object holding all bands (a cube or one extension per band), and one file per
# object and band. Here are twenty objects in each layout, and the same objects as
# a single cube.
from astropy.io import fits

from skdamerge.datasets import load_fits_cube, load_fits_images

telescope = X_noisy[:20]
ids = [f"J{1000 + i:04d}+0532" for i in range(len(telescope))]

per_object = folder / "fits_per_object"
per_object.mkdir()
for object_id, image in zip(ids, telescope, strict=True):
    fits.PrimaryHDU(image).writeto(per_object / f"{object_id}.fits")

per_band = folder / "fits_per_band"
per_band.mkdir()
for object_id, image in zip(ids, telescope, strict=True):
    for band, plane in zip("gri", image, strict=True):
        fits.PrimaryHDU(plane).writeto(per_band / f"{object_id}_{band}.fits")

fits.PrimaryHDU(telescope).writeto(folder / "cutouts.fits")

X_a, ids_a = load_fits_images(per_object)
X_b, ids_b = load_fits_images(per_band, bands=["g", "r", "i"])
X_c = load_fits_cube(folder / "cutouts.fits")
print(X_a.shape, ids_a[:3])
print(
    "same images in every layout:", np.array_equal(X_a, X_b), np.array_equal(X_a, X_c)
)

# %%
# A folder of JPEG or PNG cutouts
# -------------------------------
# Colour cutouts are 8-bit images with a non-linear stretch. With one subfolder per
# class, the folder names give the labels (``mergers`` and ``non-mergers``, and
# common variants); a CSV file of file names and labels works too, and
# ``labels=None`` reads unlabelled images.
from PIL import Image

from skdamerge.datasets import load_image_folder

cutouts = folder / "sdss_cutouts"
for label, name in [(1, "mergers"), (0, "non-mergers")]:
    (cutouts / name).mkdir(parents=True)
    for index in np.flatnonzero(y_noisy[:40] == label):
        rgb = np.arcsinh(np.clip(X_noisy[index], 0, None)).transpose(1, 2, 0)
        rgb = (255 * rgb / rgb.max()).astype(np.uint8)
        Image.fromarray(rgb).save(cutouts / name / f"object{index:03d}.png")

X_png, y_png, files = load_image_folder(cutouts, size=32)
print(X_png.shape, X_png.dtype, f"[{X_png.min():.1f}, {X_png.max():.1f}]", files[:2])

# %%
# Train on one format, apply to another
# -------------------------------------
# The model learns from the labelled source files and the unlabelled target
# images, then classifies the objects read from the FITS files. The FITS images
# here are target-domain images, so the same preprocessing (fitted on the source)
# and the adapted model apply to them.
from skdamerge import MMDClassifier
from skdamerge.pipeline import make_da_pipeline
from skdamerge.preprocessing import ArcsinhStretch, ChannelStandardizer

model = make_da_pipeline(
    ArcsinhStretch(),
    ChannelStandardizer(),
    MMDClassifier(max_epochs=8, batch_size=64, random_state=0),
)
model.fit(split.X_source_train, split.y_source_train, X_target=split.X_target_train)

p_merger = model.predict_proba(X_a)[:, 1]
for object_id, p in list(zip(ids_a, p_merger, strict=True))[:5]:
    print(f"{object_id}: P(merger) = {p:.2f}")

# %%
# Images from every reader
# ------------------------
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 4, figsize=(9, 2.6), layout="constrained")
panels = [
    (X_source[0, 1], "load_deepmerge (source)"),
    (X_a[0, 1], f"load_fits_images\n{ids_a[0]}"),
    (X_c[0, 1], "load_fits_cube"),
    (X_png[0].transpose(1, 2, 0), f"load_image_folder\n{files[0]}"),
]
for ax, (image, title) in zip(axes, panels, strict=True):
    if image.ndim == 2:
        ax.imshow(np.arcsinh(image), cmap="gray")
    else:
        ax.imshow(image)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()

# %%
# Two things to check with real data: both domains must have the same image size
# and band order (use :class:`~skdamerge.preprocessing.ResizeImages` or
# :class:`~skdamerge.preprocessing.CenterCrop`, and reorder channels), and they
# should be on comparable intensity scales: 8-bit cutouts in [0, 1] and fluxes in
# physical units are not (see :ref:`data`).

# %%
# Remove the temporary files.
import shutil

del X_source, X_target
shutil.rmtree(folder)
