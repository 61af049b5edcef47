"""Unit tests for nlu_toolkit.io.readers: formats, fields, ids, progress, laziness and errors."""

from __future__ import annotations

import io
import json
import sys
from itertools import islice, pairwise
from pathlib import Path

import pytest

from nlu_toolkit.errors import InputError, UsageError
from nlu_toolkit.io.readers import (
    DEFAULT_MAX_CHARS,
    FORMATS,
    count_chars_limit,
    detect_format,
    iter_records,
    read_text_file,
    records_from_texts,
)


def read(source, **kwargs):
    return list(iter_records(source, **kwargs))


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


class FakeStdin:
    """Stand-in for sys.stdin: readers use ``sys.stdin.buffer``."""

    def __init__(self, data: bytes | io.RawIOBase) -> None:
        self.buffer = io.BytesIO(data) if isinstance(data, bytes) else io.BufferedReader(data)


@pytest.fixture
def stdin(monkeypatch):
    def set_stdin(data):
        fake = FakeStdin(data)
        monkeypatch.setattr(sys, "stdin", fake)
        return fake

    return set_stdin


def assert_input_error(excinfo, *fragments: str) -> InputError:
    err = excinfo.value
    assert isinstance(err, InputError)
    assert err.exit_code == 2
    assert err.hint, "every InputError carries a hint"
    text = str(err)
    assert err.hint in text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return err


# --------------------------------------------------------------------------- detect_format


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.txt", "txt"),
        ("a.text", "txt"),
        ("a.csv", "csv"),
        ("A.CSV", "csv"),
        ("a.tsv", "tsv"),
        ("a.tab", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", "json"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.unknown", "txt"),
        ("noext", "txt"),
        ("-", "txt"),
    ],
)
def test_detect_format_from_extension(name, expected):
    assert detect_format(name) == expected


def test_detect_format_explicit_wins():
    assert detect_format("a.txt", "csv") == "csv"
    assert detect_format("-", "jsonl") == "jsonl"


def test_detect_format_unknown_is_usage_error():
    with pytest.raises(UsageError) as excinfo:
        detect_format("a.txt", "xml")
    assert excinfo.value.exit_code == 2
    for fmt in FORMATS:
        assert fmt in str(excinfo.value)


def test_iter_records_unknown_format_is_usage_error(tmp_path):
    path = write(tmp_path, "a.txt", "hello\n")
    with pytest.raises(UsageError, match="xml"):
        read(path, fmt="xml")


def test_iter_records_unknown_encoding_is_usage_error(tmp_path):
    path = write(tmp_path, "a.txt", "hello\n")
    with pytest.raises(UsageError, match="no-such-codec"):
        read(path, encoding="no-such-codec")


# --------------------------------------------------------------------------- txt


def test_txt_one_record_per_line_ids_from_zero(tmp_path):
    path = write(tmp_path, "a.txt", "first\nsecond\nthird\n")
    assert read(path) == [
        {"id": 0, "text": "first"},
        {"id": 1, "text": "second"},
        {"id": 2, "text": "third"},
    ]


def test_txt_blank_lines_skipped_ids_stay_consecutive(tmp_path):
    path = write(tmp_path, "a.txt", "\n\nfirst\n\n   \n\t\nsecond\n\n")
    assert read(path) == [{"id": 0, "text": "first"}, {"id": 1, "text": "second"}]


def test_txt_crlf_line_endings(tmp_path):
    path = write(tmp_path, "a.txt", b"first\r\nsecond\r\n\r\nthird")
    assert [r["text"] for r in read(path)] == ["first", "second", "third"]


def test_txt_utf8_bom_stripped(tmp_path):
    path = write(tmp_path, "a.txt", b"\xef\xbb\xbfcaf\xc3\xa9\nnext\n")
    records = read(path)
    assert records[0]["text"] == "café"
    assert not records[0]["text"].startswith("\ufeff")
    assert records[1]["text"] == "next"


def test_txt_inner_whitespace_kept(tmp_path):
    path = write(tmp_path, "a.txt", "  padded text  \n")
    assert read(path)[0]["text"] == "  padded text  "


def test_txt_no_trailing_newline(tmp_path):
    path = write(tmp_path, "a.txt", "only line")
    assert read(path) == [{"id": 0, "text": "only line"}]


