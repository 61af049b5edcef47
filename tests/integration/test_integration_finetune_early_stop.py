"""Early stopping says that it stopped the run: in the result, in metrics.json, and on the CLI's stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlu_toolkit import finetune
from nlu_toolkit.train.report import early_stopping_note


@pytest.fixture(scope="module")
def samples(data_dir: Path) -> Path:
    return data_dir / "finetune"


def _train(st_model: str, samples: Path, out: Path, **options) -> object:
    # A learning rate of 1e-9 leaves the accuracy where the first epoch put it: no improvement after that.
    return finetune(
        "classification",
        samples / "sentiment_train.csv",
        out,
        eval=samples / "sentiment_dev.csv",
        model=st_model,
        epochs=6,
        lr=1e-9,
        warmup=0.0,
        batch_size=32,
        metric="accuracy",
        seed=0,
        **options,
    )


def test_a_run_stopped_early_records_where_and_why(st_model, samples, tmp_path):
    result = _train(st_model, samples, tmp_path / "m", patience=1)
    assert result.stopped_early is True
    assert result.stopped_at_epoch == 2.0 and result.planned_epochs == 6.0 and result.best_epoch == 1.0
    assert len(result.history) == 2
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["stopped_early"] is True and metrics["stopped_at_epoch"] == 2.0 and metrics["planned_epochs"] == 6.0


def test_a_run_that_ends_on_its_last_epoch_did_not_stop_early(st_model, samples, tmp_path):
    result = _train(st_model, samples, tmp_path / "m", patience=5, max_steps=4)
    assert result.stopped_early is False and result.stopped_at_epoch is None
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["stopped_early"] is False


def test_the_note_names_metric_patience_epochs_and_the_best_one():
    note = early_stopping_note("eval_loss", 2, 3.0, 10.0, 1.0)
    assert (
        note == "early stopping: no improvement in eval_loss for 2 evaluations; stopped at epoch 3 of 10, best epoch 1"
    )
    assert "for 1 evaluation;" in early_stopping_note("accuracy", 1, 2.5, None, None)
