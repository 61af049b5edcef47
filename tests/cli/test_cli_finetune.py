"""`nlu finetune` / `nlu evaluate` through the CLI: summaries on stdout, files, the error contract."""

from __future__ import annotations

import json
import re
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


def test_ner_summary_shows_the_precision_score_and_the_training_precision_apart(nlu, st_model, tmp_path):
    out = tmp_path / "ner"
    result = nlu(
        "finetune", "-t", "ner", "--train", SAMPLES / "ner_train.conll", "--eval", SAMPLES / "ner_dev.conll",
        "-m", st_model, "-o", out, "--epochs", "1", "--lr", "5e-5", "-f", "table",
    )  # fmt: skip
    check_ok(result)
    shown = dict(re.findall(r"^│ (\w+)\s+│ (.*?)\s+│$", result.stdout, flags=re.M))
    assert re.fullmatch(r"\d\.\d{4}", shown["precision"]) and shown["train_precision"] == "fp32"
    assert shown["best_epoch"] == "1" and re.fullmatch(r"\d+\.\d", shown["train_seconds"])
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert isinstance(metrics["final"]["precision"], float) and metrics["settings"]["train_precision"] == "fp32"
    assert "precision" not in metrics["settings"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "- learning rate: 5e-05\n" in card and "- epochs: 1\n" in card and "- train precision: fp32" in card
    assert re.search(r"^- precision: \d\.\d{4}$", card, flags=re.M) and re.search(r" in \d+\.\d s\.", card)


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


def test_the_training_bar_draws_the_library_reports(monkeypatch):
    import io
    import re

    from rich.console import Console

    from nlu_toolkit.cli import render
    from nlu_toolkit.cli.finetune import training_bar
    from nlu_toolkit.train.progress import TrainProgress

    with training_bar(False) as progress:  # not a terminal, or --quiet: no bar, no callback
        assert progress is None
    screen = io.StringIO()
    monkeypatch.setattr(render, "stderr_console", lambda: Console(file=screen, force_terminal=True, width=100))
    with training_bar(True) as progress:
        assert progress is not None
        progress(TrainProgress("start", 0, 2))
        progress(TrainProgress("step", 1, 2, epoch=0.5))
        progress(TrainProgress("log", 1, 2, epoch=0.5, loss=0.6931))
        progress(TrainProgress("step", 2, 2, epoch=1.0))
        progress(TrainProgress("evaluate", 2, 2, epoch=1.0, metrics={"accuracy": 0.75, "runtime": 0.1}))
        progress(TrainProgress("end", 2, 2, epoch=1.0))
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # without the terminal's colours
    assert "training" in shown and "2/2" in shown and "epoch 0.50 loss 0.6931" in shown
    assert "epoch 1.00: accuracy 0.7500" in shown and "runtime" not in shown


def test_the_training_bar_comes_down_when_the_run_fails(monkeypatch):
    import io

    import pytest
    from rich.console import Console

    from nlu_toolkit.cli import render
    from nlu_toolkit.cli.finetune import training_bar
    from nlu_toolkit.train.progress import TrainProgress

    console = Console(file=io.StringIO(), force_terminal=True)
    monkeypatch.setattr(render, "stderr_console", lambda: console)
    with pytest.raises(RuntimeError), training_bar(True) as progress:
        progress(TrainProgress("start", 0, 4))
        raise RuntimeError("the run failed")
    # A bar left live would make rich refuse the next one ("only one live display may be active").
    with training_bar(True) as progress:
        progress(TrainProgress("start", 0, 4))
        progress(TrainProgress("end", 4, 4))


def test_library_errors_name_the_finetune_flags(nlu, st_model, tmp_path):
    # The library writes {=patience} and {=eval}; the CLI shows its flags.
    args = ["finetune", "-t", "classification", "--train", SAMPLES / "sentiment_train.csv", "-m", st_model]
    line = check_error(nlu(*args, "-o", tmp_path / "m", "--patience", "2"), 2, contains="--patience needs")
    assert "--eval" in line and "--eval-split" in line
    out = tmp_path / "done"
    out.mkdir()
    (out / "metrics.json").write_text('{"task": "classification", "settings": {}}')
    line = check_error(nlu(*args, "-o", out), 2, contains="--overwrite")
    assert "--resume" in line and "--output" in line and "output_dir" not in line


def test_library_errors_name_the_evaluate_flags(nlu, tmp_path):
    data = SAMPLES / "sentiment_dev.csv"
    result = nlu("evaluate", "-t", "ner", "-m", "no-such-model", "-d", data, "--confusion-png", tmp_path / "c.png")
    check_error(result, 2, contains="--confusion-png is for --task classification")
