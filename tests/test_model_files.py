"""Model files: identical predictions after a round trip, no pickle, clear refusals."""

import json
import os
import pickle
import warnings
import zipfile
from contextlib import contextmanager

import joblib
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from skorch.callbacks import PrintLog

from skdamerge import (
    CDANClassifier,
    DANNClassifier,
    MDDClassifier,
    MMDClassifier,
    SHOTClassifier,
    SourceOnlyClassifier,
    load_model,
    read_model_metadata,
    save_model,
)
from skdamerge.metrics import estimate_merger_fraction
from skdamerge.model_files import FORMAT, FORMAT_VERSION, METADATA, WEIGHTS
from skdamerge.pipeline import make_da_pipeline
from skdamerge.preprocessing import ChannelStandardizer

FAST = dict(max_epochs=2, batch_size=32, random_state=0, device="cpu")
SHOT_FAST = {**FAST, "target_epochs": FAST["max_epochs"]}


@pytest.fixture(scope="module")
def shift(tiny_shift):
    """64 images per domain of the session's small shift, in a channel scale."""
    Xs, ys, Xt, yt = tiny_shift
    return 3 * Xs[:64] + 1, ys[:64], 3 * Xt[:64] + 1, yt[:64]


@contextmanager
def _quiet():
    """Silence the warnings of trainings too short to adapt."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _fit_pipeline(Estimator, shift, **params):
    Xs, ys, Xt, _ = shift
    pipe = make_da_pipeline(ChannelStandardizer(), Estimator(**FAST, **params))
    with _quiet():
        pipe.fit(Xs, ys, X_target=Xt)
    # A decision threshold for target images: the median merger probability, so
    # that predict(domain="target") differs from the most probable class.
    proba = pipe.predict_proba(Xt, domain="target")[:, 1]
    pipe[-1].target_threshold_ = float(np.median(proba))
    return pipe


@pytest.mark.parametrize(
    "Estimator", [MMDClassifier, DANNClassifier, CDANClassifier, MDDClassifier]
)
def test_loaded_pipeline_predicts_exactly_as_the_saved_one(Estimator, shift, tmp_path):
    Xs, _, Xt, _ = shift
    pipe = _fit_pipeline(Estimator, shift)
    path = save_model(tmp_path / "model.skdm", pipe, n_source=len(Xs))
    loaded = load_model(path)
    assert type(loaded) is type(pipe)
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]
    estimator, original = loaded[-1], pipe[-1]
    assert type(estimator) is Estimator
    assert estimator.get_params() == original.get_params()
    # The extra networks of the method (domain classifier, auxiliary head) too.
    assert estimator.module_.extra_module_names == original.module_.extra_module_names
    saved = original.module_.state_dict()
    for key, value in estimator.module_.state_dict().items():
        assert torch.equal(value.cpu(), saved[key].cpu()), key
    for X in (Xs, Xt):
        for domain in ("source", "target"):
            np.testing.assert_array_equal(
                loaded.predict_proba(X, domain=domain),
                pipe.predict_proba(X, domain=domain),
            )
            np.testing.assert_array_equal(
                loaded.predict(X, domain=domain), pipe.predict(X, domain=domain)
            )
    np.testing.assert_array_equal(loaded.transform(Xt), pipe.transform(Xt))
    # The threshold is used: target predictions differ from the argmax ones.
    assert not np.array_equal(loaded.predict(Xt, domain="target"), loaded.predict(Xt))
    # Fitted values of the estimator and of the standardiser.
    assert estimator.target_threshold_ == original.target_threshold_
    np.testing.assert_array_equal(estimator.classes_, original.classes_)
    assert estimator.input_shape_ == original.input_shape_
    assert estimator.target_collapse_ == original.target_collapse_
    assert estimator.best_epoch_ == original.best_epoch_
    assert [row["train_loss"] for row in estimator.history_] == [
        row["train_loss"] for row in original.history_
    ]
    for name in ("mean_", "var_", "scale_"):
        np.testing.assert_array_equal(getattr(loaded[0], name), getattr(pipe[0], name))


def test_metadata_is_plain_json_with_the_training_summary(shift, tmp_path):
    Xs, _, Xt, _ = shift
    pipe = _fit_pipeline(MMDClassifier, shift, transfer_weight=0.5)
    path = tmp_path / "mmd.skdm"
    save_model(path, pipe, n_source=len(Xs), bands=["g", "r", "i"])
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted([METADATA, WEIGHTS])
        raw = json.loads(archive.read(METADATA))
        weights = archive.read(WEIGHTS)
    assert (raw["format"], raw["format_version"]) == (FORMAT, FORMAT_VERSION)
    # Nothing pickled: no pickle protocol marker at the start of either member.
    assert not weights.startswith(b"\x80") and b"torch._utils" not in weights
    metadata = read_model_metadata(path)
    assert (metadata["method"], metadata["estimator"]) == ("mmd", "MMDClassifier")
    assert metadata["params"]["transfer_weight"] == 0.5
    assert metadata["params"]["betas"] == (0.7, 0.8)
    assert metadata["classes"] == [0, 1]
    assert metadata["class_names"] == ["non-merger", "merger"]
    assert metadata["input_shape"] == [3, 16, 16]
    assert metadata["bands"] == ["g", "r", "i"]
    assert metadata["decision_threshold"] == pipe[-1].target_threshold_
    training = metadata["training"]
    assert training["best_epoch"] == pipe[-1].best_epoch_
    assert (training["n_source"], training["n_target"]) == (64, len(Xt))
    assert training["source_merger_fraction"] == pipe[-1].source_merger_fraction_
    assert len(training["history"]) == pipe[-1].n_epochs_
    (step,) = metadata["preprocessing"]["steps"]
    assert step["class"] == "ChannelStandardizer"
    np.testing.assert_array_equal(step["fitted"]["mean_"], pipe[0].mean_)
    np.testing.assert_array_equal(step["fitted"]["scale_"], pipe[0].scale_)


def test_a_bare_estimator_with_string_labels_and_an_estimate(shift, tmp_path):
    Xs, ys, Xt, _ = shift
    labels = np.where(ys == 1, "merger", "single")
    clf = SourceOnlyClassifier(**FAST).fit(Xs, labels)
    # A merger-fraction estimate as fitted attribute (a record of plain values).
    clf.target_merger_fraction_ = estimate_merger_fraction(
        clf, Xt, Xs, labels, pos_label="single", n_bootstrap=20, random_state=0
    )
    path = save_model(tmp_path / "bare.skdm", clf, class_names=["M", "S"])
    loaded = load_model(path)
    assert type(loaded) is SourceOnlyClassifier
    assert list(loaded.classes_) == ["merger", "single"]
    np.testing.assert_array_equal(loaded.predict(Xt), clf.predict(Xt))
    np.testing.assert_array_equal(loaded.predict_proba(Xt), clf.predict_proba(Xt))
    estimate = loaded.target_merger_fraction_
    assert type(estimate) is type(clf.target_merger_fraction_)
    # Equal field by field (NaN checks included).
    np.testing.assert_equal(estimate.to_dict(), clf.target_merger_fraction_.to_dict())
    metadata = read_model_metadata(path)
    assert metadata["preprocessing"] is None
    assert metadata["class_names"] == ["M", "S"]
    assert metadata["classes"] == ["merger", "single"]
    fraction = metadata["training"]["target_merger_fraction"]
    np.testing.assert_equal(fraction.to_dict(), estimate.to_dict())


def test_loading_leaves_the_random_generators_alone(shift, tmp_path):
    Xs, ys, _, _ = shift
    clf = SourceOnlyClassifier(**FAST).fit(Xs, ys)
    path = save_model(tmp_path / "m.skdm", clf)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    load_model(path)
    assert torch.equal(torch.get_rng_state(), before)


def test_loading_unpickles_nothing(shift, tmp_path, monkeypatch):
    Xs, ys, Xt, _ = shift
    pipe = _fit_pipeline(DANNClassifier, shift)
    path = save_model(tmp_path / "m.skdm", pipe)

    def refuse(*args, **kwargs):
        raise AssertionError("a model file was unpickled")

    for module, name in [
        (pickle, "load"),
        (pickle, "loads"),
        (pickle, "Unpickler"),
        (torch, "load"),
        (joblib, "load"),
    ]:
        monkeypatch.setattr(module, name, refuse)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(Xt), pipe.predict_proba(Xt))


# -- what cannot be saved ----------------------------------------------------------
def test_parameters_that_are_not_plain_data_are_refused(shift, tmp_path):
    Xs, ys, _, _ = shift
    clf = SourceOnlyClassifier(**FAST).fit(Xs, ys)
    path = tmp_path / "m.skdm"
    save_model(path, clf)
    before = path.read_bytes()
    cases = {
        "callbacks": [("log", PrintLog())],
        "random_state": np.random.RandomState(0),
    }
    for name, value in cases.items():
        unsaved = SourceOnlyClassifier(**FAST).fit(Xs, ys).set_params(**{name: value})
        with pytest.raises(ValueError, match=rf"parameter '{name}'.*set_params"):
            save_model(path, unsaved)
    # The existing file is left whole, no temporary file is left behind.
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.skdm"]


def test_what_fit_reads_or_writes_is_not_saved(shift, tmp_path):
    Xs, ys, Xt, _ = shift
    source = SourceOnlyClassifier(**FAST).fit(Xs, ys)
    with _quiet():
        shot = SHOTClassifier(
            source_model=source,
            checkpoint_path=str(tmp_path / "ckpt.pt"),
            **SHOT_FAST,
        ).fit(X_target=Xt)
    path = save_model(tmp_path / "shot.skdm", shot)
    metadata = read_model_metadata(path)
    assert metadata["params_not_saved"] == ["checkpoint_path", "source_model"]
    assert metadata["params"]["source_model"] is None
    loaded = load_model(path)
    assert (loaded.source_model, loaded.checkpoint_path) == (None, None)
    np.testing.assert_array_equal(loaded.predict_proba(Xt), shot.predict_proba(Xt))
    # A crafted file that names paths gets None as well.
    members = _members(path.read_bytes(), tmp_path)
    raw = json.loads(members[METADATA])
    raw["params"]["checkpoint_path"] = str(tmp_path / "victim.txt")
    raw["params"]["resume_from"] = str(tmp_path / "victim.txt")
    crafted = _archive(
        tmp_path / "crafted.skdm", {**members, METADATA: json.dumps(raw)}
    )
    loaded = load_model(crafted)
    assert (loaded.checkpoint_path, loaded.resume_from) == (None, None)


def test_what_is_not_a_fitted_skdamerge_model_is_refused(shift, tmp_path):
    from sklearn.linear_model import LogisticRegression

    Xs, ys, _, _ = shift
    with pytest.raises(NotFittedError):
        save_model(tmp_path / "m.skdm", MMDClassifier())
    with pytest.raises(TypeError, match="skdamerge estimator"):
        save_model(tmp_path / "m.skdm", LogisticRegression())
    clf = SourceOnlyClassifier(**FAST).fit(Xs, ys)
    with pytest.raises(ValueError, match="bands must name the 3 channel"):
        save_model(tmp_path / "m.skdm", clf, bands=["g", "r"])
    with pytest.raises(ValueError, match="class_names must name the 2 classes"):
        save_model(tmp_path / "m.skdm", clf, class_names=["merger"])
    assert not (tmp_path / "m.skdm").exists()


# -- pickles: refused without the opt-in -------------------------------------------
class _Exploit:
    """Unpickling this creates ``marker``: what a malicious model file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.skdm"
    joblib.dump({"format": FORMAT, "pipeline": _Exploit(marker)}, path)
    for load in (load_model, read_model_metadata):
        with pytest.raises(ValueError) as error:
            load(path)
        message = str(error.value)
        assert "evil.skdm" in message and "pickle" in message
        assert "format version 1" in message and "allow_pickle=True" in message
        assert not marker.exists()
    # The opt-in does unpickle: the reason it is refused by default.
    with pytest.raises(ValueError):
        load_model(path, allow_pickle=True)
    assert marker.exists()


