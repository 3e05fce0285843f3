"""``skdamerge predict``: classify images with a saved model and write a catalog."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ._errors import CommandError

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "add_arguments", "run"]

HELP = "classify images with a saved model and write a catalog"

# Images classified at a time.
_CHUNK = 4096

DESCRIPTION = """\
Classify galaxy images with a model written by 'skdamerge fit' and write a
catalog CSV with the columns object_id, p_merger (merger probability),
predicted_label (1 = merger, 0 = non-merger) and predicted_class.

--images is a .npy file or a FITS cube (object ids are the row numbers), a folder
of FITS files, one per object (ids are the file names), or a folder of JPEG/PNG
cutouts, searched recursively and resized to the model's image size (ids are the
relative paths without suffix). The catalog is written atomically: it appears
complete or not at all.
"""

EPILOG = """\
examples:
  skdamerge predict --model mmd.skdm --images sdss_X.npy --out catalog.csv
  skdamerge predict --model mmd.skdm --images cutouts/ --out catalog.csv \\
      --threshold 0.7

Model files are read without running code from them. Pickled model files of
format version 1 (from earlier versions of 'skdamerge fit') are refused unless
--allow-pickle is given: unpickling runs any code the file holds, so pass it
only for files you trust.
"""


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be in (0, 1)")
    return value


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
        required=True,
        type=Path,
        metavar="FILE_OR_DIR",
        help=".npy file, FITS cube, folder of FITS files or of JPEG/PNG cutouts",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="CSV",
        help="catalog file to write",
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
        type=_probability,
        default=0.5,
        help="p_merger above which an object is called a merger (default: 0.5)",
    )


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Classify the images of ``args`` and write the catalog.

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
    import numpy as np

    from ._io import read_images, write_catalog
    from ._model import load_model

    if not args.out.parent.is_dir() and str(args.out.parent):
        raise CommandError(f"the folder of --out {str(args.out)!r} does not exist.")
    model = load_model(args.model, allow_pickle=args.allow_pickle)
    pipeline = model["pipeline"]
    shape = tuple(model["input_shape"])
    images = read_images(args.images, size=shape[-1])
    if tuple(images.X.shape[1:]) != shape:
        raise CommandError(
            f"--images {str(args.images)!r} have shape {tuple(images.X.shape[1:])} "
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
        threshold=args.threshold,
        class_names=model["class_names"],
    )
    n_mergers = int(np.sum(np.round(p_merger, 6) > args.threshold))
    print(
        f"classified {len(p_merger)} objects ({images.kind}): {n_mergers} mergers "
        f"(p_merger > {args.threshold}); wrote {args.out}"
    )
    return 0
