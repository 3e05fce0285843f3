"""The ``skdamerge`` command: reproduce the paper, train a model, classify images.

Subcommands:

- ``skdamerge reproduce``: train the DeepMerge II methods on the built-in simulator
  (or the published data) and write the paper's table and figures;
- ``skdamerge fit``: train one domain-adaptation model on your own source images,
  labels and target images and save it;
- ``skdamerge predict``: classify images with a saved model and write a catalog.

``python -m skdamerge`` is the same command. Errors are reported as one line on
stderr with a non-zero exit status (``--traceback`` shows the full traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .. import __version__

__all__ = ["main"]

_EXIT_ERROR = 1
_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130
# Images classified at a time by ``predict``.
_CHUNK = 4096


class CommandError(Exception):
    """An error to report as one line, without a traceback."""


class _Parser(argparse.ArgumentParser):
    """Argument parser whose usage errors are one line on stderr."""

    def error(self, message: str):  # noqa: D102 - argparse API
        raise _UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


class _UsageError(Exception):
    pass


_FORMATTER = argparse.RawDescriptionHelpFormatter

_MAIN_EPILOG = """\
examples:
  skdamerge reproduce --profile quick --out results/
  skdamerge fit --source X.npy --labels y.npy --target Xt.npy --method mmd \\
      --param max_epochs=20 --model model.skdm
  skdamerge predict --model model.skdm --images cutouts/ --out catalog.csv

Run 'skdamerge <command> --help' for the options of each command.
"""

_REPRODUCE_DESCRIPTION = """\
Reproduce the experiments of DeepMerge II (Ciprijanovic et al. 2021, MNRAS 506,
677): train a CNN on labelled source images and adapt it to unlabelled target
images, with each method of the paper's Table 1 and its Table A2/A3
hyperparameters.

  sim2sim   no domain adaptation (noDA), MMD, MMD + Fisher + entropy (MMD+F),
            adversarial (ADA), adversarial + Fisher + entropy (ADA+F);
            pristine simulated galaxies -> the same galaxies with sky noise.
  sim2real  noDA, MMD, and MMD with transfer learning (MMD+TL) from a model
            trained on sim2sim (trained first unless --pretrained is given);
            simulated galaxies -> telescope-like images (DeepMerge only).

One deviation from Table A2: the plain adversarial runs (ADA) use the domain
classifier learning-rate multiplier of the adversarial + Fisher + entropy row
(0.01 DeepMerge, 0.1 ResNet18) instead of 1, at which the trained domain
classifier wins; results.json and the printed notes record it.

Data come from the built-in simulator (skdamerge.datasets.make_galaxy_mergers),
or with --data from the published .npy files (Zenodo 10.5281/zenodo.4507941).
Each domain is split 70/10/20 into training, validation and test images; the
channels are standardised with statistics of the source fitting images only.

Profiles: quick  - 2,000 images per domain, 16 epochs: under 10 minutes on two
                   CPU cores; shows the paper's finding (the source-only model is
                   near chance on the target, domain adaptation clearly better);
          paper  - the paper's data sizes, up to 100 epochs with early stopping
                   (use a GPU);
          tiny   - a smoke test in seconds (numbers are meaningless).

Prints a Table 1-style table (AUC, accuracy, precision, recall, F1, Brier score on
the source and target test sets, and Table B1 confusion matrices) and writes to
--out: results.json, results.csv, results.md, metrics.png (metric bars and ROC
curves, Figure 3), score_histograms.png (Figure B1), latent_space.png (t-SNE,
Figure 5), gradcam.png (Figures 6-7), training_<method>.png and, for sim2sim, the
MMD model's weights (weights/sim2sim_mmd_<backbone>.pt, usable as --pretrained).
"""

_REPRODUCE_EPILOG = """\
examples:
  skdamerge reproduce --profile quick --out results/quick
  skdamerge reproduce --experiment sim2real --profile quick --out results/real
  skdamerge reproduce --profile paper --backbone resnet18 --device cuda \\
      --data ~/data/deepmerge2 --out results/paper_resnet18
"""

_FIT_DESCRIPTION = """\
Train one domain-adaptation model on your images and save it.

The source images (--source) are labelled with --labels (1 = merger,
0 = non-merger); the target images (--target) are the unlabelled images the model
must work on. Images are channels-first arrays (n, channels, height, width) in a
.npy file or a FITS cube, or a folder of FITS files (one per object) or of
JPEG/PNG cutouts. Every channel is standardised with statistics of the source
images; the standardiser is saved with the model.

