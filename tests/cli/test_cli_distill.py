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
    # The measured agreement with the teacher, on every run.
    assert summary["agreement_pairs"] == 1128 and -1 <= summary["agreement_spearman"] <= 1
    assert summary["eval_spearman"] is None


STS_LINES = [
    ("a cat sat on the mat", "a cat is on the mat", 4.8),
    ("a dog runs in the park", "a dog is running outside", 4.0),
    ("stock markets fell sharply", "shares dropped today", 3.5),
    ("a man plays the guitar", "the weather is cold", 0.2),
    ("refunds take a week", "the cat sleeps", 0.0),
]


def test_distill_eval_scores_student_and_teacher(nlu, st_model, tmp_path):
    sts = tmp_path / "sts-dev.csv"  # raw STS Benchmark lines: genre, file, year, id, score, sentence1, sentence2
    sts.write_text("".join(f"g\tf\t2012\t{i:04d}\t{s}\t{a}\t{b}\n" for i, (a, b, s) in enumerate(STS_LINES)))
    result = nlu(
        "distill", "--model", st_model, "--output", tmp_path / "s", "--dims", "4", "--eval", sts, "--format", "json"
    )
    check_ok(result)
    summary = json.loads(result.stdout)
    assert summary["eval_pairs"] == 5 and summary["eval_file"] == str(sts)
    assert isinstance(summary["eval_spearman"], float) and isinstance(summary["eval_teacher_spearman"], float)
    assert json.loads((tmp_path / "s" / "distill.json").read_text())["eval_spearman"] == summary["eval_spearman"]
    assert "sts-dev.csv (5 scored pairs)" in (tmp_path / "s" / "README.md").read_text()
    table = nlu(
        "distill", "--model", st_model, "--output", tmp_path / "t", "--dims", "4", "--eval", sts, "--format", "table"
    )
    check_ok(table)
    assert "eval_teacher_spearman" in table.stdout and "agreement_spearman" in table.stdout


def test_distill_bad_eval_file_is_a_clean_error(nlu, st_model, tmp_path):
    unscored = tmp_path / "pairs.csv"
    unscored.write_text("anchor,positive\na cat,a kitten\na dog,a puppy\n", encoding="utf-8")
    result = nlu("distill", "--model", st_model, "--output", tmp_path / "a", "--eval", unscored)
    check_error(result, contains="--eval")
    assert "without scores" in result.stderr
    check_error(
        nlu("distill", "--model", st_model, "--output", tmp_path / "b", "--eval", tmp_path / "no.csv"),
        contains="no such file",
    )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


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
