"""``skdamerge reproduce``: the table, its numbers, the figures and the options."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from cli_support import TABLE_METRICS, assert_one_line_error, metric_values, run
from sklearn.metrics import confusion_matrix

import skdamerge.cli._reproduce_run as reproduce_run
from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge.cli import main
from skdamerge.cli._profiles import PROFILES
from skdamerge.cli._reproduce_data import prepare_data
from skdamerge.nets import DeepMerge, ResNet18

SIM2SIM_METHODS = ["noDA", "MMD", "MMD+F", "ADA", "ADA+F"]
SIM2REAL_METHODS = ["noDA", "MMD", "MMD+TL"]
ESTIMATORS = {
    "noDA": SourceOnlyClassifier,
    "MMD": MMDClassifier,
    "MMD+F": MMDClassifier,
    "ADA": DANNClassifier,
    "ADA+F": DANNClassifier,
}
FIGURES = ["metrics.png", "score_histograms.png", "latent_space.png", "gradcam.png"]
# The report function of ``reproduce``, before a test wraps it.
REPORT = reproduce_run.domain_adaptation_report
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CSV_LABELS = {
    "auc": "AUC",
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1 score",
    "brier": "Brier score",
    "ece": "ECE",
}


def reproduce(monkeypatch, out, *argv, figures=True):
    """Run a tiny ``reproduce`` in-process with one thread.

    Returns the exit status, ``results.json`` and, in the order of the table, the
    fitted models that ``reproduce`` evaluated with the test images and labels it
    evaluated them on. ``figures=False`` skips the figures (the slowest part of a
    tiny run) where a test does not look at them.
    """
    evaluated = []

    def recording_report(estimator, X_source, y_source, X_target, y_target):
        evaluated.append((estimator, X_source, y_source, X_target, y_target))
        return REPORT(estimator, X_source, y_source, X_target, y_target)

    monkeypatch.setattr(reproduce_run, "domain_adaptation_report", recording_report)
    if not figures:
        monkeypatch.setattr(reproduce_run, "draw_figures", lambda *args: [])
    status = main(
        [
            "reproduce", "--profile", "tiny", "--device", "cpu", "--threads", "1",
            "--out", str(out), *map(str, argv),
        ]
    )  # fmt: skip
    results = json.loads((out / "results.json").read_text()) if status == 0 else None
    return status, results, evaluated


@pytest.fixture(scope="module")
def sim2sim_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim2sim")
    with pytest.MonkeyPatch.context() as monkeypatch:
        status, results, evaluated = reproduce(monkeypatch, out)
    assert status == 0
    return out, results, evaluated


def reported(entry, domain, metric):
    """A metric of results.json, NaN where JSON holds null."""
    value = entry[domain][metric]
    return math.nan if value is None else value


def check_reported_metrics(results, evaluated, names):
    """Every number of the table equals the metric of the model's predictions."""
    assert len(evaluated) == len(names)
    for name, (estimator, Xs, ys, Xt, yt) in zip(names, evaluated, strict=True):
        entry = results["methods"][name]
        for domain, X, y in (("source", Xs, ys), ("target", Xt, yt)):
            p = estimator.predict_proba(X)[:, 1]
            expected = metric_values(y, p)
            for metric in TABLE_METRICS:
                np.testing.assert_allclose(
                    reported(entry, domain, metric),
                    expected[metric],
                    rtol=1e-12,
                    atol=1e-12,
                    err_msg=f"{name} {domain} {metric}",
                )
            # Table B1: columns the true class, rows the predicted one, merger first.
            matrix = confusion_matrix(y, p > 0.5, labels=[1, 0], normalize="true")
            np.testing.assert_allclose(entry["confusion"][domain], matrix.T)
            assert entry[f"n_{domain}"] == len(y)