def test_a_genuine_version_1_file_loads_with_the_opt_in(shift, tmp_path):
    Xs, ys, Xt, _ = shift
    pipe = _fit_pipeline(MMDClassifier, shift)
    path = tmp_path / "old.skdm"
    # What the format-version-1 writer of 'skdamerge fit' wrote.
    joblib.dump(
        {
            "format": FORMAT,
            "format_version": 1,
            "skdamerge_version": "0.1.0.dev0",
            "method": "mmd",
            "params": {},
            "class_names": ["non-merger", "merger"],
            "classes": [0, 1],
            "input_shape": [3, 16, 16],
            "n_source": len(Xs),
            "n_target": len(Xt),
            "pipeline": pipe,
        },
        path,
    )
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load_model(path)
    loaded = load_model(path, allow_pickle=True)
    np.testing.assert_array_equal(
        loaded.predict_proba(Xt, domain="target"),
        pipe.predict_proba(Xt, domain="target"),
    )
    assert read_model_metadata(path, allow_pickle=True)["n_source"] == len(Xs)
    # Saved again, it is a safe model file that predicts the same.
    converted = save_model(tmp_path / "new.skdm", loaded)
    np.testing.assert_array_equal(
        load_model(converted).predict(Xt, domain="target"),
        pipe.predict(Xt, domain="target"),
    )


