"""`nlu ner` and `nlu qa` through CliRunner on the tiny models."""

from __future__ import annotations

import csv
import io
import json

import pytest
from cli_checks import check_ok, jsonl, listing

NER_TEXT = "John lives in Paris and works for Acme Corp with Megatron in London."
CONTEXT = "Charles Babbage designed the engine in London; Ada Lovelace programmed it in 1843."


@pytest.mark.parametrize("aggregation", ["none", "simple", "first", "average", "max"])
def test_ner_aggregations(nlu, ner_model, aggregation):
    result = nlu("ner", "--model", ner_model, "--aggregation", aggregation, NER_TEXT, "Mary met John")
    check_ok(result)
    records = jsonl(result.stdout)
    assert [r["text"] for r in records] == [NER_TEXT, "Mary met John"]
    for r in records:
        assert r["truncated"] is False
        for e in r["entities"]:
            assert e["word"] == r["text"][e["start"] : e["end"]]
            assert set(e) == {"label", "score", "start", "end", "word"}
    labels = {e["label"] for r in records for e in r["entities"]}
    if aggregation == "none":
        assert labels <= {"B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"}
    else:
        assert labels <= {"PER", "ORG", "LOC", "MISC"}
    assert labels  # the tiny random model is peaked enough to tag something


def test_ner_input_file_and_stride(nlu, ner_model, data_dir, out_dir):
    target = out_dir / "entities.json"
    result = nlu(
        "ner",
        "-m",
        ner_model,
        "-i",
        data_dir / "news.txt",
        "-a",
        "first",
        "--stride",
        "4",
        "--max-length",
        "16",
        "-o",
        target,
    )
    check_ok(result)
    assert listing(out_dir) == ["entities.json"]
    records = json.loads(target.read_text(encoding="utf-8"))
    lines = (data_dir / "news.txt").read_text(encoding="utf-8").splitlines()
    assert [r["text"] for r in records] == lines
    for r in records:
        for e in r["entities"]:
            assert e["word"] == r["text"][e["start"] : e["end"]]


def test_ner_csv_and_table(nlu, ner_model, data_dir):
    result = nlu("ner", "--model", ner_model, "--input", data_dir / "reviews.csv", "--format", "csv")
    check_ok(result)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["id"] for r in rows] == ["r1", "r2", "r3", "r4", "r5"]
    assert [r["source"] for r in rows] == ["shop", "shop", "news", "news", "blog"]
    assert all(isinstance(json.loads(r["entities"]), list) for r in rows)
    table = nlu("ner", "--model", ner_model, "--format", "table", "John lives in Paris")
    check_ok(table)
    assert "entities" in table.stdout


def test_ner_stdin_and_verbose(nlu, ner_model):
    result = nlu("ner", "--model", ner_model, "-v", "-", input="John lives in Paris\nMary works in Berlin\n")
    check_ok(result)
    assert len(jsonl(result.stdout)) == 2
    assert "model:" in result.stderr and ner_model in result.stderr


def _check_answers(records, contexts):
    for r, context in zip(records, contexts, strict=True):
        assert r["answer"] == context[r["start"] : r["end"]]
        for a in r["answers"]:
            assert a["answer"] == context[a["start"] : a["end"]]
        assert r["impossible"] is False


def test_qa_repeated_questions_and_context(nlu, qa_model):
    result = nlu("qa", "--model", qa_model, "-Q", "Who designed it?", "-Q", "When?", "--context", CONTEXT)
    check_ok(result)
    records = jsonl(result.stdout)
    assert [r["id"] for r in records] == [0, 1]
    assert [r["question"] for r in records] == ["Who designed it?", "When?"]
    _check_answers(records, [CONTEXT, CONTEXT])


def test_qa_top_k_and_max_answer_len(nlu, qa_model):
    result = nlu("qa", "--model", qa_model, "-Q", "Who?", "-c", CONTEXT, "--top-k", "4", "--max-answer-len", "3")
    check_ok(result)
    (record,) = jsonl(result.stdout)
    scores = [a["score"] for a in record["answers"]]
    assert len(scores) == 4 and scores == sorted(scores, reverse=True)
    assert record["answer"] == record["answers"][0]["answer"]
    _check_answers([record], [CONTEXT])


