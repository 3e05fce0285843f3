"""Reader for the published DeepMerge II ``.npy`` files (Zenodo record 4507941).

Band order
----------
skdamerge orders channels blue to red (shortest wavelength first), as
:func:`~skdamerge.datasets.make_galaxy_mergers` emits them. The published arrays are
returned **as stored**, so that the paper's experiments are reproduced unchanged; in
both domains of an experiment channel ``k`` is the same band, but not blue to red:

* ``sim2real``: (i, r, g), red to blue. The SDSS target cut-outs are RGB images whose
  R, G, B planes are the i, r, g bands, and the paper aligned its simulated (g, r, i)
  source to that order. Reverse the channels, ``X[:, ::-1]``, to combine these
  arrays with blue-to-red data.
* ``sim2sim``: the HST filters in the order the paper lists them, (F814W, F356W,
  F160W), F356W being the longest wavelength; ``X[:, [0, 2, 1]]`` gives blue to red.

The files carry no band names: ``band_names`` of the returned bunch gives these
orders as the paper describes them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._param_validation import validate_params

__all__ = ["DEEPMERGE_BANDS", "DEEPMERGE_FILES", "load_deepmerge"]

ZENODO_RECORD = "10.5281/zenodo.4507941"

#: File names of each experiment, keyed by role, exactly as published.
DEEPMERGE_FILES: dict[str, dict[str, str]] = {
    "sim2sim": {
        "X_source": "SimSim_SOURCE_X_Illustris2_pristine.npy",
        "y_source": "SimSim_SOURCE_y_Illustris2_pristine.npy",
        "X_target": "SimSim_TARGET_X_Illustris2_noisy.npy",
        "y_target": "SimSim_TARGET_y_Illustris2_noisy.npy",
    },
    "sim2real": {
        "X_source": "SimReal_SOURCE_X_Illustris0.npy",
        "y_source": "SimReal_SOURCE_y_Illustris0.npy",
        "X_target": "SimReal_TARGET_X_postmergers_SDSS.npy",
        "y_target": "SimReal_TARGET_y_postmergers_SDSS.npy",
    },
}

#: Bands of each experiment in channel order, as the paper describes the files.
DEEPMERGE_BANDS: dict[str, tuple[str, ...]] = {
    "sim2sim": ("F814W", "F356W", "F160W"),
    "sim2real": ("i", "r", "g"),
}

_DESCRIPTIONS = {
    "sim2sim": (
        "DeepMerge II simulation-to-simulation data: Illustris-1 galaxies at z = 2 "
        "in three HST filters, 75x75 pixels; source = pristine images, target = the "
        "same galaxies with PSF and sky shot noise. Channels: F814W, F356W, F160W "
        "as listed in the paper (not blue to red)."
    ),
    "sim2real": (
        "DeepMerge II simulation-to-real data: source = Illustris galaxies at z = 0 "
        "mimicking SDSS (augmented post-mergers and non-mergers), target = SDSS RGB "
        "cutouts of post-mergers and non-mergers, 75x75 pixels. Channels: i, r, g "
        "(red to blue) in both domains, as the paper aligned them."
    ),
}


def _find_files(folder: Path, expected: dict[str, str]) -> dict[str, Path]:
    """Map each role to its file in ``folder``, matching names case-insensitively."""
    if not folder.exists():
        raise FileNotFoundError(
            f"Folder {str(folder)!r} does not exist. Download the DeepMerge II files "
            f"({', '.join(expected.values())}) from Zenodo record {ZENODO_RECORD} "
            "into a local folder and pass that folder as `path`."
        )
    if not folder.is_dir():
        raise NotADirectoryError(
            f"`path` must be the folder that holds the DeepMerge II .npy files; "
            f"{str(folder)!r} is not a folder."
        )
    by_lower_name: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_file():
            by_lower_name.setdefault(entry.name.lower(), []).append(entry)

    found: dict[str, Path] = {}
    missing: list[str] = []
    for role, name in expected.items():
        matches = by_lower_name.get(name.lower(), [])
        if not matches:
            missing.append(name)
        elif len(matches) > 1:
            raise ValueError(
                f"Several files in {str(folder)!r} match {name!r} when case is "
                f"ignored: {[m.name for m in matches]}. Keep only one of them."
            )
        else:
            found[role] = matches[0]
    if missing:
        raise FileNotFoundError(
            f"Missing DeepMerge II file(s) {missing} in folder {str(folder)!r} "
            "(names are matched ignoring case). These files are published in Zenodo "
            f"record {ZENODO_RECORD} (https://doi.org/{ZENODO_RECORD}); download them "
            "into this folder. skdamerge never downloads anything itself."
        )
    return found


def _load_npy(path: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise OSError(f"Could not read {str(path)!r} as a .npy array: {exc}") from exc


def _check_images(X: np.ndarray, role: str, path: Path) -> None:
    if X.ndim != 4:
        hint = ""
        if X.ndim == 3:
            hint = " For single-band images add a channel axis: X[:, None]."
        raise ValueError(
            f"{role} read from {str(path)!r} has shape {X.shape}; expected a 4-D "
            f"array (n_samples, channels, height, width).{hint}"
        )
    if X.shape[-1] in (1, 3) and X.shape[1] not in (1, 3):
        raise ValueError(
            f"{role} read from {str(path)!r} has shape {X.shape}, which looks "
            "channels-last; skdamerge expects channels-first "
            "(n_samples, channels, height, width): use np.moveaxis(X, -1, 1)."
        )
    if not np.issubdtype(X.dtype, np.number):
        raise ValueError(
            f"{role} read from {str(path)!r} has dtype {X.dtype}; expected numbers."
        )


def _check_labels(y: np.ndarray, role: str, path: Path) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"{role} read from {str(path)!r} has shape {y.shape}; expected a 1-D "
            "array of labels (or shape (n_samples, 1))."
        )
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise ValueError(
            f"{role} read from {str(path)!r} has dtype {y.dtype}; expected numeric "
            "labels 0 (non-merger) and 1 (merger)."
        )
    values = np.asarray(y, dtype=np.float64)
    if not np.all(np.isin(values, (0.0, 1.0))):
        bad = np.unique(values[~np.isin(values, (0.0, 1.0))])[:5]
        raise ValueError(
            f"{role} read from {str(path)!r} holds values other than 0 and 1 "
            f"(e.g. {bad.tolist()}); expected 1 = merger, 0 = non-merger."
        )
    return values.astype(np.int64)


@validate_params(
    {
        "path": [str, os.PathLike],
        # Any string: the names are matched case-insensitively by the function.
        "experiment": [str],
        "mmap": ["boolean"],
        "return_bunch": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_deepmerge(
    path: str | os.PathLike,
    experiment: str = "sim2sim",
    *,
    mmap: bool = True,
    return_bunch: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | Bunch:
    """Load the published DeepMerge II data from a local folder.

    The four ``.npy`` files of one experiment of DeepMerge II [1]_ are read from
    ``path``. They are published in Zenodo record 10.5281/zenodo.4507941 [2]_ and
    must be downloaded by the user beforehand; nothing is downloaded here.

    ==============  ==========================================================
    ``experiment``  files (matched ignoring case)
    ==============  ==========================================================
    ``"sim2sim"``   ``SimSim_SOURCE_X_Illustris2_pristine.npy``,
                    ``SimSim_SOURCE_y_Illustris2_pristine.npy``,
                    ``SimSim_TARGET_X_Illustris2_noisy.npy``,
                    ``SimSim_TARGET_y_Illustris2_noisy.npy``
    ``"sim2real"``  ``SimReal_SOURCE_X_Illustris0.npy``,
                    ``SimReal_SOURCE_y_Illustris0.npy``,
                    ``SimReal_TARGET_X_postmergers_SDSS.npy``,
                    ``SimReal_TARGET_y_postmergers_SDSS.npy``
    ==============  ==========================================================

    Channels are returned in the order they are stored in, the same in both
    domains of an experiment but not skdamerge's blue-to-red order: (i, r, g) for
    ``"sim2real"`` and (F814W, F356W, F160W) for ``"sim2sim"``, as the paper
    describes them. Use ``X[:, ::-1]`` (sim2real) or ``X[:, [0, 2, 1]]``
    (sim2sim) to combine them with blue-to-red images such as those of
    :func:`~skdamerge.datasets.make_galaxy_mergers`.

    The ``"sim2sim"`` target holds the source galaxies again, with noise. When
    its labels equal the source labels row by row,
    :func:`~skdamerge.datasets.train_valid_test_split` (``paired="auto"``) takes
    row ``i`` of both domains for one galaxy and keeps the two in the same part.

    Parameters
    ----------
    path : str or path-like
        Folder that holds the files.
    experiment : {"sim2sim", "sim2real"}, default="sim2sim"
        Which pair of domains to load: Illustris pristine -> noisy (Sect. 4.1 of
        [1]_) or Illustris -> SDSS (Sect. 4.2).
    mmap : bool, default=True
        Open the image files with ``np.load(..., mmap_mode="r")``: the images are
        returned as read-only :class:`numpy.memmap` arrays and read from disk only
        when indexed. With ``False`` they are loaded into memory.
    return_bunch : bool, default=False
        Return a :class:`~sklearn.utils.Bunch` instead of a tuple.

    Returns
    -------
    X_source, y_source, X_target, y_target : tuple of ndarray
        Images of shape ``(n_samples, channels, height, width)`` in the dtype they
        are stored in, and labels as 1-D ``int64`` arrays (1 = merger,
        0 = non-merger; labels stored as floats or with shape ``(n, 1)`` are
        converted). Returned when ``return_bunch=False``.
    data : :class:`~sklearn.utils.Bunch`
        Returned when ``return_bunch=True``, with the four arrays above as
        attributes plus ``experiment``, ``filenames`` (role -> path of the file
        read), ``band_names`` (dict: ``"source"``/``"target"`` to the bands in
        channel order, as the paper describes the files), ``target_names``
        (``["non-merger", "merger"]``) and ``DESCR``.

    Raises
    ------
    FileNotFoundError
        If the folder or any of the four files is missing; the message lists the
        missing file names, the folder searched and the Zenodo record.
    ValueError
        If an array does not have the expected shape (images 4-D and
        channels-first, labels 1-D with values 0/1, as many labels as images).

    References
    ----------
    .. [1] Ćiprijanović, A., Kafkes, D., Downey, K., et al. (2021). "DeepMerge II:
       Building robust deep learning algorithms for merging galaxy identification
       across domains." MNRAS 506, 677-691.
    .. [2] DeepMerge II data sets, Zenodo record 10.5281/zenodo.4507941,
       https://doi.org/10.5281/zenodo.4507941

    Examples
    --------
    >>> from skdamerge.datasets import load_deepmerge
    >>> X_s, y_s, X_t, y_t = load_deepmerge("data/deepmerge2")  # doctest: +SKIP
    >>> X_s.shape  # doctest: +SKIP
    (15426, 3, 75, 75)
    """
    key = str(experiment).lower()
    if key not in DEEPMERGE_FILES:
        raise ValueError(
            f"experiment={experiment!r} is not known; use one of "
            f"{sorted(DEEPMERGE_FILES)}."
        )
    files = _find_files(Path(path), DEEPMERGE_FILES[key])

    arrays: dict[str, np.ndarray] = {}
    for domain in ("source", "target"):
        X_role, y_role = f"X_{domain}", f"y_{domain}"
        X = _load_npy(files[X_role], mmap)
        _check_images(X, X_role, files[X_role])
        y = _check_labels(_load_npy(files[y_role], False), y_role, files[y_role])
        if len(y) != X.shape[0]:
            raise ValueError(
                f"{X_role} ({files[X_role].name}) has {X.shape[0]} images but "
                f"{y_role} ({files[y_role].name}) has {len(y)} labels; they must "
                "be equal."
            )
        arrays[X_role], arrays[y_role] = X, y

    if not return_bunch:
        return tuple(arrays[role] for role in DEEPMERGE_FILES[key])
    return Bunch(
        **arrays,
        experiment=key,
        filenames={role: str(p) for role, p in files.items()},
        band_names={"source": DEEPMERGE_BANDS[key], "target": DEEPMERGE_BANDS[key]},
        target_names=np.array(["non-merger", "merger"]),
        DESCR=_DESCRIPTIONS[key],
    )
