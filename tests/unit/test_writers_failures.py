"""Write failures are typed (OutputError, exit 2) and leave nothing behind: full disk, permission, signals."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from nlu_toolkit.errors import OutputError
from nlu_toolkit.io import guard, writers
from nlu_toolkit.io.writers import atomic_output, staged_folder, write_embeddings, write_records

RECORDS = [{"id": i, "text": f"text {i}"} for i in range(5)]


class _FullDisk:
    """A file whose writes fail as on a full disk."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.fixture
def full_disk(monkeypatch):
    real = os.fdopen
    monkeypatch.setattr(writers.os, "fdopen", lambda *a, **k: _FullDisk(real(*a, **k)))


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
def test_full_disk_is_an_output_error_and_leaves_nothing(tmp_path, full_disk, fmt):
    with pytest.raises(OutputError, match="the disk is full") as e:
        write_records(RECORDS, fmt, str(tmp_path / f"out.{fmt}"))
    assert e.value.exit_code == 2 and e.value.hint
    assert os.listdir(tmp_path) == []


def test_full_disk_keeps_the_previous_file(tmp_path, full_disk):
    target = tmp_path / "out.jsonl"
    target.write_text("previous\n")
    with pytest.raises(OutputError, match="the disk is full"):
        write_records(RECORDS, "jsonl", str(target))
    assert target.read_text() == "previous\n"
    assert os.listdir(tmp_path) == ["out.jsonl"]


def test_full_disk_writing_embeddings(tmp_path, full_disk):
    with pytest.raises(OutputError, match="the disk is full"):
        write_embeddings(RECORDS, np.zeros((5, 3), np.float32), "npy", str(tmp_path / "v.npy"))
    assert os.listdir(tmp_path) == []


def test_permission_denied_at_rename(tmp_path, monkeypatch):
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(writers.os, "replace", denied)
    with pytest.raises(OutputError, match="permission denied"):
        write_records(RECORDS, "jsonl", str(tmp_path / "out.jsonl"))
    assert os.listdir(tmp_path) == []


def test_read_only_folder_is_refused_before_any_record_is_made(tmp_path, monkeypatch):
    monkeypatch.setattr(guard.os, "access", lambda *a, **k: False)
    made = []

    def records():
        for r in RECORDS:
            made.append(r)
            yield r

    with pytest.raises(OutputError, match="permission denied"):
        write_records(records(), "jsonl", str(tmp_path / "out.jsonl"))
    assert made == [] and os.listdir(tmp_path) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_really_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            write_records(RECORDS, "jsonl", str(folder / "out.jsonl"))
    finally:
        folder.chmod(0o755)


class _Terminated(BaseException):
    """What the CLI's SIGTERM handler raises."""


def test_any_base_exception_removes_the_temp_file(tmp_path):
    with pytest.raises(_Terminated), atomic_output(tmp_path / "out.jsonl") as f:
        f.write("half")
        raise _Terminated
    assert os.listdir(tmp_path) == []


def test_staged_folder_full_disk_and_signal_leave_nothing(tmp_path):
    with pytest.raises(OutputError, match="the disk is full"), staged_folder(tmp_path / "cache") as tmp:
        (tmp / "a").write_text("x")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(_Terminated), staged_folder(tmp_path / "cache") as tmp:
        raise _Terminated
    assert os.listdir(tmp_path) == []
