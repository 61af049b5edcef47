"""`nlu classify` through CliRunner on the tiny models: inputs, outputs, and every task option."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from cli_checks import check_ok, jsonl, listing

LONG_TEXT = "the movie was good and the actors were great but the plot was boring " * 10


def test_texts_as_arguments_give_jsonl_when_piped(nlu, cls_model):
    result = nlu("classify", "--model", cls_model, "I loved this film", "Dull and far too long")
    check_ok(result)
    records = jsonl(result.stdout)
    assert [r["id"] for r in records] == [0, 1]
    assert [r["text"] for r in records] == ["I loved this film", "Dull and far too long"]
    for r in records:
        assert r["label"] in ("NEGATIVE", "POSITIVE")
        assert r["label"] == r["labels"][0]["label"]
        assert sum(x["score"] for x in r["labels"]) == pytest.approx(1.0, abs=1e-5)
        assert r["truncated"] is False
    assert result.stderr == ""


def test_stdin_dash_reads_one_text_per_line(nlu, cls_model):
    result = nlu("classify", "--model", cls_model, "-", input="good film\n\nbad film\nfun story\n")
    check_ok(result)
    assert [r["text"] for r in jsonl(result.stdout)] == ["good film", "bad film", "fun story"]


def test_input_txt(nlu, cls_model, data_dir):
    result = nlu("classify", "--model", cls_model, "--input", data_dir / "reviews.txt")
    check_ok(result)
    lines = (data_dir / "reviews.txt").read_text().splitlines()
    records = jsonl(result.stdout)
    assert [r["text"] for r in records] == lines
    assert [r["id"] for r in records] == list(range(len(lines)))


def test_input_csv_uses_id_column_and_passes_other_columns_through(nlu, cls_model, data_dir):
    result = nlu("classify", "--model", cls_model, "--input", data_dir / "reviews.csv")
    check_ok(result)
    rows = list(csv.DictReader((data_dir / "reviews.csv").open(encoding="utf-8")))
    records = jsonl(result.stdout)
    assert [r["id"] for r in records] == [row["id"] for row in rows]
    assert [r["text"] for r in records] == [row["text"] for row in rows]
    assert [r["source"] for r in records] == [row["source"] for row in rows]


def test_input_tsv_with_text_and_id_columns(nlu, cls_model, tmp_path):
    path = tmp_path / "in.tsv"
    path.write_text("key\treview\tstars\nk1\tgood film\t5\nk2\tbad, awful film\t1\n", encoding="utf-8")
    result = nlu("classify", "--model", cls_model, "--input", path, "--text-column", "review", "--id-column", "key")
    check_ok(result)
    records = jsonl(result.stdout)
    assert [(r["id"], r["text"], r["stars"]) for r in records] == [
        ("k1", "good film", "5"),
        ("k2", "bad, awful film", "1"),
    ]
    assert all("review" not in r and "key" not in r for r in records)


def test_input_jsonl_with_columns(nlu, cls_model, tmp_path):
    path = tmp_path / "in.jsonl"
    rows = [{"doc": f"d{i}", "body": f"text number {i}", "meta": {"n": i}} for i in range(5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = nlu("classify", "--model", cls_model, "-i", path, "--text-column", "body", "--id-column", "doc")
    check_ok(result)
    records = jsonl(result.stdout)
    assert [r["id"] for r in records] == [r["doc"] for r in rows]
    assert [r["meta"] for r in records] == [r["meta"] for r in rows]


def test_input_parquet(nlu, cls_model, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [10, 11, 12], "text": ["good", "bad", "fun"], "lang": ["en"] * 3}), path)
    result = nlu("classify", "--model", cls_model, "--input", path)
    check_ok(result)
    records = jsonl(result.stdout)
    assert [(r["id"], r["text"], r["lang"]) for r in records] == [
        (10, "good", "en"),
        (11, "bad", "en"),
        (12, "fun", "en"),
    ]


def test_input_format_overrides_the_extension(nlu, cls_model, tmp_path):
    path = tmp_path / "rows.data"
    path.write_text('{"text": "good film"}\n', encoding="utf-8")
    result = nlu("classify", "--model", cls_model, "--input", path, "--input-format", "jsonl")
    check_ok(result)
    assert jsonl(result.stdout)[0]["text"] == "good film"


def test_encoding_option_reads_latin1(nlu, cls_model, tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café au lait\n".encode("latin-1"))
    result = nlu("classify", "--model", cls_model, "--input", path, "--encoding", "latin-1")
    check_ok(result)
    assert jsonl(result.stdout)[0]["text"] == "café au lait"


def test_format_json(nlu, cls_model):
    result = nlu("classify", "--model", cls_model, "--format", "json", "good", "bad")
    check_ok(result)
    records = json.loads(result.stdout)
    assert [r["text"] for r in records] == ["good", "bad"]


def test_format_csv_encodes_nested_labels_as_json(nlu, cls_model):
    result = nlu("classify", "--model", cls_model, "-f", "csv", "good", "bad")
    check_ok(result)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["text"] for r in rows] == ["good", "bad"]
    for r in rows:
        labels = json.loads(r["labels"])
        assert {x["label"] for x in labels} == {"NEGATIVE", "POSITIVE"}
        assert r["label"] == labels[0]["label"]


def test_format_table(nlu, cls_model):
    result = nlu("classify", "--model", cls_model, "--format", "table", "good film")
    check_ok(result)
    assert "label" in result.stdout and "score" in result.stdout
    assert "good film" in result.stdout
    assert "POSITIVE" in result.stdout or "NEGATIVE" in result.stdout


@pytest.mark.parametrize(
    ("name", "fmt", "parse"),
    [
        ("out.jsonl", None, lambda s: jsonl(s)),
        ("out.json", None, lambda s: json.loads(s)),
        ("out.csv", None, lambda s: list(csv.DictReader(io.StringIO(s)))),
        ("results.txt", "json", lambda s: json.loads(s)),
    ],
)
def test_output_file_is_written_in_input_order(nlu, cls_model, out_dir, name, fmt, parse):
    texts = [f"text {i} was good" if i % 2 else f"a much longer text number {i} that was quite bad" for i in range(30)]
    target = out_dir / name
    args = ["classify", "--model", cls_model, "--output", target, "--batch-size", "4", *texts]
    if fmt:
        args += ["--format", fmt]
    result = nlu(*args)
    check_ok(result)
    assert result.stdout == ""
    assert listing(out_dir) == [name]
    records = parse(target.read_text(encoding="utf-8"))
    assert [r["text"] for r in records] == texts
    assert [str(r["id"]) for r in records] == [str(i) for i in range(30)]


def test_input_order_kept_over_more_than_a_window(nlu, cls_model, tmp_path, out_dir):
    from nlu_toolkit.engine.batching import WINDOW

    n = WINDOW + 300
    words = ["good", "bad film", "the plot was boring and the actors awful", "fun", "i loved it"]
    lines = [f"{words[i % len(words)]} {i}" for i in range(n)]
    path = tmp_path / "many.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = out_dir / "many.jsonl"
    result = nlu("classify", "--model", cls_model, "--input", path, "-o", target, "--quiet", "-b", "256")
    check_ok(result)
    records = jsonl(target.read_text(encoding="utf-8"))
    assert [r["text"] for r in records] == lines
    assert [r["id"] for r in records] == list(range(n))


def test_top_k(nlu, multilabel_model):
    result = nlu("classify", "--model", multilabel_model, "--single-label", "--top-k", "2", "one", "two")
    check_ok(result)
    for r in jsonl(result.stdout):
        assert len(r["labels"]) == 2
        assert r["labels"][0]["score"] >= r["labels"][1]["score"]


def test_multi_label_threshold(nlu, cls_model):
    zero = jsonl(nlu("classify", "--model", cls_model, "--multi-label", "--threshold", "0", "good film").stdout)[0]
    assert len(zero["labels"]) == 2  # sigmoid scores, all kept
    assert sum(x["score"] for x in zero["labels"]) != pytest.approx(1.0)
    cut = sorted(x["score"] for x in zero["labels"])[0] + 1e-6
    result = nlu("classify", "--model", cls_model, "--multi-label", "--threshold", f"{cut:.8f}", "good film")
    check_ok(result)
    kept = jsonl(result.stdout)[0]["labels"]
    assert len(kept) == 1 and kept[0]["score"] >= cut
    one = jsonl(nlu("classify", "--model", cls_model, "--multi-label", "--threshold", "1", "good film").stdout)[0]
    assert one["labels"] == [] and one["label"] is None and one["score"] is None


def test_multi_label_model_defaults_to_multi_label(nlu, multilabel_model):
    result = nlu("classify", "--model", multilabel_model, "--threshold", "0", "my invoice is wrong")
    check_ok(result)
    labels = jsonl(result.stdout)[0]["labels"]
    assert len(labels) == 3
    assert sum(x["score"] for x in labels) != pytest.approx(1.0)


def test_labels_with_an_nli_model(nlu, nli_model):
    result = nlu("classify", "--model", nli_model, "--labels", "sports, politics,food", "The striker scored", "Tax")
    check_ok(result)
    for r in jsonl(result.stdout):
        assert {x["label"] for x in r["labels"]} == {"sports", "politics", "food"}
        assert sum(x["score"] for x in r["labels"]) == pytest.approx(1.0, abs=1e-6)


def test_labels_with_a_sentence_transformers_model_and_template(nlu, st_model):
    result = nlu(
        "classify",
        "--model",
        st_model,
        "--labels",
        "sports,politics",
        "--hypothesis-template",
        "It is about {}.",
        "-k",
        "1",
        "The striker scored",
    )
    check_ok(result)
    record = jsonl(result.stdout)[0]
    assert len(record["labels"]) == 1 and record["label"] in ("sports", "politics")


def test_long_truncate_flags_and_window_does_not(nlu, cls_model):
    truncated = jsonl(nlu("classify", "--model", cls_model, "good", LONG_TEXT).stdout)
    assert [r["truncated"] for r in truncated] == [False, True]
    windowed = nlu("classify", "--model", cls_model, "--long", "window", "good", LONG_TEXT)
    check_ok(windowed)
    records = jsonl(windowed.stdout)
    assert [r["truncated"] for r in records] == [False, False]
    assert records[0]["score"] == pytest.approx(truncated[0]["score"])
    assert records[1]["text"] == LONG_TEXT


def test_max_length_lowers_the_limit(nlu, cls_model):
    text = "the movie was good and the actors were great"
    assert jsonl(nlu("classify", "--model", cls_model, text).stdout)[0]["truncated"] is False
    result = nlu("classify", "--model", cls_model, "--max-length", "8", text)
    check_ok(result)
    assert jsonl(result.stdout)[0]["truncated"] is True


def test_model_options_accepted(nlu, cls_model):
    result = nlu("classify", "--model", cls_model, "--device", "cpu", "--batch-size", "1", "--quiet", "a", "b", "c")
    check_ok(result)
    assert len(jsonl(result.stdout)) == 3


def test_verbose_names_the_model_on_stderr(nlu, cls_model):
    result = nlu("classify", "--model", cls_model, "--verbose", "good")
    check_ok(result)
    assert "model:" in result.stderr and cls_model in result.stderr and "local" in result.stderr
    assert len(jsonl(result.stdout)) == 1
    quiet = nlu("classify", "--model", cls_model, "good")
    assert "model:" not in quiet.stderr


def test_max_chars(nlu, cls_model):
    result = nlu("classify", "--model", cls_model, "--max-chars", "1000", "x" * 900)
    check_ok(result)


def test_input_json_array(nlu, cls_model, tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps([{"id": "a", "text": "good film"}, {"id": "b", "text": "bad film", "x": 1}]))
    result = nlu("classify", "--model", cls_model, "--input", path)
    check_ok(result)
    records = jsonl(result.stdout)
    assert [(r["id"], r["text"]) for r in records] == [("a", "good film"), ("b", "bad film")]
    assert records[1]["x"] == 1


def test_input_csv_with_bom_and_crlf(nlu, cls_model, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes('\ufeffid,text\r\nx1,good film\r\nx2,"bad, awful"\r\n'.encode())
    result = nlu("classify", "--model", cls_model, "--input", path)
    check_ok(result)
    assert [(r["id"], r["text"]) for r in jsonl(result.stdout)] == [("x1", "good film"), ("x2", "bad, awful")]


def test_stdin_csv(nlu, cls_model):
    result = nlu("classify", "--model", cls_model, "-", "--input-format", "csv", input="id,text\nq,good film\n")
    check_ok(result)
    assert [(r["id"], r["text"]) for r in jsonl(result.stdout)] == [("q", "good film")]


def test_output_dash_is_stdout(nlu, cls_model, out_dir):
    result = nlu("classify", "--model", cls_model, "-o", "-", "--format", "json", "good")
    check_ok(result)
    assert json.loads(result.stdout)[0]["text"] == "good"


def test_verbose_says_which_backend_ran_on_one_line(nlu, cls_model):
    """-v with --backend auto did not say which backend was picked; the model line was hard-wrapped at 80."""
    result = nlu("classify", "--model", cls_model, "--backend", "auto", "--verbose", "good")
    check_ok(result)
    lines = [line for line in result.stderr.splitlines() if line.startswith("model:")]
    assert len(lines) == 1 and cls_model in lines[0]
    assert re.search(r"backend: (torch|onnx|openvino)", lines[0]), lines[0]
