"""Target images of ``skdamerge fit`` cut from the survey itself.

``--target-catalog CAT`` with ``--target-images g.fits r.fits i.fits`` (one tile)
or ``--target-tiles 'tiles/*_{band}.fits' --bands g r i`` cuts a stamp of every
catalog object with :func:`skdamerge.datasets.cutouts_from_catalog`, at the size
and band count of the source images, and keeps the unflagged stamps (complete and
finite) as the unlabelled target images of the fit.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ._errors import CommandError

__all__ = ["add_arguments", "survey_target"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``--target-catalog`` options of ``skdamerge fit`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser of ``skdamerge fit``.
    """
    from ._survey_inputs import add_survey_arguments

    parser.add_argument(
        "--target-images",
        nargs="+",
        default=None,
        metavar="FITS",
        help="with --target-catalog: one FITS file per band of one tile, in the "
        "order of the source images' channels",
    )
    add_survey_arguments(parser, prefix="target-")


def survey_target(args: argparse.Namespace, shape: tuple[int, ...]) -> np.ndarray:
    """Cut the target images of ``args`` from the survey; keep the unflagged ones.

    Parameters
    ----------
    args : argparse.Namespace
        The options of ``skdamerge fit`` with ``--target-catalog``.
    shape : tuple of int
        ``(channels, height, width)`` of the source images.

    Returns
    -------
    ndarray of shape (n_unflagged, channels, height, width), float32
        The usable stamps (flags free of
        :data:`~skdamerge.datasets.FLAGS_UNUSABLE`), in catalog order.

    Raises
    ------
    CommandError
        If the source images are not square, the catalog, columns or tiles are
        wrong (the message names the option), or every stamp is flagged.
    """
    from ..datasets import FLAG_RESAMPLED, FLAGS_UNUSABLE, cutouts_from_catalog
    from ._survey_inputs import (
        catalog_columns,
        check_resample_options,
        flag_counts,
        read_survey_catalog,
        tile_sets,
    )

    channels, height, width = shape
    if height != width:
        raise CommandError(
            f"--source images are {height}x{width}; stamps cut from a survey are "
            "square: use square source images."
        )
    check_resample_options(args)
    table = read_survey_catalog(args.target_catalog, "--target-catalog")
    columns = catalog_columns(
        table, ra_column=args.ra_column, dec_column=args.dec_column
    )
    tiles = tile_sets(
        args.target_images, args.target_tiles, args.bands, channels, prefix="target-"
    )
    try:
        cut = cutouts_from_catalog(
            table,
            tiles,
            size=height,
            ra_column=columns.ra,
            dec_column=columns.dec,
            pixel_scale=args.pixel_scale,
            resample=args.resample,
        )
    except ValueError as error:
        option = "--target-images" if args.target_images else "--target-tiles"
        raise CommandError(f"{option}: {error}") from None
    good = (cut.flags & FLAGS_UNUSABLE) == 0
    n_good, n = int(good.sum()), len(table)
    text = f"target: {n_good} of {n} catalog objects used"
    if np.any(cut.flags & FLAG_RESAMPLED):
        text += f" ({int(np.sum(cut.flags & FLAG_RESAMPLED > 0))} resampled)"
    if n_good < n:
        unusable = cut.flags & FLAGS_UNUSABLE
        text += f"; {n - n_good} flagged ({flag_counts(unusable)})"
    print(text, file=sys.stderr, flush=True)
    if not n_good:
        raise CommandError(
            f"--target-catalog {str(args.target_catalog)!r}: every one of its {n} "
            "objects is flagged, so no target image is left; check the tiles, "
            "the coordinate columns and the pixel scale."
        )
    return cut.images[good]