def test_reproduce_tiny_writes_table_and_figures(sim2sim_run):
    out, results, _ = sim2sim_run
    assert results["experiment"] == "sim2sim"
    assert results["profile"] == "tiny"
    assert results["backbone"] == "deepmerge"
    assert results["seed"] == 1
    assert list(results["methods"]) == SIM2SIM_METHODS
    for name, entry in results["methods"].items():
        assert entry["estimator"] == ESTIMATORS[name].__name__
        assert 1 <= entry["best_epoch"] <= entry["n_epochs"] <= 2
    # Table A2 values reached the estimators.
    assert results["methods"]["ADA+F"]["params"]["domain_lr_multiplier"] == 0.01
    # MMD+F: the documented deviation for the summed Fisher loss.
    assert results["methods"]["MMD+F"]["params"]["entropy_weight"] == 0.01
    assert results["methods"]["MMD+F"]["params"]["fisher_intra_weight"] == 0.001
    assert results["methods"]["noDA"]["params"]["weight_decay"] == 0.01
    # The adversarial rows flip and rotate their batches, and say so.
    for name in ("ADA", "ADA+F"):
        assert results["methods"][name]["params"]["augment"] is True
        assert "augment=True" in results["methods"][name]["deviation_from_paper"]
    markdown = (out / "results.md").read_text()
    assert "| AUC |" in markdown and "| Brier score |" in markdown
    assert "| ECE |" in markdown
    for name in SIM2SIM_METHODS:
        assert f"{name} source" in markdown and f"{name} target" in markdown

    for name in [*FIGURES, *(f"training_{m}.png" for m in ("noda", "mmd_f"))]:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, name
    assert set(results["figures"]) >= set(FIGURES)
    # Only complete files: no temporary files are left behind.
    assert not list(out.glob(".*.tmp"))


def test_reproduce_reports_the_metrics_of_its_models(sim2sim_run):
    out, results, evaluated = sim2sim_run
    check_reported_metrics(results, evaluated, SIM2SIM_METHODS)
    # Evaluated on the test parts of the 70/10/20 split, computed here again.
    data = prepare_data("sim2sim", PROFILES["tiny"], None, seed=1)
    for _, Xs, ys, Xt, yt in evaluated:
        np.testing.assert_array_equal(Xs, data.X_source_test)
        np.testing.assert_array_equal(ys, data.y_source_test)
        np.testing.assert_array_equal(yt, data.y_target_test)
        np.testing.assert_array_equal(Xt, data.X_target_test)
        assert len(ys) == results["n_images"]["source"]["test"] == 12
    # results.csv holds the same numbers, one column per method and domain.
    rows = list(csv.reader((out / "results.csv").open()))
    header, by_label = rows[0], {row[0]: row[1:] for row in rows[1:]}
    assert header[0] == "quantity"
    for name in SIM2SIM_METHODS:
        for domain in ("source", "target"):
            column = header.index(f"{name} {domain}") - 1
            for metric, label in CSV_LABELS.items():
                value = reported(results["methods"][name], domain, metric)
                assert float(by_label[label][column]) == pytest.approx(
                    value, abs=5e-5, nan_ok=True
                )


def test_reproduce_trains_a_different_model_per_row(sim2sim_run):
    _, results, evaluated = sim2sim_run
    models = dict(zip(SIM2SIM_METHODS, evaluated, strict=True))
    for name, (estimator, *_) in models.items():
        assert type(estimator) is ESTIMATORS[name]
        assert isinstance(estimator.module_.extractor.backbone, DeepMerge)
        # The reported hyperparameters are those of the model that was trained.
        params = estimator.get_params()
        for key, value in results["methods"][name]["params"].items():
            assert params[key] == (tuple(value) if key == "betas" else value), key
    _, _, _, X_target, _ = models["noDA"]
    p_noda = models["noDA"][0].predict_proba(X_target)[:, 1]
    for name in SIM2SIM_METHODS[1:]:
        p = models[name][0].predict_proba(X_target)[:, 1]
        assert not np.allclose(p, p_noda, atol=1e-4), name
    # The saved MMD weights are the MMD model's backbone.
    out = sim2sim_run[0]
    saved = torch.load(out / "weights" / "sim2sim_mmd_deepmerge.pt")["state_dict"]
    backbone = models["MMD"][0].module_.extractor.backbone.state_dict()
    assert saved.keys() == backbone.keys()
    assert all(torch.equal(saved[key], backbone[key]) for key in saved)