Methods: source-only (no domain adaptation), mmd (MMD transfer loss), dann
(domain-adversarial). Defaults are the paper's DeepMerge values (Table A2); set
any constructor argument of the estimator with --param name=value (values are
Python literals; other text is taken as a string). For dann, a small
--param domain_lr_multiplier (e.g. 0.01) keeps the domain classifier from
winning. By default 12.5% of the source images are held out for early stopping
(--param validation_fraction).
"""

_FIT_EPILOG = """\
examples:
  skdamerge fit --source sim_X.npy --labels sim_y.npy --target sdss_X.npy \\
      --method mmd --model mmd.skdm
  skdamerge fit --source sim_X.npy --labels sim_y.npy --target sdss_cutouts/ \\
      --method dann --param domain_lr_multiplier=0.01 --param max_epochs=30 \\
      --param "betas=(0.7, 0.8)" --model dann.skdm

The model file is a pickle: load only model files you trust.
"""

_PREDICT_DESCRIPTION = """\
Classify galaxy images with a model written by 'skdamerge fit' and write a
catalog CSV with the columns object_id, p_merger (merger probability),
predicted_label (1 = merger, 0 = non-merger) and predicted_class.

--images is a .npy file or a FITS cube (object ids are the row numbers), a folder
of FITS files, one per object (ids are the file names), or a folder of JPEG/PNG
cutouts, searched recursively and resized to the model's image size (ids are the
relative paths without suffix). The catalog is written atomically: it appears
complete or not at all.
"""

_PREDICT_EPILOG = """\
examples:
  skdamerge predict --model mmd.skdm --images sdss_X.npy --out catalog.csv
  skdamerge predict --model mmd.skdm --images cutouts/ --out catalog.csv \\
      --threshold 0.7
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be in (0, 1)")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="CPU threads of torch (default: the cores not busy with other work, "
        "from the load average, at least 1)",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="show the full traceback on errors",
    )


def _build_parser() -> argparse.ArgumentParser:
    from ._methods import BACKBONES, EXPERIMENTS, PROFILES
    from ._model import METHODS

    parser = _Parser(
        prog="skdamerge",
        description="Domain adaptation for galaxy-merger classification "
        "(DeepMerge II) from the command line.",
        epilog=_MAIN_EPILOG,
        formatter_class=_FORMATTER,
    )
    parser.add_argument(
        "--version", action="version", version=f"skdamerge {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="command")

    reproduce = commands.add_parser(
        "reproduce",
        help="train the paper's methods and write its table and figures",
        description=_REPRODUCE_DESCRIPTION,
        epilog=_REPRODUCE_EPILOG,
        formatter_class=_FORMATTER,
    )
    reproduce.add_argument(
        "--experiment",
        choices=EXPERIMENTS,
        default="sim2sim",
        help="pair of domains (default: sim2sim)",
    )
    reproduce.add_argument(
        "--backbone",
        choices=BACKBONES,
        default="deepmerge",
        help="network (default: deepmerge)",
    )
    reproduce.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        default="quick",
        help="data size and training length (default: quick)",
    )
    reproduce.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder with the published DeepMerge II .npy files (default: the "
        "built-in simulator)",
    )
    reproduce.add_argument(
        "--out",
        type=Path,
        default=Path("skdamerge-results"),
        metavar="DIR",
        help="output folder (default: skdamerge-results)",
    )
    reproduce.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="torch device; auto takes CUDA when available (default: auto)",
    )
    reproduce.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of the data, split, weights and batches (default: 1, the paper's)",
    )
    reproduce.add_argument(
        "--pretrained",
        type=Path,
        default=None,
        metavar="FILE",
        help="sim2real only: weights of a sim2sim model for transfer learning, "
        "e.g. weights/sim2sim_mmd_deepmerge.pt of a sim2sim run (default: "
        "train one first)",
    )
    _add_common(reproduce)

    fit = commands.add_parser(
        "fit",
        help="train a domain-adaptation model on your images",
        description=_FIT_DESCRIPTION,
        epilog=_FIT_EPILOG,
        formatter_class=_FORMATTER,
    )
    fit.add_argument(
        "--source",
        required=True,
        metavar="PATH",
        help="labelled source images: .npy, FITS cube, or folder",
    )
    fit.add_argument(
        "--labels",
        required=True,
        metavar="FILE",
        help=".npy file of source labels, 1 = merger, 0 = non-merger, in the "
        "order of the source images (for a folder: sorted file names)",
    )
    fit.add_argument(
        "--target",
        default=None,
        metavar="PATH",
        help="unlabelled target images (required for mmd and dann)",
    )
    fit.add_argument(
        "--method",
        required=True,
        choices=tuple(METHODS),
        help="source-only, mmd or dann",
    )
    fit.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="estimator argument, repeatable, e.g. --param max_epochs=20",
    )
    fit.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="FILE",
        help="model file to write (.skdm)",
    )
    fit.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="torch device (default: auto)",
    )
    fit.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random_state of the estimator (default: 0)",
    )
    fit.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar",
    )
    _add_common(fit)

    predict = commands.add_parser(
        "predict",
        help="classify images with a saved model and write a catalog",
        description=_PREDICT_DESCRIPTION,
        epilog=_PREDICT_EPILOG,
        formatter_class=_FORMATTER,
    )
    predict.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="FILE",
        help="model file written by 'skdamerge fit'",
    )
    predict.add_argument(
        "--images",
        required=True,
        type=Path,
        metavar="FILE_OR_DIR",
        help=".npy file, FITS cube, folder of FITS files or of JPEG/PNG cutouts",
    )
    predict.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="CSV",
        help="catalog file to write",
    )
    predict.add_argument(
        "--threshold",
        type=_probability,
        default=0.5,
        help="p_merger above which an object is called a merger (default: 0.5)",
    )
    _add_common(predict)
    return parser