def test_txt_fills_first_field_key(tmp_path):
    path = write(tmp_path, "a.txt", "what is it?\n")
    assert read(path, fields={"question": "q"}) == [{"id": 0, "question": "what is it?"}]


def test_unknown_extension_read_as_txt(tmp_path):
    path = write(tmp_path, "notes.log", "a,b\nc,d\n")
    assert [r["text"] for r in read(path)] == ["a,b", "c,d"]


def test_explicit_format_overrides_extension(tmp_path):
    path = write(tmp_path, "data.txt", '{"text": "hi"}\n')
    assert read(path, fmt="jsonl") == [{"id": 0, "text": "hi"}]


def test_path_like_and_str_sources(tmp_path):
    path = write(tmp_path, "a.txt", "x\n")
    assert read(path) == read(str(path))


# --------------------------------------------------------------------------- csv / tsv


def test_csv_basic_passthrough_and_default_ids(tmp_path):
    path = write(tmp_path, "a.csv", 'text,label\nhello,pos\n"with, comma",neg\n')
    assert read(path) == [
        {"id": 0, "text": "hello", "label": "pos"},
        {"id": 1, "text": "with, comma", "label": "neg"},
    ]


def test_csv_quoted_multiline_field(tmp_path):
    path = write(tmp_path, "a.csv", 'text,label\n"line one\nline two",x\nnext,y\n')
    records = read(path)
    assert records[0]["text"] == "line one\nline two"
    assert records[1] == {"id": 1, "text": "next", "label": "y"}


def test_csv_crlf_bom_and_blank_lines(tmp_path):
    path = write(tmp_path, "a.csv", b"\xef\xbb\xbftext,label\r\nhello,pos\r\n\r\nbye,neg\r\n")
    assert read(path) == [
        {"id": 0, "text": "hello", "label": "pos"},
        {"id": 1, "text": "bye", "label": "neg"},
    ]


def test_csv_header_names_are_stripped(tmp_path):
    path = write(tmp_path, "a.csv", " text , label \nhello,pos\n")
    assert read(path) == [{"id": 0, "text": "hello", "label": "pos"}]


def test_csv_leading_blank_lines_before_header(tmp_path):
    path = write(tmp_path, "a.csv", "\n\ntext\nhello\n")
    assert read(path) == [{"id": 0, "text": "hello"}]


def test_tsv(tmp_path):
    path = write(tmp_path, "a.tsv", "text\tlabel\nhello, world\tpos\n")
    assert read(path) == [{"id": 0, "text": "hello, world", "label": "pos"}]


def test_csv_fields_mapping(tmp_path):
    path = write(tmp_path, "qa.csv", "q,c,extra\nWho?,Ann wrote it.,1\n")
    assert read(path, fields={"question": "q", "context": "c"}) == [
        {"id": 0, "question": "Who?", "context": "Ann wrote it.", "extra": "1"}
    ]


def test_csv_column_named_id_used_automatically(tmp_path):
    path = write(tmp_path, "a.csv", "id,text\na1,hello\nb2,bye\n")
    records = read(path)
    assert [r["id"] for r in records] == ["a1", "b2"]
    assert records[0] == {"id": "a1", "text": "hello"}


def test_csv_id_column_option(tmp_path):
    path = write(tmp_path, "a.csv", "doc,text,id\nd1,hello,x\n")
    records = read(path, id_column="doc")
    assert records[0]["id"] == "d1"
    assert records[0]["text"] == "hello"
    assert "doc" not in records[0]


def test_csv_missing_id_column(tmp_path):
    path = write(tmp_path, "a.csv", "text\nhello\n")
    with pytest.raises(InputError) as excinfo:
        read(path, id_column="doc")
    err = assert_input_error(excinfo, str(path), "'doc'", "'text'", "with id_column")
    assert err.params == ["id_column"]  # the CLI shows it as --id-column


def test_csv_missing_column_lists_available_columns(tmp_path):
    path = write(tmp_path, "a.csv", "review,label\ngood,pos\n")
    with pytest.raises(InputError) as excinfo:
        read(path)
    err = assert_input_error(excinfo, f"{path}:2:", "no column 'text'", "'review'", "'label'", "with text_column")
    assert err.params == ["text_column"]  # the CLI shows it as --text-column
    assert err.path == str(path)
    assert err.line == 2


