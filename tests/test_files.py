import os

import pytest
import torch

from skdamerge import MMDClassifier
from skdamerge._files import write_atomic


def test_write_atomic_replaces_the_file_whole(tmp_path):
    target = tmp_path / "catalog.csv"
    assert write_atomic(target, lambda handle: handle.write(b"new\n")) == target
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.csv"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path, error):
    target = tmp_path / "catalog.csv"

    def interrupted(handle):
        handle.write(b"object_id,p_merger\n0,0.1")
        raise error

    with pytest.raises(type(error)):
        write_atomic(target, interrupted)
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary file
    target.write_bytes(b"old\n")
    with pytest.raises(type(error)):
        write_atomic(target, interrupted)
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.csv"]


def test_write_atomic_needs_an_existing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        write_atomic(tmp_path / "missing" / "file.txt", lambda handle: None)


def test_failed_checkpoint_write_keeps_the_previous_checkpoint(
    tiny_shift, tmp_path, monkeypatch
):
    Xs, ys, Xt, _ = tiny_shift
    path = tmp_path / "run.ckpt"
    settings = dict(max_epochs=1, batch_size=16, random_state=3, checkpoint_path=path)
    MMDClassifier(**settings).fit(Xs, ys, X_target=Xt)
    written = path.read_bytes()

    def disk_full(obj, file, *args, **kwargs):
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="disk full"):
        MMDClassifier(**settings).fit(Xs, ys, X_target=Xt)
    assert path.read_bytes() == written
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]
