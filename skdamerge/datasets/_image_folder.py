"""Reader for folders of RGB image cutouts (JPEG/PNG), such as SDSS cutouts.

Band order
----------
skdamerge orders channels blue to red (shortest wavelength first), e.g.
``(g, r, i)``, as :func:`~skdamerge.datasets.make_galaxy_mergers` emits them.
:func:`load_image_folder` returns the channels in the file's R, G, B order, which is
**red to blue**: for SDSS colour cut-outs R, G, B are the i, r, g bands, the order
of the published DeepMerge II sim2real arrays. Reverse them, ``X[:, ::-1]``, to
get (g, r, i) before combining them with blue-to-red images.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral
from pathlib import Path

import numpy as np

from .._param_validation import Interval, validate_params

__all__ = ["load_image_folder"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# Folder names / CSV label values understood without `class_names`, compared after
# lower-casing and dropping everything but letters and digits ("Non-Merger" ->
# "nonmerger").
_DEFAULT_CLASSES = {
    **dict.fromkeys(
        ("merger", "mergers", "merging", "postmerger", "postmergers", "1"), 1
    ),
    **dict.fromkeys(
        ("nonmerger", "nonmergers", "nonmerging", "notmerger", "notmerging", "0"), 0
    ),
}
_FILE_COLUMNS = ("file", "filename", "file_name", "path", "image", "name", "id")
_LABEL_COLUMNS = ("label", "labels", "y", "target", "class", "merger", "is_merger")


def _pillow_image():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow is installed in tests
        raise ImportError(
            "Reading JPEG/PNG images needs Pillow: pip install pillow "
            "(or pip install 'skdamerge[io]')."
        ) from exc
    return Image


def _class_lookup(class_names) -> Callable[[str], int | None]:
    """Return a function from a folder name or label text to its label (or None)."""
    if class_names is None:
        return lambda name: _DEFAULT_CLASSES.get(re.sub(r"[^a-z0-9]", "", name.lower()))
    if isinstance(class_names, Mapping):
        table = {str(k).strip().lower(): int(v) for k, v in class_names.items()}
    elif isinstance(class_names, Sequence) and not isinstance(class_names, str):
        table = {str(k).strip().lower(): i for i, k in enumerate(class_names)}
    else:
        raise TypeError(
            "class_names must be a mapping {name: label} or a sequence of names "
            f"whose positions are the labels; got {class_names!r}."
        )
    return lambda name: table.get(name.strip().lower())


def _is_image(path: Path, extensions: Sequence[str]) -> bool:
    return path.is_file() and path.suffix.lower() in extensions


def _images_under(folder: Path, extensions: Sequence[str]) -> list[Path]:
    return [p for p in folder.rglob("*") if _is_image(p, extensions)]


def _files_from_subfolders(root: Path, class_names, extensions):
    lookup = _class_lookup(class_names)
    files, labels, unknown = [], [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        label = lookup(sub.name)
        if label is None:
            unknown.append(sub.name)
            continue
        found = _images_under(sub, extensions)
        files += found
        labels += [label] * len(found)
    if unknown and class_names is None:
        raise ValueError(
            f"Subfolder(s) {unknown} of {str(root)!r} are not class names known "
            f"by default ({sorted(_DEFAULT_CLASSES)}, ignoring case and "
            "punctuation). Pass class_names, e.g. "
            "class_names={'nonmergers': 0, 'mergers': 1}."
        )
    return files, labels


def _read_csv(csv_path: Path) -> list[dict[str, str]]:
    text = csv_path.read_text(encoding="utf-8-sig")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return list(csv.DictReader(io.StringIO(text), dialect=dialect))


def _pick_column(names: list[str], given: str | None, candidates, position: int):
    if given is not None:
        if given not in names:
            raise ValueError(f"Column {given!r} is not in the CSV columns {names}.")
        return given
    lower = {n.strip().lower(): n for n in names}
    for candidate in candidates:
        if candidate in lower:
            return lower[candidate]
    return names[position]


def _parse_label(text: str, lookup, csv_path: Path) -> int:
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and number.is_integer():
        return int(number)
    label = lookup(text)
    if label is None:
        raise ValueError(
            f"Label {text!r} in {str(csv_path)!r} is neither an integer nor a known "
            "class name; pass class_names to map names to labels."
        )
    return label


def _resolve(root: Path, entry: str, extensions: Sequence[str]) -> Path | None:
    candidate = root / entry
    if candidate.is_file():
        return candidate
    if not Path(entry).suffix:
        for suffix in extensions:
            for variant in (suffix, suffix.upper()):
                with_suffix = root / f"{entry}{variant}"
                if with_suffix.is_file():
                    return with_suffix
    return None


def _files_from_csv(root: Path, csv_path, class_names, extensions, columns):
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(
            f"labels={str(csv_path)!r} is neither 'subfolders', None, nor an "
            "existing CSV file."
        )
    rows = _read_csv(csv_path)
    names = list(rows[0]) if rows else []
    if len(names) < 2:
        raise ValueError(
            f"{str(csv_path)!r} needs a header row and at least two columns (file "
            "name and label), and one row per image."
        )
    file_col = _pick_column(names, columns[0], _FILE_COLUMNS, 0)
    label_col = _pick_column(names, columns[1], _LABEL_COLUMNS, 1)
    lookup = _class_lookup(class_names)
    files, labels, missing = [], [], []
    for row in rows:
        entry = (row[file_col] or "").strip()
        path = _resolve(root, entry, extensions)
        if path is None:
            missing.append(entry)
            continue
        files.append(path)
        labels.append(_parse_label((row[label_col] or "").strip(), lookup, csv_path))
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} file(s) listed in {str(csv_path)!r} are not in "
            f"{str(root)!r}: {missing[:10]}"
        )
    dupes = [f.name for f, count in Counter(files).items() if count > 1]
    if dupes:
        raise ValueError(f"{str(csv_path)!r} lists some images twice: {dupes[:10]}")
    return files, labels


def _read_rgb(path: Path, size: int, Image) -> np.ndarray:
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise OSError(f"Could not read image {str(path)!r}: {exc}") from exc
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / np.float32(255)


@validate_params(
    {
        "path": [str, os.PathLike],
        "size": [Interval(Integral, 1, None, closed="left")],
        "labels": [str, os.PathLike, None],
        "class_names": [Mapping, list, tuple, None],
        "extensions": ["array-like"],
        "file_column": [str, None],
        "label_column": [str, None],
    },
    prefer_skip_nested_validation=True,
)
def load_image_folder(
    path: str | os.PathLike,
    *,
    size: int = 75,
    labels: str | os.PathLike | None = "subfolders",
    class_names: Mapping[str, int] | Sequence[str] | None = None,
    extensions: Sequence[str] = IMAGE_SUFFIXES,
    file_column: str | None = None,
    label_column: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Load a folder of RGB galaxy cutouts (JPEG/PNG) as channels-first images.

    Made for cutouts such as those of the SDSS image cutout server, which the
    DeepMerge II target domain was built from [1]_. Each image is converted to RGB
    (grey-scale and palette images included, alpha dropped), resized to
    ``size x size`` with Pillow's bilinear filter (antialiased when shrinking; the
    aspect ratio is not kept, so crop non-square cutouts first) and scaled to
    ``[0, 1]``. Channels keep the file's R, G, B order, red to blue: for SDSS
    colour cutouts the i, r, g bands. skdamerge's convention is blue to red (the
    order of :func:`~skdamerge.datasets.make_galaxy_mergers`): use ``X[:, ::-1]``
    to get (g, r, i), or keep (i, r, g) next to the published DeepMerge II
    sim2real arrays, which are in that order. Source and target must hold the
    same band in each channel.

    Parameters
    ----------
    path : str or path-like
        Folder that holds the images.
    size : int, default=75
        Side of the returned square images, in pixels (75 in DeepMerge II).
    labels : "subfolders", str, path-like or None, default="subfolders"
        Where labels come from:

        * ``"subfolders"``: each subfolder of ``path`` is a class and holds its
          images (searched recursively). Without ``class_names``, folder names
          are mapped, ignoring case and punctuation, as ``merger``, ``mergers``,
          ``merging``, ``post-merger(s)``, ``1`` -> 1 and ``non-merger(s)``,
          ``non-merging``, ``not-merger``, ``not-merging``, ``0`` -> 0; another
          folder name is an error. Images directly in ``path`` are ignored.
        * a path to a CSV file with a header row, one column of file names
          (relative to ``path``; the extension may be left out) and one column of
          labels (integers, or class names mapped as above or by
          ``class_names``). Only the images listed are read.
        * ``None``: every image under ``path`` (recursively), without labels.

    class_names : mapping or sequence of str, optional
        Overrides the default name -> label mapping: either ``{name: label}`` or a
        sequence whose position gives the label (``["nonmerger", "merger"]``
        means ``nonmerger`` -> 0, ``merger`` -> 1). Names are compared ignoring
        case. With ``labels="subfolders"``, subfolders not named here are skipped.
    extensions : sequence of str, default=(".jpg", ".jpeg", ".png")
        File name extensions of the images, compared ignoring case.
    file_column, label_column : str, optional
        CSV column names. By default the first column named like ``file``,
        ``filename``, ``path``, ``image``, ``name`` or ``id`` (resp. ``label``,
        ``y``, ``target``, ``class``, ``merger``) is used, else the first
        (resp. second) column.

    Returns
    -------
    X : ndarray of shape (n_images, 3, size, size), dtype float32
        The images, values in ``[0, 1]``, channels R, G, B (red to blue).
    y : ndarray of shape (n_images,), dtype int64, or None
        Labels (1 = merger, 0 = non-merger by default); ``None`` when
        ``labels=None``.
    file_ids : ndarray of str of shape (n_images,)
        Path of each image relative to ``path``, with ``/`` separators. Images
        are in the sorted order of these paths, whatever the order on disk or in
        the CSV file.

    Raises
    ------
    FileNotFoundError
        If the folder, the CSV file or an image listed in it does not exist, or
        no image is found.
    OSError
        If an image cannot be read (the message names the file).
    ValueError
        If a subfolder name or a label cannot be mapped to a label.

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.

    Examples
    --------
    With ``sdss/merger/*.jpg`` and ``sdss/nonmerger/*.jpg``:

    >>> from skdamerge.datasets import load_image_folder
    >>> X, y, ids = load_image_folder("sdss/")  # doctest: +SKIP
    >>> X_gri = X[:, ::-1]  # R, G, B = i, r, g -> blue to red  # doctest: +SKIP
    """
    Image = _pillow_image()
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer; got {size!r}.")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {str(root)!r} does not exist.")
    extensions = tuple("." + e.lower().lstrip(".") for e in extensions)

    if labels is None:
        files, y = _images_under(root, extensions), None
    elif isinstance(labels, str) and labels == "subfolders":
        files, y = _files_from_subfolders(root, class_names, extensions)
    else:
        files, y = _files_from_csv(
            root, labels, class_names, extensions, (file_column, label_column)
        )
    if not files:
        raise FileNotFoundError(
            f"No images with extensions {list(extensions)} found in {str(root)!r} "
            f"(labels={labels!r})."
        )

    ids = [Path(os.path.relpath(f, root)).as_posix() for f in files]
    order = sorted(range(len(files)), key=ids.__getitem__)
    X = np.stack([_read_rgb(files[i], int(size), Image) for i in order])
    file_ids = np.array([ids[i] for i in order], dtype=str)
    if y is not None:
        y = np.asarray(y, dtype=np.int64)[order]
    return X, y, file_ids