def test_csv_missing_mapped_column_names_option(tmp_path):
    path = write(tmp_path, "a.csv", "q,ctx\nWho?,Ann.\n")
    with pytest.raises(InputError) as excinfo:
        read(path, fields={"question": "q", "context": "c"})
    err = assert_input_error(excinfo, "no column 'c'", "'q'", "'ctx'", "with context_column")
    assert err.params == ["context_column"]  # the CLI shows it as --context-column


def test_csv_row_with_too_many_fields(tmp_path):
    path = write(tmp_path, "a.csv", "text,label\nok,pos\nbad,neg,extra\n")
    with pytest.raises(InputError) as excinfo:
        read(path)
    err = assert_input_error(excinfo, f"{path}:3:", "3 fields", "header has 2")
    assert err.line == 3


def test_csv_row_with_too_few_fields(tmp_path):
    path = write(tmp_path, "a.csv", "text,label\nok,pos\nalone\n")
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, f"{path}:3:", "1 fields")


def test_csv_unclosed_quote(tmp_path):
    path = write(tmp_path, "a.csv", 'text,label\nok,pos\n"never closed,neg\n')
    with pytest.raises(InputError) as excinfo:
        read(path)
    err = assert_input_error(excinfo, str(path), "ill-formed CSV")
    assert err.line is not None and err.line >= 3


def test_csv_garbage_after_closing_quote(tmp_path):
    path = write(tmp_path, "a.csv", 'text,label\n"quoted"junk,pos\n')
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, f"{path}:2:", "ill-formed CSV")


def test_tsv_error_says_tsv(tmp_path):
    path = write(tmp_path, "a.tsv", "text\tlabel\na\tb\tc\n")
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, f"{path}:2:", "TSV")


def test_csv_header_only_is_empty(tmp_path):
    path = write(tmp_path, "a.csv", "text,label\n")
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "no records")


# --------------------------------------------------------------------------- jsonl


def test_jsonl_basic_passthrough(tmp_path):
    lines = [{"text": "hello", "label": "pos", "meta": {"a": 1}}, {"text": "bye", "label": "neg", "meta": None}]
    path = write(tmp_path, "a.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    assert read(path) == [
        {"id": 0, "text": "hello", "label": "pos", "meta": {"a": 1}},
        {"id": 1, "text": "bye", "label": "neg", "meta": None},
    ]


def test_jsonl_blank_lines_crlf_and_bom(tmp_path):
    path = write(tmp_path, "a.jsonl", b'\xef\xbb\xbf{"text": "a"}\r\n\r\n   \r\n{"text": "b"}\r\n')
    assert read(path) == [{"id": 0, "text": "a"}, {"id": 1, "text": "b"}]


def test_jsonl_id_field_used_automatically(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"id": 42, "text": "a"}\n{"id": "x", "text": "b"}\n')
    assert [r["id"] for r in read(path)] == [42, "x"]


def test_jsonl_id_column(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"key": 7, "text": "a", "id": "ignored-as-id"}\n')
    record = read(path, id_column="key")[0]
    assert record["id"] == 7
    assert record["text"] == "a"


def test_jsonl_non_string_field_becomes_string(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"text": 123, "n": 5}\n')
    assert read(path) == [{"id": 0, "text": "123", "n": 5}]


def test_jsonl_null_field_is_error(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"text": "ok"}\n{"text": null}\n')
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, f"{path}:2:", "'text'", "empty")


def test_jsonl_fields_mapping(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"q": "Who?", "c": "Ann did.", "src": "wiki"}\n')
    assert read(path, fields={"question": "q", "context": "c"}) == [
        {"id": 0, "question": "Who?", "context": "Ann did.", "src": "wiki"}
    ]


def test_jsonl_bad_json_line(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"text": "ok"}\n{"text": "broken"\n{"text": "ok"}\n')
    with pytest.raises(InputError) as excinfo:
        read(path)
    err = assert_input_error(excinfo, f"{path}:2:", "ill-formed JSON")
    assert err.line == 2


def test_jsonl_line_that_is_a_list(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"text": "ok"}\n\n["not", "an", "object"]\n')
    with pytest.raises(InputError) as excinfo:
        read(path)
    err = assert_input_error(excinfo, f"{path}:3:", "list", "object")
    assert err.line == 3


def test_jsonl_missing_column(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"review": "good", "stars": 5}\n')
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, f"{path}:1:", "no column 'text'", "'review'", "'stars'")


