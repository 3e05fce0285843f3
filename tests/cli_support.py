"""Helpers of the command-line tests: running the command, images, catalogs."""

import csv
import math

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from skdamerge.cli import main
from skdamerge.metrics import expected_calibration_error

TABLE_METRICS = ["auc", "accuracy", "precision", "recall", "f1", "brier", "ece"]


def run(capsys, *argv):
    """Run the command in-process; return (exit status, stdout, stderr)."""
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, *fragments):
    """A non-zero status and the error as the one last line of stderr."""
    assert status != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    errors = [line for line in lines if "error:" in line]
    assert errors == lines[-1:], err
    for fragment in fragments:
        assert fragment in lines[-1]


def make_images(n, seed, size=16, noise=0.05):
    """Blobs (label 0) and blob pairs (label 1), channels first, float32.

    The companion of a pair has a random brightness, so that a trained model gives
    a spread of merger probabilities rather than only 0 and 1.
    """
    rng = np.random.default_rng(seed)
    grid_y, grid_x = np.mgrid[:size, :size] - size / 2
    y = np.tile([0, 1], n // 2)
    brightness = rng.uniform(0.3, 1.0, n) * y
    X = np.exp(-(grid_x**2 + grid_y**2) / 8.0)[None].repeat(n, axis=0)
    X = X + brightness[:, None, None] * np.exp(-((grid_x - 4) ** 2 + grid_y**2) / 4.0)
    X = np.repeat(X[:, None], 3, axis=1) + rng.normal(0, noise, (n, 3, size, size))
    return X.astype(np.float32), y


def to_png_pixels(X):
    """8-bit RGB (height, width, 3) versions of channels-first images."""
    return np.clip(np.round(X.transpose(0, 2, 3, 1) * 200), 0, 255).astype(np.uint8)


def read_catalog(path):
    """Rows of a catalog CSV as dicts."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def catalog_p_merger(rows):
    """The p_merger column of a catalog."""
    return np.array([float(row["p_merger"]) for row in rows])


def check_catalog(rows, ids, threshold=0.5):
    """Ids in order; label and class follow p_merger and the threshold."""
    assert [row["object_id"] for row in rows] == list(ids)
    for row in rows:
        p = float(row["p_merger"])
        assert 0.0 <= p <= 1.0
        assert int(row["predicted_label"]) == int(p > threshold)
        expected = "merger" if p > threshold else "non-merger"
        assert row["predicted_class"] == expected


def metric_values(y, p):
    """The paper's table metrics computed with scikit-learn (merger = 1, p > 0.5)."""
    predicted = p > 0.5
    both = len(np.unique(y)) == 2
    return {
        "auc": roc_auc_score(y, p) if both else math.nan,
        "accuracy": accuracy_score(y, predicted),
        "precision": precision_score(y, predicted, zero_division=0.0),
        "recall": recall_score(y, predicted, zero_division=0.0),
        "f1": f1_score(y, predicted, zero_division=0.0),
        "brier": brier_score_loss(y, p),
        "ece": expected_calibration_error(y, p),  # checked by hand in test_calibration
    }
