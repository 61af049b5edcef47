"""``sample_per_class``: few-shot training sets drawn reproducibly from a larger file (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu_toolkit.errors import TrainingDataError, UsageError
from nlu_toolkit.train.data import load_task_data
from nlu_toolkit.train.data.sampling import draw_per_class


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf-datasets"))


def _table(tmp_path: Path, counts: dict[str, int]) -> Path:
    rows = [f"{label} text {i},{label}" for label, n in counts.items() for i in range(n)]
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_draws_n_of_each_class_and_records_file_rows(tmp_path):
    path = _table(tmp_path, {"neg": 30, "pos": 20, "mid": 12})
    data = load_task_data("classification", path, sample_per_class=8, seed=3)
    labels = [data.labels[i] for i in data.train["label"]]
    assert {name: labels.count(name) for name in data.labels} == {"mid": 8, "neg": 8, "pos": 8}
    sample = data.info["sample"]
    assert sample["per_class"] == 8 and sample["seed"] == 3 and sample["from_rows"] == 62
    assert data.info["train_rows"] == 24 and len(sample["rows"]) == 24
    # Row numbers are 1-based data rows of the file: row r holds the text written for it.
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    assert [lines[r - 1].split(",")[0] for r in sample["rows"]] == list(data.train["text"])


def test_same_seed_same_rows_other_seed_other_rows_and_smaller_n_is_nested(tmp_path):
    path = _table(tmp_path, {"neg": 40, "pos": 40})
    rows = lambda n, seed: load_task_data("classification", path, sample_per_class=n, seed=seed).info["sample"]["rows"]  # noqa: E731
    assert rows(8, 1) == rows(8, 1)
    assert rows(8, 1) != rows(8, 2)
    assert set(rows(8, 1)) < set(rows(16, 1))


def test_a_class_with_too_few_rows_is_refused_naming_it(tmp_path):
    path = _table(tmp_path, {"neg": 30, "pos": 5, "mid": 6})
    with pytest.raises(TrainingDataError) as caught:
        load_task_data("classification", path, sample_per_class=8)
    message = str(caught.value)
    assert "'pos' has 5" in message and "'mid' has 6" in message and "neg" not in message
    assert "at most 5" in caught.value.hint


def test_eval_split_is_held_out_before_the_draw(tmp_path):
    path = _table(tmp_path, {"neg": 30, "pos": 30})
    data = load_task_data("classification", path, sample_per_class=4, eval_split=0.2, seed=0)
    assert data.train.num_rows == 8 and data.eval.num_rows == 12
    assert "__nlu_row__" not in data.train.column_names and "__nlu_row__" not in data.eval.column_names
    held_out = set(data.eval["text"])
    assert not held_out & set(data.train["text"])
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    assert [lines[r - 1].split(",")[0] for r in data.info["sample"]["rows"]] == list(data.train["text"])


@pytest.mark.parametrize(("task", "n"), [("multilabel", 4), ("embedding", 4), ("classification", 0)])
def test_bad_count_or_task_is_a_usage_error(tmp_path, task, n):
    with pytest.raises(UsageError, match="sample_per_class"):
        load_task_data(task, _table(tmp_path, {"a": 3, "b": 3}), sample_per_class=n)


def test_draw_ignores_other_classes():
    # Adding a class to the file does not change the rows drawn for the others.
    two = draw_per_class([0, 1] * 10, ["a", "b"], 3, 7, "f")
    three = draw_per_class([0, 1] * 10 + [2] * 3, ["a", "b", "c"], 3, 7, "f")
    assert three[:6] == two and three[6:] == [20, 21, 22]