def test_qa_questions_file_and_context_file(nlu, qa_model, tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text("Who designed it?\n\nWhen was it programmed?\n", encoding="utf-8")
    context = tmp_path / "context.txt"
    context.write_text(CONTEXT, encoding="utf-8")
    result = nlu("qa", "--model", qa_model, "--questions", questions, "--context-file", context)
    check_ok(result)
    records = jsonl(result.stdout)
    assert [r["question"] for r in records] == ["Who designed it?", "When was it programmed?"]
    assert [r["id"] for r in records] == [0, 1]
    _check_answers(records, [CONTEXT] * 2)
    # Mixing -Q and --questions would make ids ambiguous: refused as a usage error.
    mixed = nlu("qa", "--model", qa_model, "-Q", "Where?", "--questions", questions, "--context-file", context)
    assert mixed.exit_code == 2 and "not both" in mixed.stderr


def test_qa_questions_csv_with_column(nlu, qa_model, tmp_path):
    questions = tmp_path / "questions.csv"
    questions.write_text("q,topic\nWho designed it?,people\nWhen?,dates\n", encoding="utf-8")
    result = nlu("qa", "--model", qa_model, "--questions", questions, "--question-column", "q", "-c", CONTEXT)
    check_ok(result)
    records = jsonl(result.stdout)
    assert [(r["question"], r["topic"]) for r in records] == [("Who designed it?", "people"), ("When?", "dates")]


def test_qa_questions_file_keeps_its_id_column(nlu, qa_model, tmp_path):
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"id": "a", "question": "Who?"}\n{"id": "b", "question": "When?"}\n', encoding="utf-8")
    result = nlu("qa", "--model", qa_model, "--questions", questions, "-c", CONTEXT)
    check_ok(result)
    assert [r["id"] for r in jsonl(result.stdout)] == ["a", "b"]


def test_qa_context_from_stdin(nlu, qa_model):
    result = nlu("qa", "--model", qa_model, "-Q", "Who?", "--context-file", "-", input=CONTEXT)
    check_ok(result)
    _check_answers(jsonl(result.stdout), [CONTEXT])


def test_qa_input_jsonl_batch(nlu, qa_model, data_dir, out_dir):
    target = out_dir / "answers.jsonl"
    result = nlu("qa", "--model", qa_model, "--input", data_dir / "qa.jsonl", "--output", target)
    check_ok(result)
    rows = [json.loads(line) for line in (data_dir / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    records = jsonl(target.read_text(encoding="utf-8"))
    assert [r["id"] for r in records] == [row["id"] for row in rows]
    assert [r["question"] for r in records] == [row["question"] for row in rows]
    _check_answers(records, [row["context"] for row in rows])


def test_qa_input_csv_with_columns_and_passthrough(nlu, qa_model, tmp_path):
    path = tmp_path / "rows.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "q", "passage", "source"])
        writer.writerow(["k1", "Who designed it?", CONTEXT, "wiki"])
        writer.writerow(["k2", "Where?", "John lives in Paris, the capital of France.", "news"])
    result = nlu(
        "qa",
        "--model",
        qa_model,
        "--input",
        path,
        "--question-column",
        "q",
        "--context-column",
        "passage",
        "--id-column",
        "key",
        "--format",
        "json",
    )
    check_ok(result)
    records = json.loads(result.stdout)
    assert [(r["id"], r["source"]) for r in records] == [("k1", "wiki"), ("k2", "news")]
    assert all("passage" not in r and "context" not in r for r in records)


def test_qa_long_context_with_small_windows(nlu, qa_model):
    context = "The river runs through the city. " * 20 + "John wrote the story in Paris."
    result = nlu(
        "qa", "--model", qa_model, "-Q", "Who wrote it?", "-c", context, "--max-length", "32", "--doc-stride", "8"
    )
    check_ok(result)
    _check_answers(jsonl(result.stdout), [context])


def test_qa_allow_impossible_flag(nlu, qa_model, monkeypatch):
    import nlu_toolkit.tasks.qa as qa_mod

    real = qa_mod.torch_forward

    def null_wins(model, device, pick, **kwargs):
        forward = real(model, device, pick, **kwargs)

        def patched(batch):
            logits = forward(batch)
            logits[:, 0, :] = 50.0  # the [CLS] token: the no-answer score beats every span
            return logits

        return patched

    monkeypatch.setattr(qa_mod, "torch_forward", null_wins)
    result = nlu("qa", "--model", qa_model, "-Q", "Who?", "-c", CONTEXT, "--allow-impossible", "--format", "table")
    check_ok(result)
    assert "(no answer)" in result.stdout
    result = nlu("qa", "--model", qa_model, "-Q", "Who?", "-c", CONTEXT, "--allow-impossible")
    (record,) = jsonl(result.stdout)
    assert record["impossible"] is True and record["answer"] == "" and record["start"] == record["end"] == 0
    without = jsonl(nlu("qa", "--model", qa_model, "-Q", "Who?", "-c", CONTEXT).stdout)[0]
    assert without["impossible"] is False and without["answer"] != ""


def test_qa_csv_output(nlu, qa_model, out_dir):
    target = out_dir / "a.csv"
    check_ok(nlu("qa", "--model", qa_model, "-Q", "Who?", "-Q", "When?", "-c", CONTEXT, "-o", target, "-k", "2"))
    rows = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert [r["question"] for r in rows] == ["Who?", "When?"]
    assert all(len(json.loads(r["answers"])) == 2 for r in rows)
    assert {r["impossible"] for r in rows} == {"False"}
