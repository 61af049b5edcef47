"""Regression: safetensors' SafetensorError on a full disk ended as "unexpected SafetensorError"."""

from __future__ import annotations

import pytest
import safetensors.numpy
from safetensors import SafetensorError
from typer.testing import CliRunner

from nlu_toolkit.cli.app import app
from nlu_toolkit.errors import OutputError
from nlu_toolkit.search.index import SemanticIndex


def _full(*a, **k):
    raise SafetensorError(
        'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
    )


def test_index_save_on_full_disk_is_output_error(st_model, tmp_path, monkeypatch):
    monkeypatch.setattr(safetensors.numpy, "save_file", _full)
    with SemanticIndex.build(["a cat", "a dog"], st_model) as index, pytest.raises(OutputError, match="disk is full"):
        index.save(tmp_path / "idx")
    assert list(tmp_path.iterdir()) == []


def test_cli_index_build_on_full_disk_exits_2(st_model, tmp_path, monkeypatch):
    monkeypatch.setattr(safetensors.numpy, "save_file", _full)
    corpus = tmp_path / "c.txt"
    corpus.write_text("a cat\na dog\n")
    result = CliRunner().invoke(
        app, ["index", "build", str(corpus), "--model", st_model, "--out", str(tmp_path / "idx")]
    )
    assert result.exit_code == 2, result.stderr
    assert "disk is full" in result.stderr and "unexpected" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]
