"""`nlu_toolkit.bench` without models: the interval, the recommendation rule and the saved choice."""

from __future__ import annotations

import numpy as np
import pytest

from nlu_toolkit import bench
from nlu_toolkit.bench import BenchResult, Measurement, bootstrap_ci, recommend
from nlu_toolkit.engine import choice as stored
from nlu_toolkit.engine.probe import default_texts


def row(backend, rate, low, high, *, size=32, ran=None, agreement=1.0):
    return Measurement(backend, ran or backend, size, rate, low, high, rate * 20, agreement)


def test_bootstrap_interval_brackets_the_mean_and_is_repeatable():
    values = [100.0, 104.0, 98.0, 101.0, 103.0]
    low, high = bootstrap_ci(values, seed=1)
    assert low < np.mean(values) < high
    assert (low, high) == bootstrap_ci(values, seed=1)
    assert min(values) <= low and high <= max(values)
    assert bootstrap_ci([5.0]) == (5.0, 5.0)


def test_recommends_the_fastest_clearly_faster_backend_at_the_largest_batch():
    rows = [
        row("torch", 100, 95, 105),
        row("onnx", 130, 125, 135),
        row("onnx-int8", 250, 240, 260),
        row("onnx-int8", 10, 9, 11, size=1),  # small batches do not decide
        row("torch", 50, 45, 55, size=1),
    ]
    choice, reason = recommend(rows)
    assert choice == "onnx-int8" and "2.50x torch at batch size 32" in reason


def test_overlapping_intervals_keep_torch():
    choice, reason = recommend([row("torch", 100, 90, 110), row("onnx", 105, 95, 115)])
    assert choice == "torch" and "not clearly faster" in reason


def test_a_backend_that_fell_back_or_disagrees_is_not_recommended():
    rows = [
        row("torch", 100, 95, 105),
        row("onnx-int8", 300, 290, 310, ran="torch"),
        row("onnx", 200, 190, 210, agreement=0.95),
    ]
    choice, reason = recommend(rows, "classify")
    assert choice == "torch" and "no other backend" in reason


def result_with(choice, usable_rows):
    r = BenchResult("embed", "m", "ab" * 32, stored.machine(), 10, 100, 3, usable_rows)
    r.recommended, r.reason = choice, "test"
    return r


def test_saved_recommendation_is_what_auto_gets(tmp_path, monkeypatch):
    monkeypatch.setattr(stored, "results_path", lambda: tmp_path / "bench.json")
    assert stored.recommended("embed", "ab" * 32) is None
    rows = [row("torch", 100, 95, 105), row("onnx-int8", 250, 240, 260), row("onnx", 90, 85, 95, agreement=0.5)]
    bench.save(result_with("onnx-int8", rows))
    assert stored.recommended("embed", "ab" * 32) == "onnx-int8"
    assert stored.recommended("embed", "cd" * 32) is None  # another model
    assert stored.recommended("classify", "ab" * 32) is None  # another task
    # With --quantize int8, auto takes int8 only if it was usable.
    assert stored.recommended("embed", "ab" * 32, quantize="int8") == "onnx-int8"
    bench.save(result_with("torch", [row("torch", 100, 95, 105), row("onnx-int8", 99, 95, 105, agreement=0.9)]))
    assert stored.recommended("embed", "ab" * 32) == "torch"
    assert stored.recommended("embed", "ab" * 32, quantize="int8") is None


def test_auto_resolves_from_the_saved_choice(tmp_path, monkeypatch):
    from nlu_toolkit.engine.runtime import resolve_auto

    monkeypatch.setattr(stored, "results_path", lambda: tmp_path / "bench.json")
    assert resolve_auto("auto", None, task="embed", model_sha="ab" * 32) == ("torch", None)
    bench.save(result_with("onnx-int8", [row("torch", 100, 95, 105), row("onnx-int8", 250, 240, 260)]))
    assert resolve_auto("auto", None, task="embed", model_sha="ab" * 32) == ("onnx", "int8")
    assert resolve_auto("onnx", None, task="embed", model_sha="ab" * 32) == ("onnx", None)  # explicit wins
    bench.save(result_with("onnx", [row("torch", 100, 95, 105), row("onnx", 250, 240, 260)]))
    assert resolve_auto("auto", None, task="embed", model_sha="ab" * 32) == ("onnx", None)


def test_a_damaged_store_is_ignored(tmp_path, monkeypatch):
    path = tmp_path / "bench.json"
    path.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(stored, "results_path", lambda: path)
    assert stored.recommended("embed", "ab" * 32) is None


def test_default_texts_are_varied_and_repeatable():
    texts = default_texts(64, seed=3)
    assert texts == default_texts(64, seed=3) and len(texts) == 64
    assert len(set(texts)) > 32 and len({len(t) for t in texts}) > 16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "summarize"}, "unknown task"),
        ({"backends": ["tensorrt"]}, "unknown backend"),
        ({"repeats": 1}, "repeats must be at least 2"),
        ({"batch_sizes": [0]}, "batch_sizes must be positive"),
        ({"texts": []}, "no texts"),
    ],
)
def test_bad_options_are_usage_errors(kwargs, message):
    from nlu_toolkit.errors import UsageError

    with pytest.raises(UsageError, match=message) as info:
        bench.bench(**kwargs)
    assert "--" not in str(info.value)  # the library names parameters, the CLI renders flags


def test_probe_agreement_compares_argmax_per_head():
    from nlu_toolkit.engine.runtime import probe_agreement

    features = [{"input_ids": [1, 2, 3]}, {"input_ids": [1, 2]}]

    def logits(flip_second: bool):
        def forward(batch):
            n, width = batch["input_ids"].shape
            out = np.zeros((n, width, 2), dtype=np.float32)
            out[..., 0] = 1.0
            if flip_second and width == 2:
                out[0, 1] = [0.0, 1.0]  # one token of the second input changes its tag
            return out

        return forward

    assert probe_agreement(logits(False), logits(False), features, "token-classification", pad_id=0) == 1.0
    assert probe_agreement(logits(False), logits(True), features, "token-classification", pad_id=0) == pytest.approx(
        4 / 5
    )
    labels = lambda batch: np.tile([[0.2, 0.8]], (len(batch["input_ids"]), 1))  # noqa: E731
    other = lambda batch: np.tile([[0.8, 0.2]], (len(batch["input_ids"]), 1))  # noqa: E731
    assert probe_agreement(labels, other, features, "sequence-classification", pad_id=0) == 0.0


def test_backend_flags_are_checked():
    from nlu_toolkit.engine.runtime import check_backend
    from nlu_toolkit.errors import UsageError

    check_backend("auto", "int8")
    with pytest.raises(UsageError, match="needs backend onnx"):
        check_backend("torch", "int8")
    with pytest.raises(UsageError, match="unknown backend"):
        check_backend("tensorrt", None)


def test_only_auto_pays_for_the_weights_checksum():
    from nlu_toolkit.engine.runtime import resolve_auto

    def expensive() -> str:
        raise AssertionError("hashed the weights for an explicit backend")

    assert resolve_auto("torch", None, task="embed", model_sha=expensive) == ("torch", None)
    assert resolve_auto("onnx", "int8", task="embed", model_sha=expensive) == ("onnx", "int8")