def test_jsonl_records_before_error_are_yielded(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"text": "ok"}\nnot json\n')
    it = iter_records(path)
    assert next(it) == {"id": 0, "text": "ok"}
    with pytest.raises(InputError):
        next(it)


# --------------------------------------------------------------------------- json


def test_json_array_of_objects(tmp_path):
    path = write(tmp_path, "a.json", json.dumps([{"text": "a", "label": 1}, {"id": "k", "text": "b"}]))
    assert read(path) == [{"id": 0, "text": "a", "label": 1}, {"id": "k", "text": "b"}]


def test_json_array_of_strings(tmp_path):
    path = write(tmp_path, "a.json", json.dumps(["one", "two"]))
    assert read(path) == [{"id": 0, "text": "one"}, {"id": 1, "text": "two"}]


def test_json_single_object(tmp_path):
    path = write(tmp_path, "a.json", json.dumps({"text": "solo"}))
    assert read(path) == [{"id": 0, "text": "solo"}]


def test_json_with_bom(tmp_path):
    path = write(tmp_path, "a.json", b"\xef\xbb\xbf" + json.dumps(["x"]).encode())
    assert read(path) == [{"id": 0, "text": "x"}]


def test_json_fields_mapping(tmp_path):
    path = write(tmp_path, "a.json", json.dumps([{"q": "Who?", "c": "Ann."}]))
    assert read(path, fields={"question": "q", "context": "c"}) == [{"id": 0, "question": "Who?", "context": "Ann."}]


def test_json_ill_formed(tmp_path):
    path = write(tmp_path, "a.json", '[\n{"text": "a"},\n{"text": \n')
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "ill-formed JSON")


def test_json_scalar_is_error(tmp_path):
    path = write(tmp_path, "a.json", "42")
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "array")


def test_json_array_with_number_item(tmp_path):
    path = write(tmp_path, "a.json", "[1, 2]")
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "int")


def test_json_empty_array(tmp_path):
    path = write(tmp_path, "a.json", "[]")
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "no records")


def test_json_non_utf8(tmp_path):
    path = write(tmp_path, "a.json", b'["caf\xe9"]')
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "utf-8")
    assert read(path, encoding="latin-1") == [{"id": 0, "text": "café"}]


def test_json_reports_progress(tmp_path):
    path = write(tmp_path, "a.json", json.dumps([{"text": f"t{i}"} for i in range(5)]))
    calls = []
    read(path, progress=lambda done, total: calls.append((done, total)))
    assert calls, "progress was never called"
    assert calls[-1][0] == calls[-1][1]


# --------------------------------------------------------------------------- parquet