def test_reproduce_seed(sim2sim_run, tmp_path, monkeypatch):
    _, first, first_models = sim2sim_run
    status, same, same_models = reproduce(
        monkeypatch, tmp_path / "same", "--seed", "1", figures=False
    )
    assert status == 0
    status, other, other_models = reproduce(
        monkeypatch, tmp_path / "other", "--seed", "2", figures=False
    )
    assert status == 0
    assert other["seed"] == 2 and "random_state=2" in other["data"]
    for name in SIM2SIM_METHODS:
        for domain in ("source", "target"):
            assert same["methods"][name][domain] == first["methods"][name][domain]
    for (model, X, *_), (again, X_again, *_) in zip(
        first_models, same_models, strict=True
    ):
        np.testing.assert_array_equal(X, X_again)
        np.testing.assert_array_equal(model.predict_proba(X), again.predict_proba(X))
    # Another seed: other simulated galaxies, other weights, other numbers.
    _, X_first, *_ = first_models[0]
    _, X_other, *_ = other_models[0]
    assert not np.array_equal(X_first, X_other)
    differs = [
        first["methods"][name][domain] != other["methods"][name][domain]
        for name in SIM2SIM_METHODS
        for domain in ("source", "target")
    ]
    assert all(differs)


@pytest.mark.slow
def test_reproduce_resnet18(tmp_path, monkeypatch):
    out = tmp_path / "resnet18"
    status, results, evaluated = reproduce(
        monkeypatch, out, "--backbone", "resnet18", figures=False
    )
    assert status == 0
    assert results["backbone"] == "resnet18"
    assert list(results["methods"]) == SIM2SIM_METHODS
    for name, (estimator, *_) in zip(SIM2SIM_METHODS, evaluated, strict=True):
        assert type(estimator) is ESTIMATORS[name]
        assert isinstance(estimator.module_.extractor.backbone, ResNet18)
    check_reported_metrics(results, evaluated, SIM2SIM_METHODS)
    # Table A2, ResNet18 column.
    params = {name: entry["params"] for name, entry in results["methods"].items()}
    assert (params["noDA"]["lr"], params["noDA"]["dropout"]) == (2.3e-4, 0.6)
    assert params["noDA"]["weight_decay"] == 0.1
    assert params["MMD"]["transfer_weight"] == 0.01
    assert params["ADA"]["domain_lr_multiplier"] == 0.1
    assert params["ADA+F"]["cycle_length"] == 8
    saved = torch.load(out / "weights" / "sim2sim_mmd_resnet18.pt")["state_dict"]
    backbone = evaluated[1][0].module_.extractor.backbone.state_dict()
    assert all(torch.equal(saved[key], backbone[key]) for key in backbone)


