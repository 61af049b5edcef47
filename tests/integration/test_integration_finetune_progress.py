"""`finetune` reports progress to a callback (the library draws nothing); `evaluate` takes ``run=``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nlu_toolkit import RunOptions, evaluate, finetune
from nlu_toolkit.errors import UsageError
from nlu_toolkit.train.finetune import TrainProgress


@pytest.fixture(scope="module")
def samples(data_dir: Path) -> Path:
    return data_dir / "finetune"


def test_the_callback_gets_increasing_steps_up_to_the_total(st_model, samples, tmp_path):
    seen: list[TrainProgress] = []
    result = finetune(
        "classification",
        samples / "sentiment_train.csv",
        tmp_path / "m",
        eval=samples / "sentiment_dev.csv",
        model=st_model,
        max_steps=3,
        batch_size=4,
        seed=0,
        progress=seen.append,
    )
    assert seen[0].phase == "start" and seen[0].step == 0
    assert seen[-1].phase == "end"
    total = seen[0].total_steps
    assert total == 3 and all(p.total_steps == total for p in seen)
    steps = [p.step for p in seen if p.phase == "step"]
    assert steps == list(range(1, total + 1))  # one report per optimiser step, in order
    assert seen[-1].step == total == result.steps
    losses = [p for p in seen if p.phase == "log"]
    assert losses and all(isinstance(p.loss, float) and p.epoch is not None for p in losses)
    scored = [p for p in seen if p.phase == "evaluate"]
    assert scored and "accuracy" in scored[-1].metrics and "loss" in scored[-1].metrics


def test_progress_must_be_a_callable(st_model, samples, tmp_path):
    with pytest.raises(UsageError, match="progress must be a function") as err:
        finetune("classification", samples / "sentiment_train.csv", tmp_path / "m", model=st_model, progress=True)
    assert err.value.params == ["progress"]
    assert not (tmp_path / "m").exists()


def test_importing_finetune_pulls_in_no_rich():
    code = "import sys, nlu_toolkit.train.finetune; print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_evaluate_takes_run_options_or_keywords(st_model, samples):
    data = samples / "sts_dev.csv"
    by_keywords = evaluate("embedding", st_model, data, batch_size=4, max_length=32, device="cpu")
    by_run = evaluate("embedding", st_model, data, run=RunOptions(batch_size=4, max_length=32, device="cpu"))
    assert by_run.metrics == by_keywords.metrics


@pytest.mark.parametrize(
    ("options", "param"),
    [({"backend": "onnx"}, "backend"), ({"threads": 2}, "threads"), ({"batch_size": 0}, "batch_size")],
)
def test_evaluate_refuses_run_options_it_cannot_honour(samples, options, param):
    with pytest.raises(UsageError) as err:
        evaluate("classification", "no-such-model", samples / "sentiment_dev.csv", **options)
    assert param in err.value.params