def write_parquet(path: Path, columns: dict) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_basic(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", {"text": ["a", "b", "c"], "label": [1, 0, 1]})
    assert read(path) == [
        {"id": 0, "text": "a", "label": 1},
        {"id": 1, "text": "b", "label": 0},
        {"id": 2, "text": "c", "label": 1},
    ]


def test_parquet_fields_id_and_progress(tmp_path):
    n = 2500  # more than one 1,024-row batch
    path = write_parquet(
        tmp_path / "a.pq",
        {"doc": [f"d{i}" for i in range(n)], "q": [f"q{i}" for i in range(n)], "c": ["ctx"] * n},
    )
    calls = []
    records = read(
        path,
        fields={"question": "q", "context": "c"},
        id_column="doc",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert len(records) == n
    assert records[0] == {"id": "d0", "question": "q0", "context": "ctx"}
    assert records[-1]["id"] == f"d{n - 1}"
    dones = [d for d, _ in calls]
    assert dones == sorted(dones)
    assert all(total == n for _, total in calls)
    assert dones[-1] == n


def test_parquet_missing_column(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", {"review": ["a"], "stars": [5]})
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "no column 'text'", "'review'", "'stars'")


def test_parquet_null_text(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", {"text": ["a", None]})
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "empty")


def test_parquet_not_a_parquet_file(tmp_path):
    path = write(tmp_path, "a.parquet", "this is not parquet\n")
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "Parquet")


def test_parquet_from_stdin_is_usage_error(stdin):
    stdin(b"")
    with pytest.raises(UsageError):
        read("-", fmt="parquet")


# --------------------------------------------------------------------------- stdin


def test_stdin_txt(stdin):
    stdin(b"\xef\xbb\xbfone\r\n\r\ntwo\n")
    assert read("-") == [{"id": 0, "text": "one"}, {"id": 1, "text": "two"}]


def test_stdin_jsonl_progress_total_none(stdin):
    stdin(b'{"text": "a"}\n{"text": "b"}\n')
    calls = []
    assert read("-", fmt="jsonl", progress=lambda d, t: calls.append((d, t))) == [
        {"id": 0, "text": "a"},
        {"id": 1, "text": "b"},
    ]
    assert calls and all(t is None for _, t in calls)
    assert calls[-1][0] == len(b'{"text": "a"}\n{"text": "b"}\n')


def test_stdin_csv(stdin):
    stdin(b"id,text\nx,hello\n")
    assert read("-", fmt="csv") == [{"id": "x", "text": "hello"}]


def test_stdin_json(stdin):
    stdin(b'["a", "b"]')
    assert read("-", fmt="json") == [{"id": 0, "text": "a"}, {"id": 1, "text": "b"}]


def test_stdin_empty_names_stdin(stdin):
    stdin(b"\n\n")
    with pytest.raises(InputError) as excinfo:
        read("-")
    assert_input_error(excinfo, "<stdin>", "no records")


def test_stdin_bad_bytes_names_stdin_and_line(stdin):
    stdin(b"ok\nbad \xff byte\n")
    with pytest.raises(InputError) as excinfo:
        read("-")
    assert_input_error(excinfo, "<stdin>:2:", "0xff")


def test_stdin_bad_jsonl_names_stdin(stdin):
    stdin(b"{oops}\n")
    with pytest.raises(InputError) as excinfo:
        read("-", fmt="jsonl")
    assert_input_error(excinfo, "<stdin>:1:", "ill-formed JSON")


def test_stdin_is_not_closed(stdin):
    fake = stdin(b"a\n")
    read("-")
    assert not fake.buffer.closed


# --------------------------------------------------------------------------- progress and laziness


def test_progress_increasing_and_total_is_file_size(tmp_path):
    path = write(tmp_path, "a.txt", "".join(f"line {i}\n" for i in range(50)) + "\n\n")
    size = path.stat().st_size
    calls = []
    records = read(path, progress=lambda done, total: calls.append((done, total)))
    assert len(records) == 50
    dones = [d for d, _ in calls]
    assert all(b > a for a, b in pairwise(dones))
    assert all(total == size for _, total in calls)
    assert dones[-1] == size


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_progress_final_is_file_size_structured(tmp_path, fmt):
    if fmt == "csv":
        path = write(tmp_path, "a.csv", "text\n" + "".join(f"row {i}\n" for i in range(20)))
    else:
        path = write(tmp_path, "a.jsonl", "".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(20)))
    calls = []
    read(path, progress=lambda done, total: calls.append((done, total)))
    dones = [d for d, _ in calls]
    assert dones == sorted(dones)
    assert dones[-1] == calls[-1][1] == path.stat().st_size


@pytest.mark.parametrize(
    ("name", "header", "line"),
    [
        ("big.txt", "", "a line of text that is not very long\n"),
        ("big.csv", "text,label\n", "a line of text that is not very long,pos\n"),
        ("big.jsonl", "", '{"text": "a line of text that is not very long"}\n'),
    ],
)
def test_lazy_first_record_reads_little(tmp_path, name, header, line):
    path = tmp_path / name
    path.write_text(header + line * 200_000, encoding="utf-8")  # ~8-10 MB
    size = path.stat().st_size
    calls = []
    it = iter_records(path, progress=lambda done, total: calls.append((done, total)))
    first = next(it)
    assert first["id"] == 0
    assert first["text"] == "a line of text that is not very long"
    assert calls, "progress was not called before the first record"
    assert calls[-1][1] == size
    assert calls[-1][0] < size / 100
    it.close()


