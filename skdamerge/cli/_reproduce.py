"""``skdamerge reproduce``: its options and how they start a run."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ._errors import CommandError
from ._methods import methods_for
from ._profiles import BACKBONES, EXPERIMENTS, PROFILES
from ._resources import check_device

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "add_arguments", "run"]

HELP = "train the paper's methods and write its table and figures"

DESCRIPTION = """\
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

Deviations from Table A2 (results.json and the printed notes record each): the
plain adversarial runs (ADA) use the domain classifier learning-rate multiplier
of the adversarial + Fisher + entropy row (0.01 DeepMerge, 0.1 ResNet18) instead
of 1, at which the trained domain classifier wins; the DeepMerge MMD + Fisher +
entropy row uses smaller Fisher and entropy weights (0.001, 0.01), with which the
summed Fisher loss does not pin the target onto one class; the DeepMerge
adversarial rows flip and rotate their batches (augment=True), as MMD does by
default.

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

Prints a Table 1-style table (AUC, accuracy, precision, recall, F1, Brier score and
expected calibration error on the source and target test sets, and Table B1
confusion matrices) and writes to
--out: results.json, results.csv, results.md, metrics.png (metric bars and ROC
curves, Figure 3), score_histograms.png (Figure B1), latent_space.png (t-SNE,
Figure 5), gradcam.png (Figures 6-7), training_<method>.png and, for sim2sim, the
MMD model's weights (weights/sim2sim_mmd_<backbone>.pt, usable as --pretrained).
"""

EPILOG = """\
examples:
  skdamerge reproduce --profile quick --out results/quick
  skdamerge reproduce --experiment sim2real --profile quick --out results/real
  skdamerge reproduce --profile paper --backbone resnet18 --device cuda \\
      --data ~/data/deepmerge2 --out results/paper_resnet18
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``skdamerge reproduce`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument(
        "--experiment",
        choices=EXPERIMENTS,
        default="sim2sim",
        help="pair of domains (default: sim2sim)",
    )
    parser.add_argument(
        "--backbone",
        choices=BACKBONES,
        default="deepmerge",
        help="network (default: deepmerge)",
    )
    parser.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        default="quick",
        help="data size and training length (default: quick)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        metavar="NAME",
        help="rows to train, in this order: rows of the paper's table (noDA, MMD, "
        "MMD+F, ADA, ADA+F; sim2real: noDA, MMD, MMD+TL) or any registered "
        "method by label or name, which trains with its defaults and the table's "
        "training settings (default: the paper's table)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder with the published DeepMerge II .npy files (default: the "
        "built-in simulator)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("skdamerge-results"),
        metavar="DIR",
        help="output folder (default: skdamerge-results)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="torch device; auto takes CUDA when available (default: auto)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of the data, split, weights and batches (default: 1, the paper's)",
    )
    parser.add_argument(
        "--pretrained",
        type=Path,
        default=None,
        metavar="FILE",
        help="sim2real only: weights of a sim2sim model for transfer learning, "
        "e.g. weights/sim2sim_mmd_deepmerge.pt of a sim2sim run (default: "
        "train one first)",
    )


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Check the options of ``args`` and run the experiment.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``skdamerge reproduce``.
    argv : sequence of str
        The command line, recorded in ``results.json``.

    Returns
    -------
    int
        Exit status 0.
    """
    from ._reproduce_run import ReproduceConfig, command_line, run_reproduce

    check_device(args.device)
    if args.pretrained is not None and args.experiment != "sim2real":
        raise CommandError("--pretrained is only used with --experiment sim2real.")
    if args.data is not None and not args.data.is_dir():
        raise CommandError(f"--data folder {str(args.data)!r} does not exist.")
    if args.methods is not None:
        try:
            methods_for(args.experiment, args.backbone, args.methods)
        except ValueError as error:
            raise CommandError(str(error)) from None
    config = ReproduceConfig(
        experiment=args.experiment,
        backbone=args.backbone,
        profile=args.profile,
        out=args.out,
        data=args.data,
        device=args.device,
        seed=args.seed,
        pretrained=args.pretrained,
        methods=None if args.methods is None else tuple(args.methods),
        command=command_line(list(argv)),
    )
    run_reproduce(config)
    return 0
