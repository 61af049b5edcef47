"""NER tags are checked where they are read: ``X-FOO`` is refused, not learned as the entity type ``X-FOO``."""

from __future__ import annotations

import pytest

from nlu_toolkit.errors import TrainingDataError
from nlu_toolkit.train.data import load_task_data, read_conll
from nlu_toolkit.train.tags import check_tag


@pytest.mark.parametrize("tag", ["O", "B-PER", "I-PER", "E-LOC", "S-LOC", "L-ORG", "U-ORG", "PER", "creative-work"])
def test_valid_tags_pass(tag):
    check_tag(tag, "f:1")  # bare types (IO scheme) stay valid


@pytest.mark.parametrize(
    ("tag", "named"),
    [
        ("X-FOO", "unknown prefix 'X-'"),
        ("b-PER", "unknown prefix 'b-'"),
        ("O-LOC", "unknown prefix 'O-'"),
        ("B-", "has a prefix but no entity type"),
        ("I- ", "has a prefix but no entity type"),
    ],
)
def test_invalid_tags_are_refused_with_the_iob_hint(tag, named):
    with pytest.raises(TrainingDataError, match=named) as info:
        check_tag(tag, "train.conll:3")
    assert str(info.value).startswith("train.conll:3: tag ")
    assert "IOB scheme" in (info.value.hint or "")


def test_conll_x_foo_tag_names_the_file_and_line(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text("Ada B-PER\nLovelace I-PER\n\nin O\nParis X-FOO\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match=rf"{path}:5: tag 'X-FOO' has an unknown prefix"):
        read_conll(path)
    with pytest.raises(TrainingDataError, match=":5: tag 'X-FOO'"):
        load_task_data("ner", path)


def test_ner_table_bad_tag_names_the_row(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"tokens": ["Ada"], "tags": ["B-PER"]}\n{"tokens": ["Paris"], "tags": ["X-LOC"]}\n')
    with pytest.raises(TrainingDataError, match="row 2: tag 'X-LOC'"):
        load_task_data("ner", path)
