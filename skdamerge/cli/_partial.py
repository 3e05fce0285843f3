"""The results of a survey run kept tile by tile, so that ``--resume`` can go on.

``skdamerge predict --catalog`` writes the results of each finished tile to a
folder next to the output catalog (``OUT.partial/``), one ``.npz`` file per tile,
each written atomically, with a JSON manifest that ties the folder to its inputs:
the model file and the catalog (by SHA-256), the tile files, the columns and the
options that change the results. ``--resume`` continues such a run and refuses a
folder whose manifest differs from the present inputs. The folder is removed once
the output catalog is written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._files import write_atomic
from ._errors import CommandError

__all__ = ["FORMAT", "PartialRun", "file_digest", "partial_folder"]

FORMAT = "skdamerge-catalog-partial"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
#: The arrays saved per tile (with ``rows``, the catalog rows of the tile).
COLUMNS = ("p_merger", "is_merger", "flag", "flag_reason")


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a file, read in blocks.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    str
        The hexadecimal digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def partial_folder(out: Path) -> Path:
    """Return the folder of the partial results of the catalog ``out``.

    Parameters
    ----------
    out : Path
        The output catalog.

    Returns
    -------
    Path
        ``OUT.partial`` in the folder of ``out``.
    """
    return out.with_name(out.name + ".partial")


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    return manifest


class PartialRun:
    """The per-tile results of one survey run, in ``OUT.partial/``.

    Parameters
    ----------
    folder : Path
        The folder (existing, with its manifest written).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def open(
        cls,
        out: Path,
        inputs: dict[str, Any],
        *,
        resume: bool,
        overwrite: bool,
    ) -> PartialRun:
        """Start a run, or go on with one (``resume``) whose inputs are equal.

        Parameters
        ----------
        out : Path
            The output catalog.
        inputs : dict
            What the results depend on (JSON-serialisable): compared with the
            manifest of an existing folder.
        resume : bool
            Keep the finished tiles of an existing folder.
        overwrite : bool
            Without ``resume``, discard an existing folder.

        Returns
        -------
        PartialRun
            The run.

        Raises
        ------
        CommandError
            If a folder exists and is not a partial run of skdamerge, was started
            with other inputs (``resume``), or neither ``resume`` nor
            ``overwrite`` is given.
        """
        folder = partial_folder(out)
        inputs = json.loads(json.dumps(inputs))  # as the manifest reads back
        if folder.exists():
            manifest = _read_manifest(folder)
            if manifest is None:
                raise CommandError(
                    f"{str(folder)!r} exists but holds no partial results of "
                    "skdamerge; move it away or choose another --out."
                )
            if resume:
                changed = sorted(
                    key
                    for key in set(inputs) | set(manifest["inputs"])
                    if inputs.get(key) != manifest["inputs"].get(key)
                )
                if changed:
                    raise CommandError(
                        f"--resume: the partial results in {str(folder)!r} are of a "
                        f"run with other inputs ({', '.join(changed)} differ); run "
                        "with the same inputs, or without --resume and with "
                        "--overwrite to start again."
                    )
                return cls(folder)
            if not overwrite:
                raise CommandError(
                    f"{str(folder)!r} holds the partial results of an interrupted "
                    "run; pass --resume to go on with it, or --overwrite to start "
                    "again."
                )
            shutil.rmtree(folder)
        folder.mkdir()
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION}
        text = json.dumps({**manifest, "inputs": inputs}, indent=1)
        write_atomic(folder / _MANIFEST, lambda h: h.write(text.encode("utf-8")))
        return cls(folder)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def finished(self) -> set[str]:
        """Return the keys of the tiles whose results are saved.

        Returns
        -------
        set of str
            The keys.
        """
        return {path.stem for path in self.folder.glob("*.npz")}

    def save(self, key: str, rows: np.ndarray, results: dict[str, np.ndarray]) -> None:
        """Write the results of one tile atomically.

        Parameters
        ----------
        key : str
            The tile's key (a file name stem).
        rows : ndarray of int
            The catalog rows of the tile.
        results : dict
            One array per name of :data:`COLUMNS`, in the order of ``rows``.
        """
        arrays = {"rows": np.asarray(rows, dtype=np.int64)}
        arrays.update({name: np.asarray(results[name]) for name in COLUMNS})
        write_atomic(self._path(key), lambda handle: np.savez(handle, **arrays))

    def load(self) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Yield the rows and results of every saved tile.

        Yields
        ------
        rows : ndarray of int64
            The catalog rows of a tile.
        results : dict
            Its arrays, one per name of :data:`COLUMNS`.
        """
        for key in sorted(self.finished()):
            with np.load(self._path(key), allow_pickle=False) as saved:
                yield saved["rows"], {name: saved[name] for name in COLUMNS}

    def remove(self) -> None:
        """Delete the folder and its files."""
        shutil.rmtree(self.folder)
