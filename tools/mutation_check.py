"""Check that the objective tests kill mutants of the training objectives.

Each mutant is a copy of the package with one deliberate bug in
``skdamerge/_engine/objectives/_adaptation.py`` (a loss fed the wrong rows, a
dropped weight). The objective tests run against each copy; a mutant that passes
them "survives", which means the tests could not tell the bug from the real code.

Usage::

    python tools/mutation_check.py

Exits with status 1 if any mutant survives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = Path("skdamerge/_engine/objectives/_adaptation.py")
TESTS = ["tests/test_objectives.py", "-k", "objective"]

# (description, original text, mutated text)
MUTANTS = [
    (
        "classification loss on the target rows",
        "classification = criterion(logits[:n_source], ys)",
        "classification = criterion(logits[n_source:], ys)",
    ),
    (
        "Fisher loss on the target features",
        "source_features = features[:n_source]",
        "source_features = features[n_source:]",
    ),
    (
        "entropy on the source logits",
        "entropy = entropy_loss(logits[n_source:])",
        "entropy = entropy_loss(logits[:n_source])",
    ),
    (
        "transfer weight ignored",
        "transfer_weight=self.transfer_weight,",
        "transfer_weight=1.0,",
    ),
    (
        "entropy weight ignored",
        "entropy_weight=self.entropy_weight,\n            )",
        "entropy_weight=1.0,\n            )",
    ),
]


def run_mutant(original: str, mutated: str) -> bool:
    """Return True if the tests fail on the mutant (the mutant is killed)."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder)
        shutil.copytree(ROOT / "skdamerge", copy / "skdamerge")
        shutil.copytree(ROOT / "tests", copy / "tests")
        path = copy / TARGET
        source = path.read_text()
        if original not in source:
            raise SystemExit(f"mutation site not found: {original!r}")
        path.write_text(source.replace(original, mutated, 1))
        env = dict(os.environ, PYTHONPATH=str(copy))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
            + TESTS,
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
        )
        return result.returncode != 0


def main() -> int:
    """Run every mutant and print which were killed."""
    # The unmutated copy must pass, or "killed" would mean nothing.
    site = MUTANTS[0][1]
    if run_mutant(site, site):
        print("the objective tests fail on the unmutated code")
        return 1
    survivors = []
    for description, original, mutated in MUTANTS:
        killed = run_mutant(original, mutated)
        print(f"{'killed  ' if killed else 'SURVIVED'}  {description}")
        if not killed:
            survivors.append(description)
    print(f"{len(MUTANTS) - len(survivors)} of {len(MUTANTS)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
