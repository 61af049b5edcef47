"""Regression: NaN/Infinity in records were written as the literal NaN (invalid JSON)."""

from __future__ import annotations

import csv
import json

import pytest

from nlu_toolkit.io.writers import dumps, write_records


def _strict(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_dumps_writes_non_finite_floats_as_null():
    row = {"text": "x", "m": float("nan"), "n": [float("inf"), 1.5], "d": {"k": float("-inf")}}
    assert _strict(dumps(row)) == {"text": "x", "m": None, "n": [None, 1.5], "d": {"k": None}}


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_nan_record_output_is_strict_json(tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    write_records([{"text": "x", "m": float("nan")}], fmt, str(out))
    text = out.read_text()
    assert "NaN" not in text
    if fmt == "jsonl":
        assert _strict(text.strip()) == {"text": "x", "m": None}
    else:
        assert _strict(text) == [{"text": "x", "m": None}]


def test_nan_in_nested_csv_cell_is_strict_json(tmp_path):
    out = tmp_path / "out.csv"
    write_records([{"text": "x", "m": [float("nan")]}], "csv", str(out))
    rows = list(csv.DictReader(out.open()))
    assert _strict(rows[0]["m"]) == [None]
