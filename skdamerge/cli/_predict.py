"""``skdamerge predict``: classify images with a saved model and write a catalog.

Two forms: ready-made stamps (``--images FILE_OR_DIR``, a CSV of probabilities),
or a survey catalog cut from FITS tiles (``--catalog``, see
:mod:`._predict_catalog`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ._arg_types import positive_int, probability
from ._errors import CommandError
from ._survey_inputs import add_survey_arguments

__all__ = [
    "DESCRIPTION",
    "EPILOG",
    "HELP",
    "add_arguments",
    "run",
]

HELP = "classify images or a survey catalog with a saved model"

# Images classified at a time.
_CHUNK = 4096

DESCRIPTION = """\
Classify galaxy images with a model written by 'skdamerge fit' and write a
catalog.

Stamps: --images is a .npy file or a FITS cube (object ids are the row numbers),
a folder of FITS files, one per object (ids are the file names), or a folder of
JPEG/PNG cutouts, searched recursively and resized to the model's image size (ids
are the relative paths without suffix). The output is a CSV with the columns
object_id, p_merger (merger probability), predicted_label (1 = merger,
0 = non-merger, p_merger > threshold) and predicted_class.

Survey: --catalog is a source catalog (FITS table, CSV or Parquet) with RA and
Dec (degrees or sexagesimal); the stamps are cut from FITS tiles, one file per
band in the order of the training images: --images g.fits r.fits i.fits (one
tile) or --tiles 'tiles/*_{band}.fits' --bands g r i (many tiles). The output
(FITS, Parquet or CSV, by extension) is the catalog, one row per object in input
order with every input column, plus p_merger (NaN when flagged), is_merger
(p_merger >= threshold), flag (bit mask: 1 edge, 2 off tiles, 4 masked pixels,
8 invalid coordinates, 16 unreadable tile; 0 = good) and flag_reason; its header
records the model, the skdamerge version and the threshold. Each finished tile
is kept in OUT.partial/ until the catalog is written: after an interruption,
run the same command with --resume to go on. --workers N classifies N tiles at a
time with Dask.

Outputs are written atomically: they appear complete or not at all.
"""

EPILOG = """\
examples:
  skdamerge predict --model mmd.skdm --images sdss_X.npy --out catalog.csv
  skdamerge predict --model mmd.skdm --images cutouts/ --out catalog.csv \\
      --threshold 0.7
  skdamerge predict --model mmd.skdm --catalog objects.fits \\
      --images tile_g.fits tile_r.fits tile_i.fits --out mergers.fits
  skdamerge predict --model mmd.skdm --catalog objects.parquet \\
      --tiles 'tiles/*_{band}.fits' --bands g r i --workers 4 --out mergers.fits
  skdamerge predict ... --out mergers.fits --resume    # after an interruption

Model files are read without running code from them. Pickled model files of
format version 1 (from earlier versions of 'skdamerge fit') are refused unless
--allow-pickle is given: unpickling runs any code the file holds, so pass it
only for files you trust.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``skdamerge predict`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="FILE",
        help="model file written by 'skdamerge fit'",
    )
    parser.add_argument(
        "--images",
        nargs="+",
        default=None,
        metavar="PATH",
        help="stamps: a .npy file, FITS cube, folder of FITS files or of JPEG/PNG "
        "cutouts; with --catalog: one FITS file per band of one tile",
    )
    add_survey_arguments(parser, with_id=True)
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="FILE",
        help="catalog file to write (stamps: CSV; --catalog: .fits, .parquet or .csv)",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also read pickled model files of format version 1 (written by "
        "earlier versions of 'skdamerge fit'). UNSAFE: a pickle runs any code it "
        "holds; use only for files you trust",
    )
    parser.add_argument(
        "--threshold",
        type=probability,
        default=None,
        help="merger threshold on p_merger (default: 0.5; with --catalog, the "
        "model's target threshold when it has one)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="with --catalog: replace an existing --out (and discard the partial "
        "results of an interrupted run)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --catalog: go on with an interrupted run of the same command, "
        "keeping its finished tiles",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="with --catalog: classify N tiles at a time on a local Dask cluster "
        "(default: 1, in this process)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="with --catalog: run on an existing Dask scheduler, e.g. tcp://host:8786",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=256,
        metavar="N",
        help="with --catalog: stamps classified at a time (default: 256)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar",
    )


# Options of the survey form alone, with their defaults.
_SURVEY_ONLY = {
    "tiles": None,
    "bands": None,
    "id_column": None,
    "ra_column": None,
    "dec_column": None,
    "pixel_scale": None,
    "resample": False,
    "overwrite": False,
    "resume": False,
    "workers": 1,
    "scheduler": None,
}


def _check_stamp_options(args: argparse.Namespace) -> Path:
    given = [
        "--" + name.replace("_", "-")
        for name, default in _SURVEY_ONLY.items()
        if getattr(args, name) != default
    ]
    if given:
        raise CommandError(
            f"{', '.join(given)} need(s) --catalog (a survey catalog to cut from "
            "FITS tiles); without it, --images are ready-made stamps."
        )
    if args.images is None or len(args.images) != 1:
        raise CommandError(
            "--images: pass one .npy file, FITS cube or folder of stamps, or a "
            "survey catalog with --catalog and one FITS file per band."
        )
    return Path(args.images[0])


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Classify the stamps or survey catalog of ``args`` and write the catalog.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``skdamerge predict``.
    argv : sequence of str
        The command line (unused; every subcommand's ``run`` takes it).

    Returns
    -------
    int
        Exit status 0.
    """
    if args.catalog is not None:
        from ._predict_catalog import run_catalog

        return run_catalog(args)
    return _run_stamps(args)


def _run_stamps(args: argparse.Namespace) -> int:
    import numpy as np

    from ._io import read_images, write_catalog
    from ._model import load_model

    source = _check_stamp_options(args)
    threshold = 0.5 if args.threshold is None else args.threshold
    if not args.out.parent.is_dir() and str(args.out.parent):
        raise CommandError(f"the folder of --out {str(args.out)!r} does not exist.")
    model = load_model(args.model, allow_pickle=args.allow_pickle)
    pipeline = model["pipeline"]
    shape = tuple(model["input_shape"])
    images = read_images(source, size=shape[-1])
    if tuple(images.X.shape[1:]) != shape:
        raise CommandError(
            f"--images {str(source)!r} have shape {tuple(images.X.shape[1:])} "
            f"but the model was trained on {shape}; resize or select channels "
            "first (skdamerge.preprocessing.ResizeImages)."
        )
    # In chunks: a memory-mapped .npy catalog need not fit in memory at once.
    column = list(model["classes"]).index(1)
    p_merger = np.concatenate(
        [
            np.asarray(pipeline.predict_proba(images.X[start : start + _CHUNK]))[
                :, column
            ]
            for start in range(0, len(images.X), _CHUNK)
        ]
    )
    write_catalog(
        args.out,
        images.ids,
        p_merger,
        threshold=threshold,
        class_names=model["class_names"],
    )
    n_mergers = int(np.sum(np.round(p_merger, 6) > threshold))
    print(
        f"classified {len(p_merger)} objects ({images.kind}): {n_mergers} mergers "
        f"(p_merger > {threshold}); wrote {args.out}"
    )
    return 0
