"""The user's --max-chars is the one limit: records are checked once, where they are read (issue 14, item 4)."""

from __future__ import annotations

import pytest
from cli_checks import check_error, check_ok, jsonl

LONG = ("The river bank was quiet in the morning. " * 3700)[:150_000]  # 150,000 characters


@pytest.fixture
def long_file(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text(LONG + "\n", encoding="utf-8")
    return path


def test_embed_takes_a_text_over_the_library_default_when_the_user_allows_it(nlu, st_model, long_file):
    check_error(nlu("embed", "--input", long_file, "-m", st_model), 2, contains="over the limit of 100,000")
    result = nlu("embed", "--input", long_file, "-m", st_model, "--max-chars", "200000", "--format", "jsonl")
    check_ok(result)
    assert len(jsonl(result.stdout)) == 1


def test_classify_takes_a_text_over_the_library_default_when_the_user_allows_it(nlu, cls_model, long_file):
    result = nlu("classify", "--input", long_file, "-m", cls_model, "--max-chars", "200000", "--format", "jsonl")
    check_ok(result)
    assert len(jsonl(result.stdout)) == 1


def test_summarize_keeps_its_documented_default_of_a_million_characters(nlu, bart_model, long_file):
    result = nlu("summarize", "--input", long_file, "-m", bart_model, "--max-length", "8", "--format", "jsonl")
    check_ok(result)
    assert len(jsonl(result.stdout)) == 1


def test_the_library_still_checks_plain_strings_with_its_default():
    from nlu_toolkit.errors import InputError
    from nlu_toolkit.io.readers import records_from_texts
    from nlu_toolkit.tasks.common import as_records

    with pytest.raises(InputError, match="over the limit of 100,000"):
        list(as_records([LONG]))
    (checked,) = records_from_texts([LONG], max_chars=200_000)
    assert list(as_records([checked])) == [checked]  # a record read with the user's limit is not checked again
    with pytest.raises(InputError, match="over the limit"):  # nor does the marker cover a field it did not check
        list(as_records([checked], field="text", max_chars=10)) and list(records_from_texts([{**checked}]))
