"""Readers for FITS images: one cube of many objects, or one file per object/band.

Band order
----------
skdamerge orders channels blue to red (shortest wavelength first), e.g.
``(g, r, i)``, as :func:`~skdamerge.datasets.make_galaxy_mergers` emits them; the
source and the target must hold the same band in each channel. FITS files carry no
agreed band order, so these readers do not reorder anything:

* :func:`load_fits_images` with ``bands``: channel ``k`` is ``bands[k]``, the order
  you pass. Pass the bands blue to red, e.g. ``bands=["g", "r", "i"]``.
* :func:`load_fits_images` without ``bands`` and :func:`load_fits_cube`: channels
  come in the order stored in the files (HDU order, or the cube's channel axis).
  Check it (e.g. the ``FILTER`` or ``BAND`` header keywords) and reorder if needed:
  ``X[:, ::-1]`` reverses red-to-blue images, ``X[:, order]`` applies any order.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from numbers import Integral
from pathlib import Path

import numpy as np

from .._param_validation import validate_params

__all__ = ["load_fits_cube", "load_fits_images"]

FITS_SUFFIXES = (".fits", ".fit", ".fts")
_GZIP = ".gz"

# Everything astropy raises on a missing SIMPLE card, a truncated data unit, a bad
# header or an HDU that does not exist.
_READ_ERRORS = (OSError, ValueError, TypeError, IndexError, KeyError, EOFError)


def _fits_module():
    try:
        from astropy.io import fits
    except ImportError as exc:  # pragma: no cover - astropy is installed in tests
        raise ImportError(
            "Reading FITS files needs astropy: pip install astropy "
            "(or pip install 'skdamerge[io]')."
        ) from exc
    return fits


def _fits_stem(path: Path) -> str | None:
    """File name without its FITS suffix, or None if it is not a FITS file name."""
    name = path.name
    lower = name.lower()
    if lower.endswith(_GZIP):
        name, lower = name[: -len(_GZIP)], lower[: -len(_GZIP)]
    for suffix in FITS_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _read_image_hdus(path: Path, hdu: int | str | None, dtype) -> list[np.ndarray]:
    """Read the chosen HDU, or every image HDU that holds data, as arrays."""
    fits = _fits_module()
    if not path.is_file():
        raise FileNotFoundError(f"FITS file {str(path)!r} does not exist.")
    with warnings.catch_warnings():
        # A truncated file is an error naming the file, not a warning.
        warnings.filterwarnings("error", message="File may have been truncated")
        try:
            hdul = fits.open(path, memmap=False, lazy_load_hdus=False)
        except (*_READ_ERRORS, Warning) as exc:
            raise OSError(f"Could not read FITS file {str(path)!r}: {exc}") from exc
        with hdul:
            if hdu is None:
                chosen = [h for h in hdul if getattr(h, "is_image", False)]
            else:
                try:
                    chosen = [hdul[hdu]]
                except (IndexError, KeyError) as exc:
                    raise ValueError(
                        f"FITS file {str(path)!r} has no HDU {hdu!r}; its HDUs are "
                        f"{[h.name for h in hdul]} (pass an index or an EXTNAME)."
                    ) from exc
            try:
                data = [h.data for h in chosen]
                arrays = [np.array(d, dtype=dtype) for d in data if d is not None]
            except (*_READ_ERRORS, Warning) as exc:
                raise OSError(f"Could not read FITS file {str(path)!r}: {exc}") from exc
    if not arrays:
        which = f"HDU {hdu!r}" if hdu is not None else "any HDU"
        raise ValueError(
            f"FITS file {str(path)!r} holds no image data in {which}; pass the "
            "HDU that holds the images as `hdu`."
        )
    return arrays


#: A NumPy data type: a scalar type (``np.float32``), its name or a ``np.dtype``.
_DTYPE = [type, str, np.dtype]


@validate_params(
    {
        "path": [str, os.PathLike],
        "hdu": [Integral, str],
        "dtype": _DTYPE,
    },
    prefer_skip_nested_validation=True,
)
def load_fits_cube(
    path: str | os.PathLike, *, hdu: int | str = 0, dtype=np.float32
) -> np.ndarray:
    """Load a cube of galaxy images stored in one FITS file.

    Channels come in the order of the cube's channel axis (``NAXIS3``), not
    reordered; skdamerge expects them blue to red (shortest wavelength first), so
    reverse a red-to-blue cube with ``X[:, ::-1]``.

    Parameters
    ----------
    path : str or path-like
        FITS file (``.fits``, ``.fit``, ``.fts``, optionally gzipped).
    hdu : int or str, default=0
        Index or EXTNAME of the HDU that holds the cube.
    dtype : dtype, default=np.float32
        Data type of the returned array. ``BSCALE``/``BZERO`` are applied.

    Returns
    -------
    X : ndarray of shape (n_samples, channels, height, width)
        The images. Shapes are in NumPy order, the reverse of the FITS ``NAXISn``
        order: a cube with ``NAXIS1 = width``, ``NAXIS2 = height``,
        ``NAXIS3 = channels`` and ``NAXIS4 = n_samples`` (what
        ``astropy.io.fits.writeto(path, X)`` writes for the array above). A 3-D
        cube ``(n_samples, height, width)`` is read as single-band images and a
        channel axis is added: ``(n_samples, 1, height, width)``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    OSError
        If the file cannot be read as FITS (the message names the file).
    ValueError
        If the HDU does not exist, holds no data, or is not 3-D or 4-D.

    Examples
    --------
    >>> from skdamerge.datasets import load_fits_cube
    >>> X = load_fits_cube("cutouts.fits")  # doctest: +SKIP
    """
    path = Path(path)
    (X,) = _read_image_hdus(path, hdu, dtype)
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4:
        raise ValueError(
            f"HDU {hdu!r} of {str(path)!r} has shape {X.shape}; expected a cube "
            "(n_samples, channels, height, width) or (n_samples, height, width). "
            "For one image per file use load_fits_images."
        )
    return X


def _list_fits(paths_or_dir: str | os.PathLike | Iterable) -> tuple[list[Path], bool]:
    """FITS files of a folder (sorted) or the given paths (in order)."""
    if isinstance(paths_or_dir, (str, os.PathLike)):
        folder = Path(paths_or_dir)
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if _fits_stem(p) is not None)
            if not files:
                raise FileNotFoundError(
                    f"No FITS files ({', '.join(FITS_SUFFIXES)}, optionally .gz) "
                    f"in folder {str(folder)!r}."
                )
            return files, True
        return [folder], False
    files = [Path(p) for p in paths_or_dir]
    if not files:
        raise ValueError("`paths_or_dir` is an empty list of files.")
    return files, False


def _object_image(path: Path, hdu, dtype) -> np.ndarray:
    """One object's image ``(channels, height, width)`` from its own file."""
    arrays = _read_image_hdus(path, hdu, dtype)
    if len(arrays) == 1:
        (image,) = arrays
        if image.ndim == 2:
            image = image[None]
        if image.ndim == 3:
            return image
    elif all(a.ndim == 2 and a.shape == arrays[0].shape for a in arrays):
        return np.stack(arrays)
    raise ValueError(
        f"FITS file {str(path)!r} holds image HDUs of shapes "
        f"{[a.shape for a in arrays]}; expected one (channels, height, width) or "
        "(height, width) image, or several (height, width) extensions of equal "
        "shape (one per band). Choose one HDU with `hdu`."
    )


