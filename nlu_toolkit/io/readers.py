"""Lazy record readers for txt, CSV/TSV, JSONL, JSON and Parquet files and stdin.

Every reader yields records ``{"id", <field>: ..., **passthrough}`` one at a time,
so memory does not grow with the file. Readers are the one place that handles
encodings, BOMs, blank lines and malformed rows: a bad row raises `InputError`
naming the file, the line and what to do.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from nlu_toolkit.errors import InputError, UsageError

FORMATS = ("txt", "csv", "tsv", "jsonl", "json", "parquet")
#: File suffix -> the format the readers read it as.
EXTENSIONS = {
    ".txt": "txt",
    ".text": "txt",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}

#: Texts longer than this many characters are refused by default. A 1 MB
#: "text" is almost always a whole file read by mistake; window pooling would
#: still process it, but slowly and to little use.
DEFAULT_MAX_CHARS = 100_000

#: ``progress(done, total)`` is called as input is consumed; units are bytes for
#: line-based files and rows for Parquet. ``total`` is None for stdin.
Progress = Callable[[int, int | None], None]


def detect_format(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """Return the input format: ``fmt`` if given, else the one the file extension names."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown input format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
        return fmt
    if str(path) == "-":
        return "txt"
    return EXTENSIONS.get(Path(path).suffix.lower(), "txt")


