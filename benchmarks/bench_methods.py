"""Every registered method x seeds on the simulated shifts (sim->sim and sim->real).

The table of ``bench_robustness.py`` with, by default, every method of the
registry (the paper's rows of ``skdamerge reproduce`` plus CDAN, MCC, SHOT,
DeepJDOT, Sinkhorn, CORAL and MDD, each with its defaults and the table's
training settings): mean +- standard deviation over the seeds of source and
target accuracy and AUC, the predicted and estimated target merger fraction and
the fit time. Every option of ``bench_robustness.py`` is accepted; an explicit
``--methods`` overrides the default list.

Usage::

    python benchmarks/bench_methods.py --experiments sim2sim --n-samples 1600 \
        --epochs 12 --batch-size 64 --threads 1
"""

from __future__ import annotations

import sys

import bench_robustness

from skdamerge._engine.objectives import method_names, objective_class

PAPER_ROWS = ["MMD+F", "ADA+F"]


def default_methods() -> list[str]:
    """Labels of every registered method, plus the paper's Fisher + entropy rows."""
    labels = [objective_class(name).label for name in method_names()]
    return labels[:3] + PAPER_ROWS + labels[3:]


if __name__ == "__main__":
    if "--methods" not in sys.argv:
        sys.argv += ["--methods", *default_methods()]
    bench_robustness.main()
