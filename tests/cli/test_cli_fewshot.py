"""`nlu finetune --task fewshot` and `--head`, then `nlu classify` / `nlu evaluate` on the folder (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_checks import check_error, check_ok

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "finetune"


def test_fewshot_from_the_cli_then_classify_and_evaluate(nlu, st_model, tmp_path):
    out = tmp_path / "fs"
    result = nlu(
        "finetune", "-t", "fewshot", "--train", SAMPLES / "sentiment_train.csv", "--eval", SAMPLES / "sentiment_dev.csv",
        "-m", st_model, "-o", out, "--sample-per-class", "4", "--num-iterations", "1", "--head", "torch",
        "--seed", "3", "-f", "json",
    )  # fmt: skip
    check_ok(result)
    summary = json.loads(result.stdout)
    assert summary["task"] == "fewshot" and "accuracy" in summary
    settings = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["settings"]
    assert settings["head"] == "torch" and settings["seed"] == 3 and settings["pairs"] == 16

    classified = nlu("classify", "--model", out, "-f", "jsonl", "A wonderful dinner.", "Awful service.")
    check_ok(classified)
    rows = [json.loads(line) for line in classified.stdout.splitlines()]
    assert len(rows) == 2 and all(r["label"] in ("negative", "positive") for r in rows)

    scored = nlu(
        "evaluate", "-t", "classification", "--model", out, "--data", SAMPLES / "sentiment_dev.csv", "-f", "json"
    )
    check_ok(scored)
    assert json.loads(scored.stdout)["accuracy"] == summary["accuracy"]


def test_head_on_a_transformer_classification_run_names_the_flag(nlu, st_model, tmp_path):
    result = nlu(
        "finetune", "-t", "classification", "--train", SAMPLES / "sentiment_train.csv", "-m", st_model,
        "-o", tmp_path / "m", "--head", "torch",
    )  # fmt: skip
    line = check_error(result, 2)
    assert "--head" in line and "fewshot" in line


def test_both_pair_counts_are_refused(nlu, st_model, tmp_path):
    result = nlu(
        "finetune", "-t", "fewshot", "--train", SAMPLES / "sentiment_train.csv", "-m", st_model,
        "-o", tmp_path / "m", "--num-iterations", "2", "--pairs-per-example", "4",
    )  # fmt: skip
    line = check_error(result, 2)
    assert "--num-iterations" in line and "--pairs-per-example" in line
