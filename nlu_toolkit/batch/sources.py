"""A job's input files, and how a worker reads one into rows with the single-process readers' checks.

Inputs are Parquet or JSONL files: a file, a folder of them (searched recursively), a glob, or a URI
that pyarrow's filesystems read (``s3://``, ``gs://``, ``file://``). A worker reads a file with
`io.readers.iter_records`, so ids, passthrough columns and the checks of every text (a missing text
column, an empty or over-long text, named by file and row) are those of ``nlu embed --input FILE``.
"""

from __future__ import annotations

import fnmatch
import os
import pickle
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlu_toolkit.engine.batching import WINDOW
from nlu_toolkit.errors import InputError, UsageError

#: Input suffixes a job reads, and their format.
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: Rows per block a reader hands on: the single process's window (it sorts each window by length into
#: batches), so the actors' forward passes see the same batches and give the same numbers.
CHUNK = WINDOW
#: The helper columns of a read row: input file number, row number in it, the file's row count (on
#: the rows of its last block only, else -1), the whole record (pickled: ids and passthrough values
#: of any type travel unchanged), and the text.
FILE, ROW, TOTAL, RECORD, TEXT = "_nlu_file", "_nlu_row", "_nlu_total", "_nlu_record", "text"


@dataclass(frozen=True)
class InputFile:
    """One input file: how the user named it, where pyarrow finds it, its size and mtime, its format."""

    uri: str
    path: str
    size: int
    mtime: float
    fmt: str
    output: str  # the name of its output file in a Parquet folder output

    def signature(self) -> dict[str, Any]:
        return {"size": self.size, "mtime": self.mtime}


def is_uri(text: str) -> bool:
    return "://" in text


def filesystem(location: str) -> tuple[Any, str]:
    """``(pyarrow FileSystem, path in it)`` for a local path or a URI."""
    import pyarrow.fs as pafs

    if not is_uri(location):
        return pafs.LocalFileSystem(), str(Path(location).expanduser().absolute())
    try:
        return pafs.FileSystem.from_uri(location)
    except (ValueError, OSError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"cannot open {location} ({e})", "check the URI and the storage credentials") from e


def find_inputs(inputs: str | Sequence[str]) -> list[InputFile]:
    """The input files ``inputs`` names (files, folders, globs, URIs), sorted, each once.

    Raises:
        InputError: a path that does not exist, a file that is neither Parquet nor JSONL, no file found.
    """
    import pyarrow.fs as pafs

    given = [inputs] if isinstance(inputs, str) else list(inputs)
    if not given:
        raise UsageError("no {=inputs} given", "give a Parquet or JSONL file, a folder or a glob of them")
    found: dict[str, tuple[str, Any, str]] = {}
    for location in given:
        fs, path = filesystem(location)
        prefix = location[: location.index("://") + 3] if is_uri(location) else ""
        if any(c in path for c in "*?["):
            parent = path[: path.rfind("/", 0, min(path.find(c) for c in "*?[" if c in path))] or "/"
            infos = fs.get_file_info(pafs.FileSelector(parent, recursive=True, allow_not_found=True))
            matched = [i for i in infos if i.type == pafs.FileType.File and fnmatch.fnmatch(i.path, path)]
            files = [(i, _shown(location, prefix, path, i.path)) for i in matched if _fmt(i.path)]
        else:
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.NotFound:
                raise InputError("no such file or folder", "check the path", path=location)
            if info.type == pafs.FileType.Directory:
                infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
                files = [
                    (i, _shown(location, prefix, path, i.path))
                    for i in infos
                    if i.type == pafs.FileType.File and _fmt(i.path) and not _hidden(i.path, path)
                ]
            else:
                if _fmt(path) is None:
                    raise InputError(
                        "is neither Parquet nor JSONL",
                        "give .parquet or .jsonl files to a distributed job",
                        path=location,
                    )
                files = [(info, location)]
        for info, shown in files:
            found.setdefault(shown, (info.path, info, shown))
    if not found:
        raise InputError(f"no Parquet or JSONL file in {', '.join(given)}", "check the folder or the glob")
    ordered = sorted(found.values(), key=lambda item: item[2])
    names = output_names([shown for _, _, shown in ordered])
    return [
        InputFile(
            uri=shown,
            path=path,
            size=int(info.size or 0),
            mtime=float(info.mtime.timestamp()) if info.mtime is not None else 0.0,
            fmt=_fmt(path) or "jsonl",
            output=name,
        )
        for (path, info, shown), name in zip(ordered, names, strict=True)
    ]


