"""The ``skdamerge`` command: help, version, threads, usage errors and helpers."""

import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from cli_support import assert_one_line_error, run

import skdamerge
import skdamerge.cli._predict as predict_command
from skdamerge.cli._fit import parse_params
from skdamerge.cli._model import FORMAT, load_model
from skdamerge.cli._progress import EpochProgress


def run_module(*argv):
    """``python -m skdamerge`` in a subprocess, on this checkout's skdamerge."""
    root = str(Path(skdamerge.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "skdamerge", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )


# -- help and version ---------------------------------------------------------------
def test_python_m_help():
    result = run_module("--help")
    assert result.returncode == 0, result.stderr
    for word in ("reproduce", "fit", "predict", "examples:"):
        assert word in result.stdout


@pytest.mark.parametrize("command", ["reproduce", "fit", "predict"])
def test_subcommand_help_shows_an_example(capsys, command):
    status, out, _ = run(capsys, command, "--help")
    assert status == 0
    assert f"usage: skdamerge {command}" in out
    assert "--threads" in out and "--traceback" in out
    examples = out.split("examples:", 1)[1]
    assert f"skdamerge {command} --" in examples


def test_no_command_prints_help(capsys):
    status, out, _ = run(capsys)
    assert status == 2
    assert "reproduce" in out


def test_version(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0
    assert out == f"skdamerge {skdamerge.__version__}\n"
    result = run_module("--version")
    assert (result.returncode, result.stdout) == (0, out)


# -- threads ------------------------------------------------------------------------
@pytest.fixture
def threads_in_command(monkeypatch):
    """Run ``predict`` as a stub that records torch's thread count while it runs."""
    seen = []

    def stub(args, argv):
        seen.append(torch.get_num_threads())
        return 0

    monkeypatch.setattr(predict_command, "run", stub)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield seen
    torch.set_num_threads(before)


PREDICT = ["predict", "--model", "m.skdm", "--images", "X.npy", "--out", "c.csv"]


def test_threads_option_sets_torch_threads(capsys, threads_in_command):
    for threads in (1, 3):
        status, _, _ = run(capsys, *PREDICT, "--threads", threads)
        assert status == 0
        assert threads_in_command[-1] == threads
        assert torch.get_num_threads() == 4  # restored when the command ends
    status, _, err = run(capsys, *PREDICT, "--threads", "0")
    assert_one_line_error(status, err, "--threads", "at least 1")


@pytest.mark.parametrize("load", [0.0, 5.0, 7.6])
def test_default_threads_do_not_depend_on_the_load(
    capsys, monkeypatch, threads_in_command, load
):
    # A fit's result depends on the thread count: one seed, one table, whatever
    # else the machine runs. A busy machine gets a hint instead.
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    status, _, err = run(capsys, *PREDICT)
    assert status == 0
    assert threads_in_command == [4]
    assert torch.get_num_threads() == 4
    assert ("--threads 1 may be faster" in err) == (load > 4)


# -- usage errors -------------------------------------------------------------------
def test_usage_errors_are_one_line(capsys):
    status, _, err = run(capsys, "fit", "--method", "mmd")
    assert status == 2
    assert_one_line_error(status, err, "required", "--help")
    status, _, err = run(capsys, "reproduce", "--profile", "huge")
    assert_one_line_error(status, err, "huge")
    status, _, err = run(capsys, *PREDICT, "--threshold", "1.5")
    assert status == 2
    assert_one_line_error(status, err, "1.5", "(0, 1)")


def test_cuda_without_a_device_is_one_line(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    status, _, err = run(
        capsys, "fit", "--source", "X.npy", "--labels", "y.npy", "--method",
        "source-only", "--device", "cuda", "--model", "m.skdm",
    )  # fmt: skip
    assert_one_line_error(status, err, "--device cuda", "--device cpu")


# -- helpers ------------------------------------------------------------------------
def test_parse_params_literals_and_strings():
    params = parse_params(
        ["max_epochs=20", "betas=(0.7, 0.8)", "backbone=resnet18", "dropout=None"]
    )
    assert params == {
        "max_epochs": 20,
        "betas": (0.7, 0.8),
        "backbone": "resnet18",
        "dropout": None,
    }
    with pytest.raises(ValueError, match="twice"):
        parse_params(["lr=1", "lr=2"])


def test_model_files_naming_the_former_progress_module_load(tmp_path, monkeypatch):
    # Model files written while the command was one flat module pickled the
    # progress bar under the module name ``skdamerge._cli_progress``; pickled
    # (format-version-1) files load with the opt-in only.
    module = sys.modules["skdamerge.cli._progress"]
    monkeypatch.setitem(sys.modules, "skdamerge._cli_progress", module)
    monkeypatch.setattr(EpochProgress, "__module__", "skdamerge._cli_progress")
    payload = {
        "format": FORMAT,
        "format_version": 1,
        "pipeline": [EpochProgress("mmd", 3)],
        "X": np.arange(3),
    }
    joblib.dump(payload, tmp_path / "old.skdm")
    assert b"skdamerge._cli_progress" in (tmp_path / "old.skdm").read_bytes()
    monkeypatch.undo()
    sys.modules.pop("skdamerge._cli_progress", None)  # as in a new process
    try:
        model = load_model(tmp_path / "old.skdm", allow_pickle=True)
    finally:
        sys.modules.pop("skdamerge._cli_progress", None)
    (progress,) = model["pipeline"]
    assert isinstance(progress, EpochProgress)
    assert (progress.label, progress.max_epochs) == ("mmd", 3)