def _band_image(path: Path, hdu, dtype) -> np.ndarray:
    arrays = _read_image_hdus(path, hdu, dtype)
    image = arrays[0] if hdu is not None or len(arrays) == 1 else None
    if image is not None and image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image is None or image.ndim != 2:
        raise ValueError(
            f"FITS file {str(path)!r} should hold one 2-D image (one band of one "
            f"object) but holds HDUs of shapes {[a.shape for a in arrays]}. "
            "Choose one HDU with `hdu`."
        )
    return image


def _pattern_regex(pattern: str, bands: Sequence[str]) -> re.Pattern:
    if pattern.count("{object}") != 1 or pattern.count("{band}") != 1:
        raise ValueError(
            f"pattern={pattern!r} must contain '{{object}}' and '{{band}}' once "
            "each, e.g. '{object}_{band}'."
        )
    alternatives = "|".join(re.escape(b) for b in sorted(bands, key=len, reverse=True))
    parts = re.split(r"(\{object\}|\{band\})", pattern)
    regex = "".join(
        "(?P<object>.+?)"
        if part == "{object}"
        else f"(?P<band>{alternatives})"
        if part == "{band}"
        else re.escape(part)
        for part in parts
    )
    return re.compile(regex)


def _stack(images: list[np.ndarray], sources: list[str]) -> np.ndarray:
    shape = images[0].shape
    for image, source in zip(images, sources, strict=True):
        if image.shape != shape:
            raise ValueError(
                f"{source} has an image of shape {image.shape}, but {sources[0]} has "
                f"{shape}; all objects must have the same shape (crop or resize "
                "them first)."
            )
    return np.stack(images)


