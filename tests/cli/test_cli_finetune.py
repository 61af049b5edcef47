"""`nlu finetune` / `nlu evaluate` through the CLI: summaries on stdout, files, the error contract."""

from __future__ import annotations

import json
from pathlib import Path

from cli_checks import check_error, check_ok, jsonl

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "finetune"


def test_finetune_then_evaluate(nlu, st_model, tmp_path):
    out = tmp_path / "model"
    result = nlu(
        "finetune",
        "--task", "classification",
        "--train", SAMPLES / "sentiment_train.csv",
        "--eval", SAMPLES / "sentiment_dev.csv",
        "--model", st_model,
        "--output", out,
        "--max-steps", "2",
        "--batch-size", "4",
        "--format", "json",
    )  # fmt: skip
    check_ok(result)
    summary = json.loads(result.stdout)
    assert summary["output_dir"] == str(out) and summary["task"] == "classification"
    assert "accuracy" in summary and summary["epochs"]
    assert (out / "model.safetensors").is_file()

    errors = tmp_path / "wrong.jsonl"
    scored = nlu(
        "evaluate", "--task", "classification", "--model", out, "--data", SAMPLES / "sentiment_dev.csv",
        "--format", "json", "--errors", errors, "--confusion-png", tmp_path / "cm.png",
    )  # fmt: skip
    check_ok(scored)
    figures = json.loads(scored.stdout)
    assert {"accuracy", "macro_f1", "mcc"} <= set(figures)
    assert figures["n"] == 20 and figures["details"]["per_class"]
    wrong = jsonl(errors.read_text(encoding="utf-8"))
    assert len(wrong) == figures["errors"]
    assert (tmp_path / "cm.png").is_file()


def test_evaluate_table_on_a_terminal_lists_classes(nlu, st_model, tmp_path):
    out = tmp_path / "m"
    args = ["-t", "classification", "--train", SAMPLES / "sentiment_train.csv", "-m", st_model, "-o", out]
    check_ok(nlu("finetune", *args, "--max-steps", "1", "-f", "json"))
    result = nlu("evaluate", "-t", "classification", "-m", out, "-d", SAMPLES / "sentiment_dev.csv", "-f", "table")
    check_ok(result)
    assert "accuracy" in result.stdout and "positive" in result.stdout and "negative" in result.stdout


def test_wrong_column_is_one_line_exit_2(nlu, st_model, tmp_path):
    result = nlu(
        "finetune", "-t", "classification", "--train", SAMPLES / "sentiment_train.csv", "-m", st_model,
        "-o", tmp_path / "m", "--text-column", "review_text",
    )  # fmt: skip
    check_error(result, 2, contains="review_text")
    assert not (tmp_path / "m" / "config.json").exists()


def test_misaligned_ner_rows_are_one_line_exit_2(nlu, st_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tokens": ["John", "runs"], "tags": ["B-PER"]}\n', encoding="utf-8")
    result = nlu("finetune", "-t", "ner", "--train", bad, "-m", st_model, "-o", tmp_path / "m", "--max-steps", "1")
    check_error(result, 2)


def test_bad_squad_span_is_one_line_exit_2(nlu, st_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    row = {
        "id": "q1",
        "question": "Who?",
        "context": "Ada wrote it.",
        "answers": {"text": ["Ada"], "answer_start": [4]},
    }
    bad.write_text(json.dumps(row) + "\n", encoding="utf-8")
    result = nlu("finetune", "-t", "qa", "--train", bad, "-m", st_model, "-o", tmp_path / "m", "--max-steps", "1")
    check_error(result, 2, contains="q1")


def test_empty_training_file_is_one_line_exit_2(nlu, st_model, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    result = nlu("finetune", "-t", "classification", "--train", empty, "-m", st_model, "-o", tmp_path / "m")
    check_error(result, 2)


def test_unknown_eval_label_is_one_line_exit_2(nlu, st_model, tmp_path):
    dev = tmp_path / "dev.csv"
    dev.write_text("text,label\nso so,neutral\n", encoding="utf-8")
    result = nlu(
        "finetune", "-t", "classification", "--train", SAMPLES / "sentiment_train.csv", "--eval", dev,
        "-m", st_model, "-o", tmp_path / "m", "--max-steps", "1",
    )  # fmt: skip
    check_error(result, 2, contains="neutral")


def test_python_dash_m_runs_the_cli_for_accelerate_launch():
    import subprocess
    import sys

    # `accelerate launch -m nlu_toolkit finetune ...` runs the package as a module.
    done = subprocess.run([sys.executable, "-m", "nlu_toolkit", "finetune", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "--resume" in done.stdout and "--patience" in done.stdout


def test_seq2seq_finetune_then_evaluate(nlu, t5_model, tmp_path):
    out = tmp_path / "t5-sum"
    result = nlu(
        "finetune", "-t", "seq2seq",
        "--train", SAMPLES / "seq2seq_train.jsonl",
        "--eval", SAMPLES / "seq2seq_dev.jsonl",
        "--model", t5_model,
        "--output", out,
        "--source-prefix", "summarize: ",
        "--max-length", "64",
        "--max-target-length", "24",
        "--max-steps", "2",
        "--batch-size", "4",
        "--format", "json",
    )  # fmt: skip
    check_ok(result)
    summary = json.loads(result.stdout)
    assert summary["task"] == "seq2seq" and summary["output_dir"] == str(out)
    assert {"rougeL", "bleu", "chrf"} <= set(summary) and summary["epochs"]
    assert (out / "model.safetensors").is_file() and (out / "generation_config.json").is_file()
    settings = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["settings"]
    assert settings["source_prefix"] == "summarize: " and settings["max_target_length"] == 24

    errors = tmp_path / "wrong.jsonl"
    scored = nlu(
        "evaluate", "-t", "seq2seq", "-m", out, "-d", SAMPLES / "seq2seq_dev.jsonl",
        "--format", "json", "--errors", errors,
    )  # fmt: skip
    check_ok(scored)
    figures = json.loads(scored.stdout)
    assert {"rougeL", "rouge1", "rouge2", "bleu", "chrf"} <= set(figures)
    assert figures["task"] == "seq2seq" and figures["n"] == 8
    wrong = jsonl(errors.read_text(encoding="utf-8"))
    assert len(wrong) == figures["errors"]
    assert all({"source", "reference", "prediction"} <= set(row) for row in wrong)


def test_seq2seq_without_a_model_is_one_line_exit_2(nlu, tmp_path):
    result = nlu("finetune", "-t", "seq2seq", "--train", SAMPLES / "seq2seq_train.jsonl", "-o", tmp_path / "m")
    check_error(result, 2, contains="seq2seq")
    assert not (tmp_path / "m").exists()
