"""Galaxy-merger data: simulator, loaders, survey cutouts, splitting."""

from skdamerge.datasets._cutouts import (
    FLAG_EDGE,
    FLAG_INVALID_COORDS,
    FLAG_MASKED,
    FLAG_OFF_TILES,
    FLAG_RESAMPLED,
    FLAG_UNREADABLE_TILE,
    FLAGS_UNUSABLE,
    Cutouts,
    cutouts_from_catalog,
)
from skdamerge.datasets._deepmerge_files import load_deepmerge
from skdamerge.datasets._fits import load_fits_cube, load_fits_images
from skdamerge.datasets._image_folder import load_image_folder
from skdamerge.datasets._simulator import make_galaxy_mergers
from skdamerge.datasets._splitting import train_valid_test_split

__all__ = [
    "FLAG_EDGE",
    "FLAG_INVALID_COORDS",
    "FLAG_MASKED",
    "FLAG_OFF_TILES",
    "FLAG_RESAMPLED",
    "FLAG_UNREADABLE_TILE",
    "FLAGS_UNUSABLE",
    "Cutouts",
    "cutouts_from_catalog",
    "load_deepmerge",
    "load_fits_cube",
    "load_fits_images",
    "load_image_folder",
    "make_galaxy_mergers",
    "train_valid_test_split",
]