# -- damaged files -----------------------------------------------------------------
@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory, tiny_shift):
    Xs, ys, _, _ = tiny_shift
    clf = SourceOnlyClassifier(**FAST).fit(Xs[:64], ys[:64])
    path = save_model(tmp_path_factory.mktemp("model") / "m.skdm", clf)
    return path.read_bytes()


def _archive(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _members(data, tmp_path):
    source = tmp_path / "source.skdm"
    source.write_bytes(data)
    with zipfile.ZipFile(source) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_damaged_files_raise_a_clear_error(model_bytes, tmp_path):
    members = _members(model_bytes, tmp_path)
    metadata = json.loads(members[METADATA])
    cases = {}
    truncated = tmp_path / "truncated.skdm"
    truncated.write_bytes(model_bytes[: len(model_bytes) // 2])
    cases[truncated] = "zip archive without its end.*damaged or incomplete"
    no_weights = _archive(tmp_path / "no_weights.skdm", {METADATA: members[METADATA]})
    cases[no_weights] = "has no member 'weights.safetensors'"
    no_metadata = _archive(tmp_path / "no_metadata.skdm", {WEIGHTS: members[WEIGHTS]})
    cases[no_metadata] = "has no member 'metadata.json'"
    other = _archive(
        tmp_path / "other.skdm",
        {**members, METADATA: json.dumps({**metadata, "format": "other-model"})},
    )
    cases[other] = "format 'other-model'"
    newer = _archive(
        tmp_path / "newer.skdm",
        {**members, METADATA: json.dumps({**metadata, "format_version": 99})},
    )
    cases[newer] = "format version 99.*upgrade skdamerge"
    not_json = _archive(tmp_path / "not_json.skdm", {**members, METADATA: "{oops"})
    cases[not_json] = "not JSON"
    bad_weights = _archive(
        tmp_path / "bad_weights.skdm", {**members, WEIGHTS: b"\x00" * 64}
    )
    cases[bad_weights] = "weights that cannot be read"
    wrong_method = _archive(
        tmp_path / "wrong_method.skdm",
        {**members, METADATA: json.dumps({**metadata, "method": "nonexistent"})},
    )
    cases[wrong_method] = "could not be rebuilt.*'nonexistent'"
    attribute = _archive(
        tmp_path / "attribute.skdm",
        {
            **members,
            METADATA: json.dumps(
                {**metadata, "fitted": {**metadata["fitted"], "predict": 1}}
            ),
        },
    )
    cases[attribute] = "could not be rebuilt.*'predict' is not a fitted attribute"
    for path, fragment in cases.items():
        with pytest.raises(ValueError, match=fragment) as error:
            load_model(path)
        assert path.name in str(error.value)
    # A flipped byte in the stored weights fails the zip's checksum.
    flipped = bytearray(model_bytes)
    start = model_bytes.index(b"weights.safetensors") + 200
    flipped[start] ^= 0xFF
    (tmp_path / "flipped.skdm").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="flipped.skdm.*damaged"):
        load_model(tmp_path / "flipped.skdm")
    with pytest.raises(FileNotFoundError, match="none.skdm"):
        load_model(tmp_path / "none.skdm")


def test_other_files_are_not_model_files(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a skdamerge model file"):
        load_model(tmp_path / "X.npy")
    torch.save({"state_dict": {}}, tmp_path / "weights.pt")  # a zip, not ours
    with pytest.raises(ValueError, match="has no member 'metadata.json'"):
        load_model(tmp_path / "weights.pt")


# -- SHOT adapts a published model file --------------------------------------------
def test_source_free_shot_from_a_model_file(shift, tmp_path):
    Xs, ys, Xt, _ = shift
    source = make_da_pipeline(ChannelStandardizer(), SourceOnlyClassifier(**FAST))
    source.fit(Xs, ys)
    path = save_model(tmp_path / "published.skdm", source, n_source=len(Xs))
    published = load_model(path)
    Xt_seen = published[:-1].transform(Xt)
    with _quiet():
        from_estimator = SHOTClassifier(source_model=source[-1], **SHOT_FAST)
        from_estimator.fit(X_target=Xt_seen)
        from_file = SHOTClassifier(source_model=str(path), **SHOT_FAST)
        from_file.fit(X_target=Xt_seen)
    assert from_file.source_merger_fraction_ == source[-1].source_merger_fraction_
    np.testing.assert_array_equal(from_file.classes_, source[-1].classes_)
    # The same network, adapted the same way, from the estimator or its file.
    np.testing.assert_array_equal(
        from_file.predict_proba(Xt_seen), from_estimator.predict_proba(Xt_seen)
    )
    assert not np.array_equal(
        from_file.predict_proba(Xt_seen), source[-1].predict_proba(Xt_seen)
    )
    # The adapted model is saved and loaded like any other.
    again = load_model(save_model(tmp_path / "adapted.skdm", from_file))
    np.testing.assert_array_equal(
        again.predict_proba(Xt_seen), from_file.predict_proba(Xt_seen)
    )
    assert again.source_estimator_ is None


def test_a_gpu_model_loads_on_a_machine_without_one(
    model_bytes, shift, tmp_path, monkeypatch
):
    # A file written on a GPU with float16 mixed precision, read where CUDA is
    # missing: it predicts on the CPU, in float32.
    _, _, Xt, _ = shift
    members = _members(model_bytes, tmp_path)
    raw = json.loads(members[METADATA])
    raw["params"].update(device="cuda", precision="amp")
    gpu = _archive(tmp_path / "gpu.skdm", {**members, METADATA: json.dumps(raw)})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = load_model(gpu)
    assert (loaded.device, loaded.precision) == ("cuda", "amp")
    assert loaded.net_.device == "cpu"
    reference = load_model(tmp_path / "source.skdm")
    np.testing.assert_array_equal(loaded.predict_proba(Xt), reference.predict_proba(Xt))
