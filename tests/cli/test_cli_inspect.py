"""`nlu inspect` through CliRunner on the tiny sentence-transformers BERT (2 layers, 2 heads, 32 dims)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from cli_checks import check_error, check_ok, jsonl, listing

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
RIVER = "I sat on the bank of the river"
MONEY = "I put money in the bank"


def test_tokenization_records_align_with_offsets(nlu, st_model):
    text = "The Megatron bank, of the river."
    result = nlu("inspect", text, "--model", st_model, "--format", "json")
    check_ok(result)
    (record,) = json.loads(result.stdout)
    assert record["id"] == 0 and record["text"] == text and record["model"] == st_model
    assert record["truncated"] is False
    tokens = record["tokens"]
    assert set(tokens[0]) == {"index", "token", "id", "special", "word_index", "word", "start", "end"}
    assert [t["token"] for t in tokens if t["special"]] == ["[CLS]", "[SEP]"]
    for t in tokens:
        if not t["special"]:
            piece = text[t["start"] : t["end"]]
            assert piece.lower() == t["token"].removeprefix("##").lower()
            assert record["words"][t["word_index"]]["word"] == t["word"]
    words = {w["word"]: w for w in record["words"]}
    assert len(words["Megatron"]["tokens"]) > 1
    assert [tokens[i]["token"] for i in words["bank"]["tokens"]] == ["bank"]


def test_several_texts_from_stdin_give_one_record_each(nlu, st_model):
    result = nlu("inspect", "-", "--model", st_model, "--format", "jsonl", input="the bank\nthe river bank\n")
    check_ok(result)
    records = jsonl(result.stdout)
    assert [r["text"] for r in records] == ["the bank", "the river bank"]
    assert [len(r["tokens"]) for r in records] == [4, 5]


def test_table_marks_special_tokens(nlu, st_model):
    result = nlu("inspect", "The Megatron bank", "--model", st_model, "--format", "table")
    check_ok(result)
    assert "[CLS]" in result.stdout and "(special)" in result.stdout
    assert "##t" in result.stdout and "Megatron" in result.stdout


def test_attention_heatmap_png_single_and_averaged_heads(nlu, st_model, out_dir):
    mean_png, head_png = out_dir / "mean.png", out_dir / "head.png"
    result = nlu("inspect", "The bank of the river", "--model", st_model, "--attention", mean_png, "-f", "json")
    check_ok(result)
    (mean,) = json.loads(result.stdout)
    assert mean["attention"] == {"path": str(mean_png), "layer": 1, "head": None, "heads": 2}
    result = nlu(
        "inspect", "The bank of the river", "-m", st_model, "--attention", head_png, "--layer", "-1", "--head", "1"
    )
    check_ok(result)
    (head,) = jsonl(result.stdout)  # not a terminal: jsonl
    assert head["attention"]["head"] == 1 and head["attention"]["layer"] == 1
    assert mean_png.read_bytes()[:8] == PNG and head_png.read_bytes()[:8] == PNG
    assert mean_png.read_bytes() != head_png.read_bytes()
    assert listing(out_dir) == ["head.png", "mean.png"]  # no temp files left


def test_bad_layer_is_a_usage_error_naming_the_range(nlu, st_model, out_dir):
    line = check_error(
        nlu("inspect", "the bank", "-m", st_model, "--attention", out_dir / "a.png", "--layer", "7"),
        contains="--layer 7 is out of range",
    )
    assert "0 to 1" in line
    check_error(
        nlu("inspect", "the bank", "-m", st_model, "--attention", out_dir / "a.png", "--head", "-3"),
        contains="2 heads",
    )
    assert listing(out_dir) == []


def test_attention_with_two_texts_is_a_usage_error(nlu, st_model, out_dir):
    check_error(
        nlu("inspect", "the bank", "the river", "-m", st_model, "--attention", out_dir / "a.png"),
        contains="--attention works on one text",
    )
    assert listing(out_dir) == []


def test_vectors_out_npy_and_json_vectors(nlu, st_model, out_dir):
    path = out_dir / "vectors.npy"
    result = nlu("inspect", "The Megatron bank", "-m", st_model, "--vectors", "--vectors-out", path, "-f", "json")
    check_ok(result)
    (record,) = json.loads(result.stdout)
    saved = np.load(path)
    assert saved.shape == (len(record["tokens"]), 32) and saved.dtype == np.float32
    from_json = np.array([t["vector"] for t in record["tokens"]], dtype=np.float32)
    np.testing.assert_allclose(from_json, saved, atol=1e-6)
    np.testing.assert_allclose([t["norm"] for t in record["tokens"]], np.linalg.norm(saved, axis=1), rtol=1e-5)
    assert listing(out_dir) == ["vectors.npy"]


def test_vectors_table_shows_dims_and_norm(nlu, st_model):
    result = nlu("inspect", "the bank", "-m", st_model, "--vectors", "--layer", "0", "-f", "table")
    check_ok(result)
    assert "d0" in result.stdout and "norm" in result.stdout and "layer 0" in result.stdout


def test_similarity_of_a_word_in_two_texts(nlu, st_model):
    result = nlu("inspect", RIVER, MONEY, "-m", st_model, "--similarity", "bank", "-f", "json")
    check_ok(result)
    record = json.loads(result.stdout)  # one object
    assert record["word"] == "bank" and record["a"] == RIVER and record["b"] == MONEY
    assert record["a_tokens"] == ["bank"] == record["b_tokens"]
    assert math.isfinite(record["score"]) and -1.0 <= record["score"] < 1.0
    assert math.isfinite(record["sentence_score"])
    table = nlu("inspect", RIVER, MONEY, "-m", st_model, "--similarity", "bank", "-f", "table")
    check_ok(table)
    assert "sentence_score" in table.stdout and "bank" in table.stdout


def test_similarity_missing_word_names_the_text(nlu, st_model):
    check_error(nlu("inspect", RIVER, MONEY, "-m", st_model, "--similarity", "river"), contains=repr(MONEY))


def test_similarity_needs_exactly_two_texts(nlu, st_model):
    check_error(nlu("inspect", RIVER, "-m", st_model, "--similarity", "bank"), contains="exactly two texts")


def test_head_without_attention_is_a_usage_error(nlu, st_model):
    check_error(nlu("inspect", "the bank", "-m", st_model, "--head", "0"), contains="--head applies to --attention")


def test_model_not_available_offline_is_one_line(nlu, empty_hf_cache):
    check_error(nlu("inspect", "the bank", "--model", "org/not-cached"), contains="model 'org/not-cached'")


def test_no_text_is_a_usage_error(nlu):
    check_error(nlu("inspect"), contains="no input")


def test_inspect_help_imports_no_heavy_module():
    code = textwrap.dedent(
        """
        import sys
        from nlu_toolkit.cli.app import app
        try:
            app(["inspect", "--help"], prog_name="nlu")
        except SystemExit as e:
            assert e.code in (0, None), e.code
        heavy = [m for m in ("torch", "transformers", "sentence_transformers", "matplotlib") if m in sys.modules]
        assert not heavy, heavy
        print("LIGHT")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("LIGHT")
