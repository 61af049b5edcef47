"""`outputs.Target` on a Lance table without Ray: a resumed job's table holds each current input's rows
once, and none of an input that changed or is gone since the interrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlu_toolkit.batch.outputs import MANIFEST, Target
from nlu_toolkit.batch.sources import InputFile

pytest.importorskip("lancedb")

JOB = {"task": "embed", "model": "m", "options": {"normalize": True}, "reading": {}, "run": {}}


def _input(name: str, mtime: float = 1.0) -> InputFile:
    return InputFile(f"/in/{name}.jsonl", f"/in/{name}.jsonl", 10, mtime, "jsonl", f"{name}.parquet")


def _job(uri: str, sources: list[InputFile], *, resume: bool = False) -> list[str]:
    """A job that writes 3 rows per input (ids ``<name>-<i>``) in the order given; the inputs it computed."""
    target = Target.open(uri, JOB, resume=resume)
    todo = target.plan(sources)
    for source in todo:
        name = Path(source.uri).stem
        rows = [{"id": f"{name}-{i}", "text": f"{name} {i}", "truncated": None} for i in range(3)]
        target.write(source, rows, np.full((3, 4), len(name), dtype=np.float32))
    return [Path(s.uri).stem for s in todo]


def _ids(uri: str) -> list[str]:
    import lance

    return sorted(lance.dataset(uri).to_table(columns=["id"]).column("id").to_pylist())


def _want(*names: str) -> list[str]:
    return sorted(f"{n}-{i}" for n in names for i in range(3))


def test_an_input_gone_since_leaves_no_rows(tmp_path):
    uri = str(tmp_path / "t.lance")
    assert _job(uri, [_input("a"), _input("b"), _input("c")]) == ["a", "b", "c"]
    # b is no longer among the inputs: its rows go, with c's appended after them (c is redone).
    assert _job(uri, [_input("a"), _input("c")], resume=True) == ["c"]
    assert _ids(uri) == _want("a", "c")
    assert set(json.loads((Path(uri) / MANIFEST).read_text())["files"]) == {"/in/a.jsonl", "/in/c.jsonl"}
    assert _job(uri, [_input("a"), _input("c")], resume=True) == []  # done: nothing redone, nothing added
    assert _ids(uri) == _want("a", "c")


def test_a_manifest_without_versions_and_a_changed_input_writes_the_table_anew(tmp_path):
    uri = str(tmp_path / "t.lance")
    _job(uri, [_input("a"), _input("b")])
    path = Path(uri) / MANIFEST
    manifest = json.loads(path.read_text())
    for entry in manifest["files"].values():
        del entry["lance_version"]  # as an older nlu_toolkit wrote it: which rows are whose is unknown
    path.write_text(json.dumps(manifest))
    assert _job(uri, [_input("a", mtime=2.0), _input("b")], resume=True) == ["a", "b"]
    assert _ids(uri) == _want("a", "b")
