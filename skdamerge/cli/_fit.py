"""``skdamerge fit``: train one domain-adaptation model on your images and save it."""

from __future__ import annotations

import argparse
import ast
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._engine.objectives import objective_class
from . import _fit_target
from ._errors import CommandError
from ._methods import fit_methods
from ._resources import check_device

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "add_arguments", "parse_params", "run"]

HELP = "train a domain-adaptation model on your images"

DESCRIPTION = """\
Train one domain-adaptation model on your images and save it.

The source images (--source) are labelled with --labels (1 = merger,
0 = non-merger); the target images (--target) are the unlabelled images the model
must work on. Images are channels-first arrays (n, channels, height, width) in a
.npy file or a FITS cube, or a folder of FITS files (one per object) or of
JPEG/PNG cutouts. Every channel is standardised with statistics of the source
images; the standardiser is saved with the model.

The target images can also be cut from the survey itself: --target-catalog with
the survey's tiles (--target-images g.fits r.fits i.fits for one tile, or
--target-tiles 'tiles/*_{band}.fits' --bands g r i), at the source images' size;
only unflagged stamps (complete and finite) are used.

Methods: source-only (no domain adaptation), mmd (MMD transfer loss), dann
(domain-adversarial). Defaults are the paper's DeepMerge values (Table A2); set
any constructor argument of the estimator with --param name=value (values are
Python literals; other text is taken as a string). For dann, the domain
classifier learns at a hundredth of the learning rate (--param
domain_lr_multiplier, default 0.01; at Table A2's 1 it wins). By default 12.5%
of the source images are held out for early stopping (--param
validation_fraction).
"""

EPILOG = """\
examples:
  skdamerge fit --source sim_X.npy --labels sim_y.npy --target sdss_X.npy \\
      --method mmd --model mmd.skdm
  skdamerge fit --source sim_X.npy --labels sim_y.npy --target sdss_cutouts/ \\
      --method dann --param max_epochs=30 \\
      --param "betas=(0.7, 0.8)" --model dann.skdm
  skdamerge fit --source sim_X.npy --labels sim_y.npy --method mmd \\
      --target-catalog objects.fits --target-tiles 'tiles/*_{band}.fits' \\
      --bands g r i --model mmd.skdm

The model file (.skdm) is a zip archive of plain metadata (method, parameters,
standardiser statistics, training summary) and the network's weights in the
safetensors format: reading it runs no code, so it can be shared
(skdamerge.load_model reads it in Python).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``skdamerge fit`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument(
        "--source",
        required=True,
        metavar="PATH",
        help="labelled source images: .npy, FITS cube, or folder",
    )
    parser.add_argument(
        "--labels",
        required=True,
        metavar="FILE",
        help=".npy file of source labels, 1 = merger, 0 = non-merger, in the "
        "order of the source images (for a folder: sorted file names)",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="PATH",
        help="unlabelled target images (the methods that adapt need them, from "
        "here or from --target-catalog)",
    )
    _fit_target.add_arguments(parser)
    parser.add_argument(
        "--method",
        required=True,
        choices=fit_methods(),
        help="source-only, mmd or dann",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="estimator argument, repeatable, e.g. --param max_epochs=20",
    )
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="FILE",
        help="model file to write (.skdm)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="torch device (default: auto)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random_state of the estimator (default: 0)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar",
    )


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """Parse ``name=value`` strings; values are Python literals, else strings.

    Parameters
    ----------
    items : list of str or None
        E.g. ``["max_epochs=20", "betas=(0.7, 0.8)", "backbone=resnet18"]``.

    Returns
    -------
    dict
        ``{name: value}``; ``ast.literal_eval`` parses each value, and a value
        that is not a literal (``resnet18``) is kept as a string.

    Raises
    ------
    ValueError
        If an item has no ``=`` or an empty name, or a name is given twice.
    """
    params: dict[str, Any] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(
                f"--param {item!r} must be name=value, e.g. --param max_epochs=20."
            )
        if name in params:
            raise ValueError(f"--param {name} is given twice.")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = text.strip()
        params[name] = value
    return params


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Train the model of ``args``, save it and print a summary line.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``skdamerge fit``.
    argv : sequence of str
        The command line (unused; every subcommand's ``run`` takes it).

    Returns
    -------
    int
        Exit status 0.
    """
    from ..pipeline import make_da_pipeline
    from ..preprocessing import ChannelStandardizer
    from ._io import read_images, read_labels
    from ._methods import make_estimator
    from ._model import save_model
    from ._progress import epoch_progress

    check_device(args.device)
    params = parse_params(args.param)
    estimator = make_estimator(
        args.method, {"random_state": args.seed, "device": args.device, **params}
    )
    survey = args.target_catalog is not None
    if survey and args.target is not None:
        raise CommandError(
            "pass the target images with --target or --target-catalog, not both."
        )
    if not survey and (args.target_images or args.target_tiles):
        option = "--target-images" if args.target_images else "--target-tiles"
        raise CommandError(
            f"{option} needs --target-catalog (the objects to cut from the tiles)."
        )
    if objective_class(args.method).uses_target and not (survey or args.target):
        raise CommandError(
            f"--method {args.method} adapts to a target domain: pass --target "
            "with the unlabelled images, or --target-catalog with the survey's "
            "tiles (or use --method source-only)."
        )
    if not args.model.parent.is_dir() and str(args.model.parent):
        raise CommandError(f"the folder of --model {str(args.model)!r} does not exist.")
    source = read_images(args.source)
    y = read_labels(args.labels, len(source.X))
    if len(set(y.tolist())) < 2:
        raise CommandError(
            f"--labels {args.labels!r} hold one class only; both mergers (1) and "
            "non-mergers (0) are needed."
        )
    X_target = None
    if survey:
        X_target = _fit_target.survey_target(args, tuple(source.X.shape[1:]))
    elif args.target is not None:
        target = read_images(args.target, size=source.X.shape[-1])
        if target.X.shape[1:] != source.X.shape[1:]:
            raise CommandError(
                f"--target images have shape {target.X.shape[1:]} but --source "
                f"images {source.X.shape[1:]}; they must be equal."
            )
        X_target = target.X
    pipeline = make_da_pipeline(ChannelStandardizer(), estimator)
    print(
        f"training {type(estimator).__name__} on {len(source.X)} source images "
        f"{tuple(source.X.shape[1:])}"
        + (f" and {len(X_target)} target images" if X_target is not None else ""),
        file=sys.stderr,
        flush=True,
    )
    start = time.monotonic()
    if args.quiet:
        pipeline.fit(source.X, y, X_target=X_target)
    else:
        with epoch_progress(estimator, args.method):
            pipeline.fit(source.X, y, X_target=X_target)
    seconds = time.monotonic() - start
    save_model(
        args.model,
        pipeline,
        method=args.method,
        n_source=len(source.X),
        n_target=0 if X_target is None else len(X_target),
        bands=getattr(args, "bands", None),
    )
    valid = estimator.history_[estimator.best_epoch_ - 1].get("valid_acc")
    print(
        f"trained for {estimator.n_epochs_} epochs (kept epoch "
        f"{estimator.best_epoch_}) in {seconds:.0f} s"
        + (f", source validation accuracy {valid:.3f}" if valid is not None else "")
        + f"; wrote {args.model}"
    )
    return 0