class EndlessText(io.RawIOBase):
    """A byte stream of ``limit`` bytes of short lines; counts what was read."""

    LINE = b"abcdefghi\n"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self.limit - self.served)
        if n <= 0:
            return 0
        offset = self.served % len(self.LINE)
        data = (self.LINE * (n // len(self.LINE) + 2))[offset : offset + n]
        b[:n] = data
        self.served += n
        return n


def test_lazy_on_stdin_stream(monkeypatch):
    raw = EndlessText(limit=50_000_000)
    monkeypatch.setattr(sys, "stdin", FakeStdin(raw))
    records = list(islice(iter_records("-"), 3))
    assert [r["text"] for r in records] == ["abcdefghi"] * 3
    assert raw.served < 1_000_000


# --------------------------------------------------------------------------- errors on files


def test_missing_file(tmp_path):
    path = tmp_path / "nope.txt"
    with pytest.raises(InputError) as excinfo:
        read(path)
    err = assert_input_error(excinfo, str(path), "no such file")
    assert err.path == str(path)
    assert err.line is None


def test_folder_is_error(tmp_path):
    with pytest.raises(InputError) as excinfo:
        read(tmp_path)
    assert_input_error(excinfo, str(tmp_path), "folder")


def test_non_utf8_names_line_and_byte_then_latin1_works(tmp_path):
    path = write(tmp_path, "a.txt", b"fine\nalso fine\ncaf\xe9 au lait\n")
    with pytest.raises(InputError) as excinfo:
        read(path)
    err = assert_input_error(excinfo, f"{path}:3:", "0xe9", "utf-8", "with encoding")
    assert err.params == ["encoding"]  # the CLI shows it as --encoding
    assert err.line == 3
    assert [r["text"] for r in read(path, encoding="latin-1")] == ["fine", "also fine", "café au lait"]


def test_non_utf8_in_csv(tmp_path):
    path = write(tmp_path, "a.csv", b"text\nna\xefve\n")
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, f"{path}:2:", "0xef")
    assert read(path, encoding="latin-1") == [{"id": 0, "text": "naïve"}]


def test_empty_file(tmp_path):
    path = write(tmp_path, "a.txt", b"")
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "no records")


@pytest.mark.parametrize(
    ("name", "data"),
    [("blank.txt", "\n  \n\r\n\t\n"), ("blank.jsonl", "\n  \n\r\n\t\n"), ("blank.csv", "\n\r\n\n")],
)
def test_only_blank_lines(tmp_path, name, data):
    path = write(tmp_path, name, data)
    with pytest.raises(InputError) as excinfo:
        read(path)
    assert_input_error(excinfo, str(path), "no records")


def test_over_long_text_default_limit(tmp_path):
    path = write(tmp_path, "big.txt", "short\n" + "x" * 1_000_000 + "\n")
    it = iter_records(path)
    assert next(it)["text"] == "short"
    with pytest.raises(InputError) as excinfo:
        next(it)
    err = assert_input_error(excinfo, f"{path}:2:", "1,000,000", "100,000", "with max_chars")
    assert err.params == ["max_chars"]  # the CLI shows it as --max-chars
    assert err.line == 2


def test_over_long_text_limit_lifted(tmp_path):
    path = write(tmp_path, "big.txt", "x" * 1_000_000 + "\n")
    records = read(path, max_chars=None)
    assert len(records[0]["text"]) == 1_000_000


def test_max_chars_custom_applies_to_every_field(tmp_path):
    path = write(tmp_path, "a.jsonl", json.dumps({"q": "short", "c": "y" * 50}) + "\n")
    assert read(path, fields={"question": "q", "context": "c"}, max_chars=50)
    with pytest.raises(InputError, match="over the limit of 49"):
        read(path, fields={"question": "q", "context": "c"}, max_chars=49)


def test_default_max_chars_value():
    assert DEFAULT_MAX_CHARS == 100_000


def test_count_chars_limit():
    count_chars_limit("abc", 3, path=None, line=None)
    count_chars_limit("x" * 10, None, path=None, line=None)
    with pytest.raises(InputError) as excinfo:
        count_chars_limit("abcd", 3, path="f.txt", line=7)
    assert str(excinfo.value).startswith("f.txt:7: ")


# --------------------------------------------------------------------------- records_from_texts


