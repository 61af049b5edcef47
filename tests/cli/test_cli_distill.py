"""``nlu distill``: a static model from a tiny teacher, loaded by embed, similarity and index build/search."""

from __future__ import annotations

import json
import sys

import pytest
from cli_checks import check_error, check_ok, jsonl

pytest.importorskip("model2vec.distill")


@pytest.fixture(scope="module")
def static_dir(st_model, tmp_path_factory):
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    out = tmp_path_factory.mktemp("cli-distill") / "static"
    result = CliRunner().invoke(app, ["distill", "--model", st_model, "--output", str(out), "--dims", "8"])
    check_ok(result)
    return out


def test_distill_reports_the_teacher_and_its_checksum(nlu, st_model, tmp_path):
    from nlu_toolkit.models.resolver import locate, weights_sha256

    result = nlu("distill", "--model", st_model, "--output", tmp_path / "s", "--dims", "4", "--format", "json")
    check_ok(result)
    assert "Encoding tokens" not in result.stderr and "pad_token" not in result.stderr  # the library draws no bar
    summary = json.loads(result.stdout)
    assert summary["teacher_sha256"] == weights_sha256(locate(st_model, "sentence-embedding"))
    assert summary["dimension"] == 4 and summary["dims"] == 4
    assert (tmp_path / "s" / "model.safetensors").is_file()


def test_static_model_loads_in_embed_similarity_and_index(nlu, static_dir, data_dir, tmp_path):
    result = nlu("embed", "a cat", "a dog", "--model", static_dir, "--format", "jsonl")
    check_ok(result)
    rows = jsonl(result.stdout)
    assert [len(r["embedding"]) for r in rows] == [8, 8]
    result = nlu("similarity", "a cat", "a cat", "--model", static_dir, "--format", "json")
    check_ok(result)
    assert json.loads(result.stdout)[0]["score"] == pytest.approx(1.0, abs=1e-4)
    index = tmp_path / "idx"
    check_ok(nlu("index", "build", data_dir / "corpus.jsonl", "--out", index, "--model", static_dir))
    result = nlu("embed", "--index", index, "-s", "a query", "-k", "2", "--format", "json")
    check_ok(result)
    assert len(json.loads(result.stdout)[0]["hits"]) == 2


def test_distill_errors_name_flags(nlu, st_model, static_dir, tmp_path):
    check_error(nlu("distill", "--model", st_model, "--output", static_dir, "--dims", "8"), contains="--overwrite")
    check_error(nlu("distill", "--model", st_model, "--output", tmp_path / "x", "--dims", "999"), contains="--dims")
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    vocab = ["--vocabulary", tmp_path / "empty.txt"]
    check_error(nlu("distill", "--model", st_model, "--output", tmp_path / "y", *vocab), contains="empty")


def test_missing_extra_names_the_pip_command(nlu, st_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "model2vec", None)
    monkeypatch.setitem(sys.modules, "model2vec.distill", None)
    result = nlu("distill", "--model", st_model, "--output", tmp_path / "s")
    check_error(result, contains="pip install 'nlu-toolkit[static]'")


def test_static_model_loads_in_cluster_and_zero_shot_classify(nlu, static_dir, data_dir):
    result = nlu("cluster", "-i", data_dir / "corpus.jsonl", "--model", static_dir, "--k", "2", "--format", "jsonl")
    check_ok(result)
    assert {r["cluster"] for r in jsonl(result.stdout)} <= {0, 1}
    result = nlu("classify", "I love it", "--labels", "positive,negative", "--model", static_dir, "--format", "jsonl")
    check_ok(result)
    (row,) = jsonl(result.stdout)
    assert row["label"] in {"positive", "negative"} and sum(x["score"] for x in row["labels"]) == pytest.approx(1.0)


def test_help_names_the_extra(nlu):
    result = nlu("distill", "--help")
    check_ok(result)
    assert "pip install 'nlu-toolkit[static]'" in result.stdout
