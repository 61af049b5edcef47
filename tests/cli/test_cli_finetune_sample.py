"""`nlu finetune --sample-per-class N --seed S`: few-shot training sets drawn from a larger file (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_checks import check_error, check_ok

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "finetune"


def test_sample_per_class_trains_on_the_draw_and_records_it(nlu, st_model, tmp_path):
    out = tmp_path / "m"
    result = nlu(
        "finetune", "-t", "classification", "--train", SAMPLES / "sentiment_train.csv", "-m", st_model, "-o", out,
        "--sample-per-class", "4", "--seed", "5", "--max-steps", "1", "--batch-size", "4", "-f", "json",
    )  # fmt: skip
    check_ok(result)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"]["sample_per_class"] == 4 and metrics["settings"]["seed"] == 5
    sample = metrics["data"]["sample"]
    assert sample["per_class"] == 4 and sample["seed"] == 5 and sample["from_rows"] == 60
    assert len(sample["rows"]) == 8 and metrics["data"]["train_rows"] == 8
    assert all(1 <= row <= 60 for row in sample["rows"])


def test_too_few_rows_of_a_class_is_one_line_exit_2_naming_the_flag(nlu, st_model, tmp_path):
    result = nlu(
        "finetune", "-t", "classification", "--train", SAMPLES / "sentiment_train.csv", "-m", st_model,
        "-o", tmp_path / "m", "--sample-per-class", "31",
    )  # fmt: skip
    line = check_error(result, 2, contains="has 30")
    assert "--sample-per-class" in line


def test_sample_per_class_is_refused_for_other_tasks(nlu, st_model, tmp_path):
    result = nlu(
        "finetune", "-t", "multilabel", "--train", SAMPLES / "sentiment_train.csv", "-m", st_model,
        "-o", tmp_path / "m", "--sample-per-class", "2",
    )  # fmt: skip
    check_error(result, 2, contains="--sample-per-class works for task classification")