# -- commands -----------------------------------------------------------------------
def _check_device(device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise CommandError(
                "--device cuda: no CUDA device is available; use --device cpu."
            )


def _reproduce(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from ._reproduce_run import ReproduceConfig, command_line, run_reproduce

    _check_device(args.device)
    if args.pretrained is not None and args.experiment != "sim2real":
        raise CommandError("--pretrained is only used with --experiment sim2real.")
    if args.data is not None and not args.data.is_dir():
        raise CommandError(f"--data folder {str(args.data)!r} does not exist.")
    config = ReproduceConfig(
        experiment=args.experiment,
        backbone=args.backbone,
        profile=args.profile,
        out=args.out,
        data=args.data,
        device=args.device,
        seed=args.seed,
        pretrained=args.pretrained,
        command=command_line(list(argv)),
    )
    run_reproduce(config)
    return 0


def _fit(args: argparse.Namespace) -> int:
    from ..pipeline import make_da_pipeline
    from ..preprocessing import ChannelStandardizer
    from ._io import read_images, read_labels
    from ._model import make_estimator, parse_params, save_model
    from ._progress import epoch_progress

    _check_device(args.device)
    params = parse_params(args.param)
    estimator = make_estimator(
        args.method, {"random_state": args.seed, "device": args.device, **params}
    )
    if args.method != "source-only" and args.target is None:
        raise CommandError(
            f"--method {args.method} adapts to a target domain: pass --target "
            "with the unlabelled images (or use --method source-only)."
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
    if args.target is not None:
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
        params=params,
        n_source=len(source.X),
        n_target=0 if X_target is None else len(X_target),
    )
    valid = estimator.history_[estimator.best_epoch_ - 1].get("valid_acc")
    print(
        f"trained for {estimator.n_epochs_} epochs (kept epoch "
        f"{estimator.best_epoch_}) in {seconds:.0f} s"
        + (f", source validation accuracy {valid:.3f}" if valid is not None else "")
        + f"; wrote {args.model}"
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    from ._io import read_images, write_catalog
    from ._model import load_model

    if not args.out.parent.is_dir() and str(args.out.parent):
        raise CommandError(f"the folder of --out {str(args.out)!r} does not exist.")
    model = load_model(args.model)
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


def _set_threads(threads: int | None) -> None:
    """Use ``threads`` torch threads, by default the cores that are not busy.

    On a machine whose cores are all busy with other work, several torch threads
    wait for each other and training becomes many times slower than with one.
    """
    import torch

    if threads is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # not available on this platform
            return
        cores = os.cpu_count() or 1
        threads = max(1, min(torch.get_num_threads(), int(cores - load + 0.5)))
    torch.set_num_threads(threads)


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, KeyError):
        text = f"missing key {text}"
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skdamerge`` command.

    Parameters
    ----------
    argv : sequence of str or None, default=None
        Arguments without the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 1 on an error, 2 on a usage error, 130 when
        interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as error:
        print(str(error), file=sys.stderr)
        return _EXIT_USAGE
    except SystemExit as exit_:  # --help, --version
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help()
        return _EXIT_USAGE
    import torch

    threads = torch.get_num_threads()
    _set_threads(args.threads)
    try:
        if args.command == "reproduce":
            return _reproduce(args, argv)
        if args.command == "fit":
            return _fit(args)
        return _predict(args)
    except KeyboardInterrupt:
        print("\nskdamerge: interrupted", file=sys.stderr)
        return _EXIT_INTERRUPTED
    except Exception as error:
        if args.traceback or os.environ.get("SKDAMERGE_TRACEBACK"):
            raise
        print(f"skdamerge {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return _EXIT_ERROR
    finally:
        torch.set_num_threads(threads)  # main() may run inside another program


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