def check_apart(inputs: str | Sequence[str], output: str) -> None:
    """Refuse an output that is an input or lies inside an input folder (its files would be read as
    inputs by the next run), or an input folder inside the output."""
    from nlu_toolkit.errors import OutputError

    out_fs, out = filesystem(output)
    for location in [inputs] if isinstance(inputs, str) else list(inputs):
        in_fs, path = filesystem(location)
        if type(in_fs) is not type(out_fs):
            continue
        base = path[: min((path.find(c) for c in "*?[" if c in path), default=len(path))].rstrip("/")
        if out == base or out.startswith(base + "/") or base.startswith(out.rstrip("/") + "/"):
            raise OutputError(
                f"{{=output}} is or lies inside the input {location} (or holds it): a job's outputs must not "
                "be read as its inputs",
                "write the output to a folder outside the inputs",
                path=output,
            )


def _fmt(path: str) -> str | None:
    return SUFFIXES.get(Path(path).suffix.lower())


def _hidden(path: str, root: str) -> bool:
    return any(part.startswith((".", "_")) for part in Path(os.path.relpath(path, root)).parts)


def _shown(location: str, prefix: str, base: str, path: str) -> str:
    """How a found file is named to the user: beside the folder or glob as they spelt it."""
    if prefix:  # s3:// + bucket/key, file:// + /abs/path
        return prefix + path
    if not os.path.isabs(location) and not location.startswith("~"):
        return os.path.relpath(path)
    return path


def output_names(shown: Sequence[str]) -> list[str]:
    """A Parquet output name per input (``part-1.jsonl`` -> ``part-1.parquet``), unique: inputs of one
    name in several folders keep their folders in the name (``a__part-1.parquet``)."""
    stems = [Path(s.split("://", 1)[-1]).with_suffix("").as_posix() for s in shown]
    common = os.path.commonpath(stems) if len(stems) > 1 else str(Path(stems[0]).parent)
    names = []
    for stem in stems:
        rel = os.path.relpath(stem, common) if common not in ("", ".") else stem
        names.append(rel.replace("/", "__").lstrip("._") + ".parquet")
    if len(set(names)) != len(names):
        names = [f"{i:05d}-{n}" for i, n in enumerate(names)]
    return names


# -- on a worker --------------------------------------------------------------------------------


def read_rows(item: dict[str, Any], reading: dict[str, Any]) -> Iterator[Any]:
    """Pyarrow tables of ``CHUNK`` rows (the helper columns above) of one input file (a worker's job).

    ``reading``: `iter_records`' keywords (fields, id_column, encoding, max_chars). A bad record raises
    `InputError` naming the input as the user gave it, and the row (Parquet) or line (JSONL).
    """
    import pyarrow as pa

    from nlu_toolkit.io.readers import iter_records

    local, cleanup = _local_copy(item["uri"], item["path"])
    try:
        rows: list[dict[str, Any]] = []
        n = 0
        pending = None
        try:
            records = iter_records(local, fmt=item["fmt"], **reading)
            for record in records:
                rows.append(
                    {FILE: item["index"], ROW: n, TOTAL: -1, TEXT: record["text"],
                     RECORD: pickle.dumps(dict(record), protocol=5)}
                )  # fmt: skip
                n += 1
                if len(rows) == CHUNK:
                    if pending is not None:
                        yield pa.Table.from_pylist(pending, schema=_schema())
                    pending, rows = rows, []
        except InputError as e:
            raise _renamed(e, local, item["uri"]) from None
        last = rows or pending or []
        if rows and pending is not None:
            yield pa.Table.from_pylist(pending, schema=_schema())
        for row in last:
            row[TOTAL] = n
        yield pa.Table.from_pylist(last, schema=_schema())
    finally:
        cleanup()


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([(FILE, pa.int64()), (ROW, pa.int64()), (TOTAL, pa.int64()), (TEXT, pa.string()),
                      (RECORD, pa.binary())])  # fmt: skip


def _renamed(error: InputError, local: str, uri: str) -> InputError:
    """``error`` naming the input as the user gave it (not a worker's local copy or absolute path)."""
    if error.path in (None, uri):
        return error
    where = f"{error.path}:{error.line}: " if error.line is not None else f"{error.path}: "
    message = error.template[len(where) :] if error.template.startswith(where) else error.template
    return InputError(message, error.hint_template, path=uri, line=error.line)


def _local_copy(uri: str, path: str) -> tuple[str, Any]:
    """A local file holding the input: the file itself, or a temporary copy of a remote object."""
    if not is_uri(uri) or uri.startswith("file://"):
        return path, lambda: None
    fs, remote = filesystem(uri)
    handle, name = tempfile.mkstemp(suffix=Path(remote).suffix)
    try:
        with os.fdopen(handle, "wb") as out, fs.open_input_stream(remote) as source:
            while block := source.read(1 << 22):
                out.write(block)
    except Exception:
        os.unlink(name)
        raise
    return name, lambda: os.unlink(name)