def check_text(
    text: str,
    max_chars: int | None,
    *,
    path: str | None = None,
    line: int | None = None,
    what: str = "text",
) -> None:
    """The one check every text passes at the boundary: length and valid Unicode.

    Raises `InputError` when ``text`` is longer than ``max_chars`` or holds a lone
    surrogate (``"\\ud800"`` from a JSON escape, or an undecodable byte that Python's
    ``surrogateescape`` smuggled in from a command-line argument): such a string cannot
    be encoded, tokenized or written back, so it is refused where it enters, with its place.
    ``what`` names the text in the message (``"label"``, ``"question"``, ...).
    """
    if max_chars is not None and len(text) > max_chars:
        raise InputError(
            f"{what} is {len(text):,} characters, over the limit of {max_chars:,}",
            "split the document into smaller texts, or raise the limit with {=max_chars}",
            path=path,
            line=line,
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InputError(
                f"{what} holds an invalid character U+{ord(text[e.start]):04X} at position {e.start + 1} "
                "(a lone surrogate: not valid Unicode)",
                "remove it or re-encode the text as UTF-8",
                path=path,
                line=line,
            ) from None


#: The earlier name of `check_text`, kept for callers outside the package.
count_chars_limit = check_text


class CheckedRecord(dict):  # type: ignore[type-arg]
    """A record whose text already passed `check_text` with the reader's ``max_chars`` (the user's limit).

    Readers yield these, so a task given them does not check again with its own default and
    refuse what the user allowed (``--max-chars 200000``). ``checked`` names the fields checked.
    """

    checked: frozenset[str] = frozenset()

    @classmethod
    def of(cls, record: dict[str, Any], fields: Iterable[str]) -> CheckedRecord:
        made = cls(record)
        made.checked = frozenset(fields)
        return made


def records_from_texts(
    texts: Iterable[str] | str,
    *,
    field: str = "text",
    max_chars: int | None = DEFAULT_MAX_CHARS,
    id_start: int = 0,
) -> Iterator[dict[str, Any]]:
    """Yield ``{"id": id_start + i, field: text}`` records for plain strings; dicts pass through.

    A dict must hold ``field``; it gets an ``id`` (its position, from ``id_start``) when it has none.
    """
    if isinstance(texts, str):
        texts = [texts]
    n = 0
    for i, item in enumerate(texts):
        if isinstance(item, Mapping):
            if not isinstance(item.get(field), str):
                raise InputError(f"record {i} has no string {field!r}", f"give each record a {field!r} string")
            if isinstance(item, CheckedRecord) and field in item.checked and "id" in item:
                n += 1
                yield item  # checked once, where it was read, with the caller's limit
                continue
            record = {"id": item.get("id", id_start + i), **{k: v for k, v in item.items() if k != "id"}}
        elif isinstance(item, str):
            record = {"id": id_start + i, field: item}
        else:
            raise InputError(
                f"item {i} is a {type(item).__name__}, not a string",
                "pass strings or dicts with a text field",
            )
        check_text(str(record[field]), max_chars, what=f"text {i}")
        n += 1
        yield CheckedRecord.of(record, [field])
    if n == 0:
        raise InputError("no texts given", "pass at least one text")


def iter_records(
    source: str | os.PathLike[str],
    *,
    fields: Mapping[str, str] | None = None,
    id_column: str | None = None,
    fmt: str | None = None,
    encoding: str = "utf-8",
    max_chars: int | None = DEFAULT_MAX_CHARS,
    progress: Progress | None = None,
    id_start: int = 0,
) -> Iterator[dict[str, Any]]:
    """Yield records from a file, or from stdin when ``source`` is ``"-"``.

    Args:
        source: a path, or ``"-"`` for standard input.
        fields: maps record keys to column names, e.g. ``{"text": "review"}`` or
            ``{"question": "q", "context": "passage"}``. A txt file fills the first key.
        id_column: column holding record ids; by default an ``id`` column if the
            file has one, else 0, 1, 2, ...
        fmt: one of `FORMATS`; by default taken from the extension (stdin: txt).
        encoding: text encoding of line-based files.
        max_chars: refuse texts longer than this (None: no limit).
        progress: called with (done, total) as the input is consumed.
        id_start: first generated id (rows without an id column are numbered from it).

    Raises:
        InputError: the file is missing, unreadable, ill-formed, lacks a column,
            holds bytes that are not ``encoding``, holds an over-long text or holds
            no record at all.
    """
    fields = dict(fields or {"text": "text"})
    path = str(source)
    fmt = detect_format(path, fmt)
    try:
        codecs.lookup(encoding)
    except LookupError as e:
        raise UsageError(
            f"unknown encoding {encoding!r}", "set {=encoding} to a known codec, e.g. utf-8 or latin-1"
        ) from e
    if path != "-":
        p = Path(path)
        if not p.exists():
            raise InputError("no such file", "check the path, or use '-' to read stdin", path=path)
        if p.is_dir():
            raise InputError("is a folder, not a file", "give the path of a file", path=path)

    if fmt == "parquet":
        rows = _parquet_rows(path, progress)
    elif fmt == "json":
        rows = _json_rows(path, encoding, progress)
    else:
        rows = _line_rows(path, fmt, encoding, progress)
    # The checks above run now, before a caller loads a model; the rows are read lazily.
    return _records(rows, fields, id_column, path, max_chars, id_start)


def _records(
    rows: Iterator[tuple[int | None, str | dict[str, Any]]],
    fields: dict[str, str],
    id_column: str | None,
    path: str,
    max_chars: int | None,
    id_start: int,
) -> Iterator[dict[str, Any]]:
    n = 0
    first_key = next(iter(fields))
    for line, row in rows:
        if isinstance(row, str):  # txt: the whole line is the first field
            record: dict[str, Any] = {"id": id_start + n, first_key: row}
        else:
            record = _select(row, fields, id_column, id_start + n, path, line)
        for key in fields:
            check_text(record[key], max_chars, path=path, line=line)
        n += 1
        yield CheckedRecord.of(record, fields)
    if n == 0:
        raise InputError(
            "holds no records (it is empty or has only blank lines)",
            "give a file with at least one text",
            path="<stdin>" if path == "-" else path,
        )


def _select(
    row: Mapping[str, Any],
    fields: Mapping[str, str],
    id_column: str | None,
    index: int,
    path: str,
    line: int | None,
) -> dict[str, Any]:
    """Map a raw row to a record: rename the used columns, pass the others through."""
    record: dict[str, Any] = {}
    if id_column is not None and id_column not in row:
        raise _missing_column(id_column, row, path, line, "{=id_column}")
    # Without id_column, a column literally named "id" is the id; else the row number.
    id_key = id_column if id_column is not None else ("id" if "id" in row else None)
    record["id"] = row[id_key] if id_key is not None else index
    used = {id_key} if id_key else set()
    for key, column in fields.items():
        if column not in row:
            raise _missing_column(column, row, path, line, _column_param(key))
        value = row[column]
        if value is None:
            raise InputError(
                f"column {column!r} is empty in this row",
                "fill it in or drop the row",
                path=path,
                line=line,
            )
        record[key] = value if isinstance(value, str) else str(value)
        used.add(column)
    for column, value in row.items():
        if column not in used and column not in record:
            record[column] = value
    return record


def _column_param(key: str) -> str:
    """How a hint names the column of record key ``key`` (``fields[key]``): ``{=text_column}``, as the
    CLI's options and the train/search keywords name it; a key that is no identifier is quoted instead."""
    return f"{{={key}_column}}" if key.isidentifier() else f"fields[{key!r}]"


def _missing_column(column: str, row: Mapping[str, Any], path: str, line: int | None, option: str) -> InputError:
    have = ", ".join(repr(c) for c in row) or "none"
    return InputError(
        f"no column {column!r} (columns: {have})",
        f"name the right column with {option}",
        path=path,
        line=line,
    )


def _open_binary(path: str) -> tuple[BinaryIO, int | None]:
    if path == "-":
        return sys.stdin.buffer, None
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the caller's finally
    except OSError as e:
        raise InputError(f"cannot open: {e.strerror}", "check the path and its permissions", path=path) from e
    return f, os.fstat(f.fileno()).st_size


def _decoded_lines(
    f: BinaryIO, path: str, encoding: str, total: int | None, progress: Progress | None
) -> Iterator[tuple[int, str]]:
    """Yield (line number, decoded line) from a binary stream, reporting bytes read."""
    done = 0
    label = "<stdin>" if path == "-" else path
    for lineno, raw in enumerate(f, 1):
        done += len(raw)
        if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as e:
            raise InputError(
                f"byte 0x{raw[e.start]:02x} at column {e.start + 1} is not valid {encoding}",
                "re-save the file as UTF-8, or name its encoding with {=encoding} (e.g. latin-1)",
                path=label,
                line=lineno,
            ) from e
        if progress is not None:
            progress(done, total)
        yield lineno, text


def _line_rows(
    path: str, fmt: str, encoding: str, progress: Progress | None
) -> Iterator[tuple[int, str | dict[str, Any]]]:
    f, total = _open_binary(path)
    label = "<stdin>" if path == "-" else path
    try:
        lines = _decoded_lines(f, path, encoding, total, progress)
        if fmt == "txt":
            for lineno, text in lines:
                text = text.rstrip("\r\n")
                if text.strip():
                    yield lineno, text
        elif fmt == "jsonl":
            for lineno, text in lines:
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as e:
                    raise InputError(
                        f"ill-formed JSON: {e.msg} at column {e.colno}",
                        "fix the line; each line of a .jsonl file must be one JSON object",
                        path=label,
                        line=lineno,
                    ) from e
                except RecursionError:  # "[[[[..." nested beyond the interpreter's stack
                    raise InputError(_TOO_DEEP, _TOO_DEEP_HINT, path=label, line=lineno) from None
                if not isinstance(row, dict):
                    raise InputError(
                        f"a JSON {type(row).__name__} where an object was expected",
                        'write one object per line, e.g. {"text": "..."}',
                        path=label,
                        line=lineno,
                    )
                yield lineno, row
        else:
            yield from _csv_rows(lines, label, "\t" if fmt == "tsv" else ",")
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def _csv_rows(lines: Iterator[tuple[int, str]], label: str, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    current = [0]

    def feed() -> Iterator[str]:
        for lineno, text in lines:
            current[0] = lineno
            yield text

    # Lengths are policed by max_chars, not by the csv module's 128 KiB field cap.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(feed(), delimiter=delimiter, strict=True)
    kind = "TSV" if delimiter == "\t" else "CSV"
    try:
        header = next(reader, None)
        while header is not None and not header:
            header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise InputError(
                    f"row has {len(row)} fields but the header has {len(header)}",
                    f"fix the row (quote fields that contain the delimiter), or check it is a {kind} file",
                    path=label,
                    line=current[0],
                )
            yield current[0], dict(zip(header, row, strict=True))
    except csv.Error as e:
        raise InputError(
            f"ill-formed {kind}: {e}",
            "fix the quoting on that line, or pass {=input_format} if it is not " + kind,
            path=label,
            line=current[0],
        ) from e


_TOO_DEEP = "JSON nested too deeply to read"
_TOO_DEEP_HINT = 'records are flat objects, e.g. {"text": "..."}'


def _json_rows(
    path: str, encoding: str, progress: Progress | None
) -> Iterator[tuple[int | None, str | dict[str, Any]]]:
    """A .json file is one array, so it is read whole; use JSONL for big inputs."""
    label = "<stdin>" if path == "-" else path
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        data = json.loads(raw.decode(encoding).lstrip("\ufeff"))
    except UnicodeDecodeError as e:
        raise InputError(
            f"not valid {encoding}", "re-save the file as UTF-8, or name its encoding with {=encoding}", path=label
        ) from e
    except json.JSONDecodeError as e:
        raise InputError(f"ill-formed JSON: {e.msg}", "fix the file, or use JSONL", path=label, line=e.lineno) from e
    except RecursionError:
        raise InputError(_TOO_DEEP, _TOO_DEEP_HINT, path=label) from None
    if progress is not None:
        progress(len(raw), len(raw))
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InputError("a .json file must hold an array of objects or strings", "use JSONL", path=label)
    for item in data:
        if not isinstance(item, (dict, str)):
            raise InputError(f"array item is a {type(item).__name__}", "use objects or strings", path=label)
        yield None, item


def _parquet_rows(path: str, progress: Progress | None) -> Iterator[tuple[int, dict[str, Any]]]:
    if path == "-":
        raise UsageError("Parquet cannot be read from stdin", "give the path of the Parquet file instead of '-'")
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a non-Parquet file
        raise InputError(f"not a readable Parquet file ({e})", "check the file", path=path) from e
    total = pf.metadata.num_rows
    done = 0
    for batch in pf.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            done += 1
            yield done, row
        if progress is not None:
            progress(done, total)


def read_text_file(path: str, *, encoding: str = "utf-8", max_chars: int | None = DEFAULT_MAX_CHARS) -> str:
    """Read a whole file as one text (e.g. a QA context), with the same checks as the readers."""
    label = "<stdin>" if path == "-" else path
    if path != "-" and not Path(path).is_file():
        raise InputError("no such file", "check the path", path=path)
    raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        text = raw.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(
            f"byte 0x{raw[e.start]:02x} is not valid {encoding}",
            "re-save the file as UTF-8, or name its encoding with {=encoding}",
            path=label,
            line=line,
        ) from e
    if not text.strip():
        raise InputError("is empty", "give a file with text in it", path=label)
    check_text(text, max_chars, path=label)
    return text


__all__ = [
    "DEFAULT_MAX_CHARS",
    "FORMATS",
    "check_text",
    "count_chars_limit",
    "detect_format",
    "iter_records",
    "read_text_file",
    "records_from_texts",
]