@validate_params(
    {
        "paths_or_dir": [str, os.PathLike, Iterable],
        "bands": ["array-like", None],
        "pattern": [str],
        "hdu": [Integral, str, None],
        "dtype": _DTYPE,
    },
    prefer_skip_nested_validation=True,
)
def load_fits_images(
    paths_or_dir: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    bands: Sequence[str] | None = None,
    pattern: str = "{object}_{band}",
    hdu: int | str | None = None,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Load galaxy images stored as one FITS file per object or per object and band.

    Two layouts are read. Channels are not reordered: pass ``bands`` blue to red
    (skdamerge's convention, the order of
    :func:`~skdamerge.datasets.make_galaxy_mergers`), or reorder ``X`` afterwards.

    * ``bands=None``: **one file per object**. The file holds either one image HDU
      of shape ``(channels, height, width)`` (or ``(height, width)``, read as one
      band), or several 2-D image extensions of equal shape, one per band, stacked
      as channels in HDU order. Empty HDUs (such as the primary HDU of a
      multi-extension file) are skipped. The object id is the file name without
      its FITS suffix.
    * ``bands=["g", "r", "i"]``: **one file per object and band**, named by
      ``pattern`` (default ``"{object}_{band}"``, e.g. ``J1012+0532_g.fits``).
      Channel ``k`` is ``bands[k]``: the channels follow the order of ``bands``,
      whatever the order of the files. In a folder, files whose name does
      not match the pattern for one of ``bands`` are ignored; an object that lacks
      one of the bands is an error.

    Parameters
    ----------
    paths_or_dir : str, path-like or iterable of them
        A folder (its ``.fits``/``.fit``/``.fts`` files, optionally gzipped, are
        read in sorted order, not recursively) or a list of files (read in the
        order given; with ``bands``, objects in the order of their first file).
    bands : sequence of str, optional
        Band names for the one-file-per-band layout, in the channel order wanted:
        blue to red, e.g. ``["g", "r", "i"]``.
    pattern : str, default="{object}_{band}"
        File name, without the FITS suffix, of one band of one object; must hold
        ``{object}`` and ``{band}`` once each. Used only with ``bands``.
    hdu : int or str, optional
        Read only this HDU (index or EXTNAME) of every file. By default every
        image HDU with data is read, as described above.
    dtype : dtype, default=np.float32
        Data type of the returned images.

    Returns
    -------
    X : ndarray of shape (n_objects, channels, height, width)
        The images.
    object_ids : ndarray of str of shape (n_objects,)
        The object id of each image.

    Raises
    ------
    FileNotFoundError
        If a file or the folder does not exist, or the folder holds no FITS file.
    OSError
        If a file cannot be read as FITS (the message names the file).
    ValueError
        If files do not match the layout, shapes differ between objects, or an
        object lacks a band.

    See Also
    --------
    load_fits_cube : Many objects in one FITS cube.

    Examples
    --------
    >>> from skdamerge.datasets import load_fits_images
    >>> X, ids = load_fits_images("cutouts/", bands=["g", "r", "i"])  # doctest: +SKIP
    """
    files, from_folder = _list_fits(paths_or_dir)

    if bands is None:
        ids, images = [], []
        for path in files:
            stem = _fits_stem(path)
            ids.append(stem if stem is not None else path.name)
            images.append(_object_image(path, hdu, dtype))
        return _stack(images, [str(p) for p in files]), np.array(ids, dtype=str)

    bands = [str(b) for b in bands]
    if not bands or len(set(bands)) != len(bands):
        raise ValueError(f"bands={bands!r} must be a non-empty list of distinct names.")
    regex = _pattern_regex(pattern, bands)
    objects: dict[str, dict[str, Path]] = {}
    for path in files:
        stem = _fits_stem(path)
        match = regex.fullmatch(stem) if stem is not None else None
        if match is None:
            if from_folder:
                continue
            raise ValueError(
                f"File name {path.name!r} does not match pattern {pattern!r} with "
                f"bands {bands}."
            )
        obj, band = match["object"], match["band"]
        per_band = objects.setdefault(obj, {})
        if band in per_band:
            raise ValueError(
                f"Object {obj!r} has two files for band {band!r}: "
                f"{str(per_band[band])!r} and {str(path)!r}."
            )
        per_band[band] = path
    if not objects:
        raise FileNotFoundError(
            f"No FITS file in {str(paths_or_dir)!r} matches pattern {pattern!r} "
            f"with bands {bands}."
        )

    images = []
    for obj, per_band in objects.items():
        missing = [b for b in bands if b not in per_band]
        if missing:
            raise ValueError(
                f"Object {obj!r} has no file for band(s) {missing} "
                f"(expected names like {pattern.format(object=obj, band=missing[0])!r}"
                " plus a FITS suffix)."
            )
        planes = [_band_image(per_band[b], hdu, dtype) for b in bands]
        images.append(_stack(planes, [str(per_band[b]) for b in bands]))
    return _stack(images, [f"object {o!r}" for o in objects]), np.array(
        list(objects), dtype=str
    )