def test_records_from_texts_strings():
    assert list(records_from_texts(["a", "b"])) == [{"id": 0, "text": "a"}, {"id": 1, "text": "b"}]


def test_records_from_texts_single_string():
    assert list(records_from_texts("hello")) == [{"id": 0, "text": "hello"}]


def test_records_from_texts_custom_field():
    assert list(records_from_texts(["q?"], field="question")) == [{"id": 0, "question": "q?"}]


def test_records_from_texts_dicts_keep_or_get_id():
    out = list(records_from_texts([{"text": "a", "x": 1}, {"id": "k", "text": "b"}]))
    assert out == [{"id": 0, "text": "a", "x": 1}, {"id": "k", "text": "b"}]


def test_records_from_texts_is_lazy():
    def gen():
        yield "a"
        raise AssertionError("consumed too far")

    assert next(records_from_texts(gen())) == {"id": 0, "text": "a"}


def test_records_from_texts_empty():
    with pytest.raises(InputError) as excinfo:
        list(records_from_texts([]))
    assert_input_error(excinfo, "no texts")


def test_records_from_texts_dict_without_field():
    with pytest.raises(InputError) as excinfo:
        list(records_from_texts([{"body": "a"}]))
    assert_input_error(excinfo, "'text'")


def test_records_from_texts_bad_item_type():
    with pytest.raises(InputError) as excinfo:
        list(records_from_texts(["ok", 3]))
    assert_input_error(excinfo, "int")


def test_records_from_texts_max_chars():
    with pytest.raises(InputError, match="over the limit"):
        list(records_from_texts(["x" * (DEFAULT_MAX_CHARS + 1)]))
    assert next(iter(records_from_texts(["x" * 20], max_chars=None)))["text"] == "x" * 20
    with pytest.raises(InputError):
        list(records_from_texts([{"text": "x" * 5}], max_chars=4))


# --------------------------------------------------------------------------- read_text_file


def test_read_text_file_whole_text_bom_stripped(tmp_path):
    path = write(tmp_path, "ctx.txt", b"\xef\xbb\xbfline one\n\nline two\n")
    assert read_text_file(str(path)) == "line one\n\nline two\n"


def test_read_text_file_stdin(stdin):
    stdin(b"from stdin\n")
    assert read_text_file("-") == "from stdin\n"


def test_read_text_file_missing(tmp_path):
    path = tmp_path / "nope.txt"
    with pytest.raises(InputError) as excinfo:
        read_text_file(str(path))
    assert_input_error(excinfo, str(path), "no such file")


def test_read_text_file_bad_encoding_line_then_latin1(tmp_path):
    path = write(tmp_path, "ctx.txt", b"one\ntwo\nthr\xe9e\n")
    with pytest.raises(InputError) as excinfo:
        read_text_file(str(path))
    err = assert_input_error(excinfo, f"{path}:3:", "0xe9")
    assert err.line == 3
    assert read_text_file(str(path), encoding="latin-1") == "one\ntwo\nthrée\n"


@pytest.mark.parametrize("data", [b"", b"\n \n\t", b"\xef\xbb\xbf\n"])
def test_read_text_file_empty(tmp_path, data):
    path = write(tmp_path, "ctx.txt", data)
    with pytest.raises(InputError) as excinfo:
        read_text_file(str(path))
    assert_input_error(excinfo, str(path), "empty")


def test_read_text_file_max_chars(tmp_path):
    path = write(tmp_path, "ctx.txt", "y" * 200_000)
    with pytest.raises(InputError) as excinfo:
        read_text_file(str(path))
    assert_input_error(excinfo, str(path), "over the limit")
    assert len(read_text_file(str(path), max_chars=None)) == 200_000


def test_read_text_file_folder_is_input_error(tmp_path):
    with pytest.raises(InputError) as excinfo:
        read_text_file(str(tmp_path))
    assert_input_error(excinfo, str(tmp_path))


@pytest.mark.parametrize("name", ["big.csv", "big.tsv"])
def test_csv_long_field_allowed_when_limit_lifted(tmp_path, name):
    sep = "\t" if name.endswith("tsv") else ","
    path = write(tmp_path, name, f"text{sep}label\n" + "x" * 200_000 + f"{sep}pos\n")
    records = read(path, max_chars=None)
    assert len(records[0]["text"]) == 200_000
