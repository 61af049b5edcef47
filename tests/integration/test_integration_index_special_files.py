"""Regression: a symlinked or special file inside an index made loading hang forever."""

from __future__ import annotations

import os
import shutil

import pytest
from typer.testing import CliRunner

from nlu_toolkit.cli.app import app
from nlu_toolkit.errors import IndexCorrupted
from nlu_toolkit.search.index import SemanticIndex


@pytest.fixture(scope="module")
def saved(st_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("special") / "idx"
    with SemanticIndex.build(["a cat", "a dog"], st_model) as index:
        index.save(folder)
    return folder


def _damaged(saved, tmp_path, how):
    copy = tmp_path / "idx"
    shutil.copytree(saved, copy)
    docs = copy / "docs.jsonl"
    docs.unlink()
    if how == "symlink":
        real = tmp_path / "elsewhere.jsonl"
        shutil.copyfile(saved / "docs.jsonl", real)
        docs.symlink_to(real)
    else:
        os.mkfifo(docs)
    return copy


@pytest.mark.parametrize("how", ["symlink", "fifo"])
def test_load_refuses_non_regular_index_file(saved, tmp_path, how):
    copy = _damaged(saved, tmp_path, how)
    with pytest.raises(IndexCorrupted, match="not a regular file"):
        SemanticIndex.load(copy)


@pytest.mark.parametrize("how", ["symlink", "fifo"])
def test_cli_search_refuses_non_regular_index_file(saved, tmp_path, how):
    copy = _damaged(saved, tmp_path, how)
    result = CliRunner().invoke(app, ["embed", "--index", str(copy), "--search", "cat"])
    assert result.exit_code in (1, 2), result.stderr
    assert "not a regular file" in result.stderr and "unexpected" not in result.stderr
