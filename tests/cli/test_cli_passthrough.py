"""An input column named like a result field (an SST-2 file's gold ``label``) never replaces the result."""

from __future__ import annotations

import json

from cli_checks import check_ok, jsonl


def test_classify_keeps_the_prediction_and_the_gold_label_column(nlu, tmp_path):
    data = tmp_path / "gold.csv"
    data.write_text("text,label,score\nI loved it,gold_pos,99\nDull,gold_neg,1\n", encoding="utf-8")
    result = nlu("classify", "--input", data, "--labels", "positive,negative", "--format", "jsonl")
    check_ok(result)
    rows = jsonl(result.stdout)
    assert [r["input_label"] for r in rows] == ["gold_pos", "gold_neg"]
    assert [r["input_score"] for r in rows] == ["99", "1"]
    for row in rows:
        assert row["label"] in ("positive", "negative") and isinstance(row["score"], float)
        assert row["label"] == row["labels"][0]["label"]


def test_embed_and_cluster_keep_their_fields_and_the_inputs(nlu, tmp_path, st_model):
    data = tmp_path / "docs.jsonl"
    rows = [{"text": t, "embedding": "theirs", "cluster": "c"} for t in ("a cat", "a dog", "stocks", "bonds")]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    embedded = nlu("embed", "--input", data, "--model", st_model, "--format", "jsonl")
    check_ok(embedded)
    for row in jsonl(embedded.stdout):
        assert isinstance(row["embedding"], list) and row["input_embedding"] == "theirs"
    clustered = nlu("cluster", "--input", data, "--model", st_model, "--k", "2", "--format", "jsonl")
    check_ok(clustered)
    for row in jsonl(clustered.stdout):
        assert isinstance(row["cluster"], int) and row["input_cluster"] == "c"


def test_search_hits_keep_their_rank_and_score_over_document_columns(nlu, tmp_path, st_model):
    data = tmp_path / "docs.jsonl"
    docs = [{"text": t, "score": "5 stars", "rank": "gold"} for t in ("a cat sat", "stock markets fell")]
    data.write_text("".join(json.dumps(r) + "\n" for r in docs), encoding="utf-8")
    result = nlu("embed", "--search", "cat", "--corpus", data, "--model", st_model, "--format", "jsonl")
    check_ok(result)
    hits = jsonl(result.stdout)[0]["hits"]
    assert [h["rank"] for h in hits] == [1, 2]
    assert all(isinstance(h["score"], float) for h in hits)
    assert {h["input_score"] for h in hits} == {"5 stars"} and {h["input_rank"] for h in hits} == {"gold"}
