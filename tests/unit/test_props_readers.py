"""Property tests (hypothesis) for the readers: round trips, hostile bytes, and `check_text`.

What each format can hold, as the readers document it:

- jsonl, json, csv, tsv: any text (newlines, quotes, delimiters, NUL, BOMs) written by the
  project's writer (or the csv module for TSV) reads back unchanged, with its id.
- txt: one text per line, so a text holds no ``\\n``, does not end in ``\\r`` (both are line
  ends), is not blank (blank lines are skipped), and the first does not start with a BOM
  (a file's BOM is dropped).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlu_toolkit.errors import InputError
from nlu_toolkit.io.readers import FORMATS, check_text, iter_records
from nlu_toolkit.io.writers import write_records

PROPS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

#: Valid Unicode text (hypothesis leaves out surrogates by default), short enough to stay fast.
texts = st.lists(st.text(max_size=40), min_size=1, max_size=8)
#: Characters that may be lone surrogates too.
any_char = st.one_of(st.characters(), st.characters(categories=["Cs"]))


def _read(path: Path, fmt: str) -> list[dict]:
    return list(iter_records(path, fmt=fmt, max_chars=None))


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
@PROPS
@given(items=texts, id_start=st.integers(0, 10**6))
def test_written_records_read_back_with_their_texts_and_ids(tmp_path_factory, fmt, items, id_start):
    path = tmp_path_factory.mktemp("rt") / f"data.{fmt}"
    records = [{"id": id_start + i, "text": t, "n": i} for i, t in enumerate(items)]
    write_records(records, fmt, str(path))
    back = _read(path, fmt)
    assert [r["text"] for r in back] == items
    # CSV has no types: ids and passthrough columns come back as their text.
    cast = str if fmt == "csv" else (lambda v: v)
    assert [r["id"] for r in back] == [cast(r["id"]) for r in records]
    assert [r["n"] for r in back] == [cast(r["n"]) for r in records]


@PROPS
@given(items=texts)
def test_tsv_written_by_the_csv_module_reads_back(tmp_path_factory, items):
    path = tmp_path_factory.mktemp("tsv") / "data.tsv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["id", "text"])
        writer.writerows([i, t] for i, t in enumerate(items))
    back = _read(path, "tsv")
    assert [(r["id"], r["text"]) for r in back] == [(str(i), t) for i, t in enumerate(items)]


def _txt_text(t: str) -> bool:
    return "\n" not in t and not t.endswith("\r") and bool(t.strip())


@PROPS
@given(items=st.lists(st.text(max_size=40).filter(_txt_text), min_size=1, max_size=8), id_start=st.integers(0, 99))
def test_txt_lines_read_back_numbered_from_id_start(tmp_path_factory, items, id_start):
    if items[0].startswith("\ufeff"):
        items[0] = "x" + items[0]  # a leading BOM is the file's, and dropped
    path = tmp_path_factory.mktemp("txt") / "data.txt"
    path.write_bytes("".join(t + "\n" for t in items).encode("utf-8"))
    back = list(iter_records(path, max_chars=None, id_start=id_start))
    assert [r["text"] for r in back] == items
    assert [r["id"] for r in back] == list(range(id_start, id_start + len(items)))


@pytest.mark.parametrize("fmt", FORMATS[:5])  # parquet is a binary format with its own library
@PROPS
@given(
    data=st.one_of(
        st.binary(max_size=200),
        # Nearly well-formed input finds more corners than noise does.
        st.lists(st.sampled_from([b'{"text": "a"}', b"\n", b",", b"\t", b'"', b"[", b"{", b"\xff", b"\r", b"\x00",
                                  b'"\\ud800"', b"id,text", b"\xef\xbb\xbf", b"null", b"1e999", b"  "]),
                 max_size=30).map(b"".join),
    )
)  # fmt: skip
def test_arbitrary_bytes_raise_nothing_but_input_error(tmp_path_factory, fmt, data):
    path = tmp_path_factory.mktemp("fuzz") / f"data.{fmt}"
    path.write_bytes(data)
    try:
        records = list(iter_records(path, fmt=fmt, max_chars=50))
    except InputError:
        return
    for r in records:  # what was accepted is valid text within the limit
        assert isinstance(r["text"], str) and len(r["text"]) <= 50
        r["text"].encode("utf-8")


def test_deeply_nested_json_is_an_input_error_not_a_recursion_error(tmp_path):
    # Found while writing the property above: json.loads raised RecursionError ("unexpected").
    for name, body in (("deep.jsonl", "[" * 100_000 + "\n"), ("deep.json", '{"a":' * 100_000)):
        path = tmp_path / name
        path.write_text(body)
        with pytest.raises(InputError, match="nested too deeply"):
            list(iter_records(path))


@PROPS
@given(text=st.text(alphabet=any_char, max_size=30), max_chars=st.one_of(st.none(), st.integers(0, 40)))
def test_check_text_accepts_exactly_utf8_encodable_text_within_the_limit(text, max_chars):
    try:
        text.encode("utf-8")
        encodable = True
    except UnicodeEncodeError:
        encodable = False
    ok = encodable and (max_chars is None or len(text) <= max_chars)
    if ok:
        check_text(text, max_chars)
    else:
        with pytest.raises(InputError):
            check_text(text, max_chars, what="label 3")


@PROPS
@given(text=st.text(max_size=20), bad=st.characters(categories=["Cs"]), where=st.integers(0, 20))
def test_check_text_names_the_place_of_a_lone_surrogate(text, bad, where):
    where = min(where, len(text))
    poisoned = text[:where] + bad + text[where:]
    with pytest.raises(InputError) as info:
        check_text(poisoned, None, path="f.jsonl", line=7, what="question")
    message = str(info.value)
    assert message.startswith(
        f"f.jsonl:7: question holds an invalid character U+{ord(bad):04X} at position {where + 1}"
    )
    message.encode("utf-8")  # the message itself can be printed
