"""Unit tests for nlu_toolkit.io.writers: formats, numpy values, atomic output and format choice."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import sys

import numpy as np
import pytest

from nlu_toolkit.errors import InputError, OutputError, UsageError
from nlu_toolkit.io.writers import OUTPUT_FORMATS, atomic_output, dumps, format_for_output, write_records

RECORDS = [
    {"id": 0, "text": "héllo", "label": "pos", "score": 0.9},
    {"id": 1, "text": 'say "hi", then\nleave', "label": "neg", "score": 0.1},
]


class Boom(RuntimeError):
    pass


def failing_records(n_ok: int = 2):
    for i in range(n_ok):
        yield {"id": i, "text": f"t{i}"}
    raise Boom("model crashed")


def leftovers(folder, keep=()):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --------------------------------------------------------------------------- formats


def test_jsonl_to_file(tmp_path):
    out = tmp_path / "out.jsonl"
    assert write_records(iter(RECORDS), "jsonl", str(out)) == 2
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert [json.loads(line) for line in text.splitlines()] == RECORDS
    assert "héllo" in text  # not \u-escaped


def test_json_to_file_is_valid_array(tmp_path):
    out = tmp_path / "out.json"
    assert write_records(RECORDS, "json", str(out)) == 2
    assert json.loads(out.read_text(encoding="utf-8")) == RECORDS


def test_json_empty_is_valid_array(tmp_path):
    out = tmp_path / "out.json"
    assert write_records([], "json", str(out)) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == []


def test_jsonl_empty_file(tmp_path):
    out = tmp_path / "out.jsonl"
    assert write_records([], "jsonl", str(out)) == 0
    assert out.exists()
    assert out.read_text() == ""


def test_csv_to_file_round_trips(tmp_path):
    out = tmp_path / "out.csv"
    assert write_records(RECORDS, "csv", str(out)) == 2
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{k: str(v) for k, v in r.items()} for r in RECORDS]


def test_csv_nested_values_json_encoded_and_none_empty(tmp_path):
    out = tmp_path / "out.csv"
    records = [
        {
            "id": 0,
            "labels": ["a", "b"],
            "scores": {"a": 0.5, "b": 0.25},
            "entities": [{"label": "PER", "start": 0}],
            "missing": None,
        }
    ]
    write_records(records, "csv", str(out))
    with open(out, newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert json.loads(row["labels"]) == ["a", "b"]
    assert json.loads(row["scores"]) == {"a": 0.5, "b": 0.25}
    assert json.loads(row["entities"]) == [{"label": "PER", "start": 0}]
    assert row["missing"] == ""


def test_csv_later_record_missing_key_gets_empty_cell(tmp_path):
    out = tmp_path / "out.csv"
    write_records([{"a": 1, "b": 2}, {"a": 3}], "csv", str(out))
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"a": "1", "b": "2"}, {"a": "3", "b": ""}]


def test_csv_empty_writes_empty_file(tmp_path):
    out = tmp_path / "out.csv"
    assert write_records([], "csv", str(out)) == 0
    assert out.read_text() == ""


def test_csv_numpy_array_cell_json_encoded(tmp_path):
    out = tmp_path / "out.csv"
    write_records([{"id": 0, "vector": np.arange(3)}], "csv", str(out))
    with open(out, newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert json.loads(row["vector"]) == [0, 1, 2]


def test_numpy_values_serialise_in_json_formats(tmp_path):
    record = {
        "f32": np.float32(0.5),
        "f64": np.float64(0.25),
        "i64": np.int64(7),
        "b": np.bool_(True),
        "arr": np.array([[1.0, 2.0]], dtype=np.float32),
    }
    expected = {"f32": 0.5, "f64": 0.25, "i64": 7, "b": True, "arr": [[1.0, 2.0]]}
    assert json.loads(dumps(record)) == expected
    for fmt in ("json", "jsonl"):
        out = tmp_path / f"out.{fmt}"
        write_records([record], fmt, str(out))
        text = out.read_text()
        loaded = json.loads(text)[0] if fmt == "json" else json.loads(text)
        assert loaded == expected


def test_numpy_floats_in_csv(tmp_path):
    out = tmp_path / "out.csv"
    write_records([{"score": np.float32(0.5), "n": np.int64(3)}], "csv", str(out))
    with open(out, newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["score"]) == 0.5
    assert int(row["n"]) == 3


def test_unknown_object_falls_back_to_str():
    class Thing:
        def __str__(self):
            return "thing!"

    assert json.loads(dumps({"x": Thing()})) == {"x": "thing!"}


def test_table_cannot_be_streamed(tmp_path):
    with pytest.raises(UsageError):
        write_records(RECORDS, "table", str(tmp_path / "out.txt"))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("output", [None, "-"])
def test_write_to_stdout(monkeypatch, output):
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buf)
    assert write_records(RECORDS, "jsonl", output) == 2
    assert [json.loads(line) for line in buf.getvalue().splitlines()] == RECORDS


def test_json_to_stdout(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buf)
    write_records(iter(RECORDS), "json")
    assert json.loads(buf.getvalue()) == RECORDS


def test_write_records_streams(tmp_path):
    """Records are written as they come, not collected first."""
    out = tmp_path / "out.jsonl"
    seen = []

    def gen():
        for i in range(3):
            seen.append(i)
            yield {"id": i}

    write_records(gen(), "jsonl", str(out))
    assert seen == [0, 1, 2]
    assert len(out.read_text().splitlines()) == 3


# --------------------------------------------------------------------------- atomic output


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_failure_midway_leaves_no_file(tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    with pytest.raises(Boom):
        write_records(failing_records(), fmt, str(out))
    assert not out.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_failure_midway_keeps_existing_target(tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    out.write_text("previous results\n")
    with pytest.raises(Boom):
        write_records(failing_records(), fmt, str(out))
    assert out.read_text() == "previous results\n"
    assert leftovers(tmp_path, keep={out.name}) == []


def test_input_error_midway_leaves_no_file(tmp_path):
    out = tmp_path / "out.jsonl"

    def gen():
        yield {"id": 0}
        raise InputError("bad row", "fix it", path="in.csv", line=3)

    with pytest.raises(InputError):
        write_records(gen(), "jsonl", str(out))
    assert leftovers(tmp_path) == []


def test_keyboard_interrupt_midway_leaves_no_file(tmp_path):
    out = tmp_path / "out.jsonl"

    def gen():
        yield {"id": 0}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_records(gen(), "jsonl", str(out))
    assert leftovers(tmp_path) == []


def test_success_replaces_existing_target_completely(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old line\n" * 100)
    write_records([{"id": 0}], "jsonl", str(out))
    assert out.read_text() == '{"id": 0}\n'
    assert leftovers(tmp_path, keep={out.name}) == []


def test_atomic_output_success_and_no_partial_visible(tmp_path):
    target = tmp_path / "file.txt"
    with atomic_output(target) as f:
        f.write("partial")
        assert not target.exists(), "target must not appear before the block ends"
        temps = leftovers(tmp_path)
        assert len(temps) == 1 and temps[0] != "file.txt"
    assert target.read_text() == "partial"
    assert leftovers(tmp_path, keep={"file.txt"}) == []


def test_atomic_output_failure_removes_temp(tmp_path):
    target = tmp_path / "file.txt"
    with pytest.raises(Boom), atomic_output(target) as f:
        f.write("partial")
        raise Boom
    assert leftovers(tmp_path) == []


def test_atomic_output_binary_mode(tmp_path):
    target = tmp_path / "blob.bin"
    with atomic_output(target, "wb") as f:
        f.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"


def test_atomic_output_missing_folder(tmp_path):
    target = tmp_path / "no" / "such" / "out.jsonl"
    with pytest.raises(OutputError) as excinfo, atomic_output(target):
        pass
    assert excinfo.value.exit_code == 2
    assert str(target.parent) in str(excinfo.value)
    assert not (tmp_path / "no").exists()


def test_write_records_missing_folder(tmp_path):
    with pytest.raises(OutputError):
        write_records(RECORDS, "jsonl", str(tmp_path / "missing" / "out.jsonl"))


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_output_file_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "out.jsonl"
        write_records(RECORDS, "jsonl", str(out))
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


# --------------------------------------------------------------------------- format_for_output


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_explicit_format_to_terminal(fmt):
    assert format_for_output(None, fmt, isatty=True) == fmt
    assert format_for_output("-", fmt, isatty=False) == fmt


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_explicit_format_beats_suffix(fmt):
    assert format_for_output("out.json", fmt, isatty=True) == fmt


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("out.json", "json"),
        ("out.jsonl", "jsonl"),
        ("out.ndjson", "jsonl"),
        ("out.csv", "csv"),
        ("OUT.CSV", "csv"),
        ("dir/out.json", "json"),
        ("out.txt", "jsonl"),
        ("out", "jsonl"),
    ],
)
def test_format_from_suffix(output, expected):
    assert format_for_output(output, None, isatty=True) == expected
    assert format_for_output(output, None, isatty=False) == expected


@pytest.mark.parametrize("output", [None, "-"])
def test_format_from_terminal(output):
    assert format_for_output(output, None, isatty=True) == "table"
    assert format_for_output(output, None, isatty=False) == "jsonl"


def test_table_with_output_file_is_usage_error():
    with pytest.raises(UsageError) as excinfo:
        format_for_output("out.json", "table", isatty=True)
    assert excinfo.value.exit_code == 2
    assert excinfo.value.hint


def test_unknown_output_format_is_usage_error():
    with pytest.raises(UsageError) as excinfo:
        format_for_output(None, "xml", isatty=True)
    assert "xml" in str(excinfo.value)
    for fmt in OUTPUT_FORMATS:
        assert fmt in str(excinfo.value)


def test_output_to_existing_folder_fails_before_any_work(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    consumed = []

    def gen():
        for i in range(3):
            consumed.append(i)
            yield {"id": i}

    with pytest.raises(OutputError):
        write_records(gen(), "jsonl", str(folder))
    assert consumed == []
    assert folder.is_dir()
    assert leftovers(tmp_path, keep={"results"}) == []


def test_json_to_stdout_error_before_first_record_writes_nothing(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buf)

    def gen():
        raise InputError("no such file", "check the path", path="in.txt")
        yield {}  # pragma: no cover

    with pytest.raises(InputError):
        write_records(gen(), "json")
    assert buf.getvalue() == ""


def test_staged_folder_publishes_on_success_only_and_keeps_a_finished_twin(tmp_path):
    import pytest

    from nlu_toolkit.io.writers import staged_folder

    target = tmp_path / "cache" / "export"
    with staged_folder(target) as tmp:
        (tmp / "model.onnx").write_text("ours", encoding="utf-8")
        assert not target.exists()  # nothing half-written is visible
    assert (target / "model.onnx").read_text(encoding="utf-8") == "ours"
    with staged_folder(target) as tmp:  # another process finished first: theirs is kept
        (tmp / "model.onnx").write_text("late", encoding="utf-8")
    assert (target / "model.onnx").read_text(encoding="utf-8") == "ours"
    failed = tmp_path / "cache" / "failed"
    with pytest.raises(RuntimeError), staged_folder(failed) as tmp:
        (tmp / "part").write_text("x", encoding="utf-8")
        raise RuntimeError("export broke")
    assert not failed.exists()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["export"]  # no temp folders left


def test_csv_non_finite_numbers_are_empty_cells_like_json_null(tmp_path):
    out = tmp_path / "o.csv"
    write_records([{"id": "a", "x": float("nan"), "y": float("inf"), "z": 1.5}], "csv", str(out))
    assert list(csv.DictReader(out.open(encoding="utf-8"))) == [{"id": "a", "x": "", "y": "", "z": "1.5"}]


@pytest.mark.parametrize("name", ["v.npz", "v.pt", "v.txt"])
def test_an_embedding_output_of_unknown_type_is_refused_not_written_as_jsonl(name):
    from nlu_toolkit.io.writers import embedding_format

    with pytest.raises(UsageError, match="cannot tell the embedding format"):
        embedding_format(name, None)
    assert embedding_format(name, "jsonl") == "jsonl"  # an explicit format wins
    assert embedding_format("vectors", None) == "jsonl" and embedding_format("v.PQ", None) == "parquet"