def write_published_files(folder, n, seed):
    """Small files named like the DeepMerge II sim2real data on Zenodo."""
    from skdamerge.datasets._deepmerge_files import DEEPMERGE_FILES

    rng = np.random.default_rng(seed)
    names = DEEPMERGE_FILES["sim2real"]
    for domain in ("source", "target"):
        X = rng.normal(size=(n, 3, 32, 32)).astype(np.float32)
        y = np.tile([0.0, 1.0], n // 2)  # stored as floats, as published
        X[y == 1, :, 12:20, 12:20] += 2.0
        np.save(folder / names[f"X_{domain}"], X)
        np.save(folder / names[f"y_{domain}"], y)


def test_reproduce_sim2real_from_files_with_transfer_learning(
    capsys, sim2sim_run, tmp_path
):
    sim2sim_out, _, _ = sim2sim_run
    weights = sim2sim_out / "weights" / "sim2sim_mmd_deepmerge.pt"
    data = tmp_path / "zenodo"
    data.mkdir()
    write_published_files(data, 70, seed=0)
    out = tmp_path / "out"
    status, stdout, err = run(
        capsys,
        "reproduce", "--profile", "tiny", "--experiment", "sim2real",
        "--data", data, "--out", out, "--device", "cpu",
        "--pretrained", weights,
    )  # fmt: skip
    assert status == 0, err
    for label in ("AUC", "Accuracy", "Precision", "Recall", "F1 score", "Brier", "ECE"):
        assert label in stdout
    for name in SIM2REAL_METHODS:
        assert name in stdout
        assert f"done {name}:" in err  # one summary line per method
    assert "epoch   2/2" in err  # the per-epoch progress lines
    results = json.loads((out / "results.json").read_text())
    assert list(results["methods"]) == SIM2REAL_METHODS
    # The tiny profile takes a stratified subset of 60 of the 70 images.
    assert "60 of 70 source" in results["data"]
    assert sum(results["n_images"]["target"].values()) == 60
    assert results["pretraining"]["weights"] == str(weights)
    assert results["methods"]["MMD+TL"]["params"]["lr"] == 0.01  # Table A3
    assert results["methods"]["MMD+TL"]["params"]["init_weights"] == str(weights)
    # The result depends on the thread count: recorded with the seed.
    assert results["torch_threads"] == torch.get_num_threads()


# -- errors -------------------------------------------------------------------------
def test_reproduce_missing_pretrained_weights(capsys, tmp_path):
    status, out, err = run(
        capsys,
        "reproduce", "--profile", "tiny", "--out", tmp_path,
        "--experiment", "sim2real", "--device", "cpu", "--seed", "3",
        "--pretrained", tmp_path / "missing.pt",
    )  # fmt: skip
    assert_one_line_error(status, err, "missing.pt")


def test_reproduce_pretrained_is_for_sim2real_only(capsys, tmp_path):
    status, _, err = run(
        capsys, "reproduce", "--profile", "tiny", "--out", tmp_path,
        "--pretrained", tmp_path / "weights.pt",
    )  # fmt: skip
    assert_one_line_error(status, err, "--pretrained", "sim2real")
    assert not (tmp_path / "results.json").exists()


def test_reproduce_rejects_resnet18_for_sim2real(capsys, tmp_path):
    status, _, err = run(
        capsys,
        "reproduce", "--profile", "tiny", "--experiment", "sim2real",
        "--backbone", "resnet18", "--out", tmp_path,
    )  # fmt: skip
    assert_one_line_error(status, err, "DeepMerge only")


def test_reproduce_missing_data_folder(capsys, tmp_path):
    status, _, err = run(
        capsys, "reproduce", "--data", tmp_path / "nowhere", "--out", tmp_path
    )
    assert_one_line_error(status, err, "nowhere", "does not exist")


def test_sim2sim_twins_stay_in_the_same_split_part():
    data = prepare_data("sim2sim", PROFILES["tiny"], None, seed=0)
    # The noisy twin of a source training galaxy is never a target test galaxy.
    np.testing.assert_array_equal(data.idx_source_test, data.idx_target_test)
    np.testing.assert_array_equal(data.y_source_test, data.y_target_test)
    assert data.sizes["source"] == {"train": 42, "valid": 6, "test": 12}
    assert (len(data.y_fit), len(data.y_valid)) == (42, 6)
    # Standardised with the statistics of the source fitting images.
    fitting = np.concatenate([data.X_fit, data.X_valid])
    np.testing.assert_allclose(fitting.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(fitting.std(axis=(0, 2, 3)), 1, atol=1e-3)


@pytest.fixture
def registered_toy_method():
    """A method registered for one test: MMD's objective under another name."""
    from dataclasses import dataclass

    from skdamerge._engine.objectives import (
        MMDObjective,
        register_objective,
        unregister_method,
    )
    from skdamerge._estimators import MMDClassifier as Base

    @register_objective
    @dataclass
    class ToyObjective(MMDObjective):
        name = "toy"
        label = "TOY"

    class ToyClassifier(Base, objective=ToyObjective):
        pass

    yield ToyClassifier
    unregister_method("toy")


def test_reproduce_methods_selects_rows_and_registered_methods(
    monkeypatch, tmp_path, registered_toy_method
):
    from skdamerge.cli._methods import methods_for

    rows = methods_for("sim2sim", "deepmerge", ["dann", "MMD+F", "TOY"])
    assert [row.name for row in rows] == ["ADA", "MMD+F", "TOY"]
    table = {row.name: row for row in methods_for("sim2sim", "deepmerge")}
    assert rows[0] is table["ADA"]  # a registry name gives the paper's row
    assert rows[2].method == "toy" and "not in the paper" in rows[2].deviation
    assert rows[2].params["lr"] == table["MMD"].params["lr"]
    status, results, evaluated = reproduce(
        monkeypatch, tmp_path, "--methods", "TOY", "noDA", figures=False
    )
    assert status == 0
    assert list(results["methods"]) == ["TOY", "noDA"]
    assert type(evaluated[0][0]) is registered_toy_method
    assert type(evaluated[1][0]) is SourceOnlyClassifier
    check_reported_metrics(results, evaluated, ["TOY", "noDA"])


def test_reproduce_unknown_method_lists_the_known_ones(capsys, tmp_path):
    status, _, err = run(
        capsys, "reproduce", "--methods", "no-such-method", "--out", tmp_path
    )
    assert_one_line_error(status, err, "'no-such-method'", "MMD+F", "CDAN")
    assert not (tmp_path / "results.json").exists()
