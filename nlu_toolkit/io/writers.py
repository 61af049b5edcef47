"""Streaming writers for json, jsonl and csv, and atomic file output.

Files are written to a temporary file beside the target and renamed into place
only on success, so a failed run never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import math
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from nlu_toolkit.errors import UsageError
from nlu_toolkit.io.guard import check_output_file, output_error
from nlu_toolkit.records import with_fields

OUTPUT_FORMATS = ("table", "json", "jsonl", "csv")
_BY_SUFFIX = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


def format_for_output(output: str | None, fmt: str | None, *, isatty: bool) -> str:
    """Pick the output format: explicit, else from the output file's suffix, else table/jsonl by terminal."""
    if fmt is not None:
        if fmt not in OUTPUT_FORMATS:
            raise UsageError(f"unknown output format {fmt!r}", f"use one of: {', '.join(OUTPUT_FORMATS)}")
        if fmt == "table" and output not in (None, "-"):
            raise UsageError("{=fmt} table writes to the terminal only", "use json, jsonl or csv with {=output}")
        return fmt
    if output not in (None, "-"):
        return _BY_SUFFIX.get(Path(output).suffix.lower(), "jsonl")
    return "table" if isatty else "jsonl"


#: errno values that mean the disk (or the user's quota) filled up, whoever's write hit them.
_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


def disk_full(e: BaseException) -> OSError | None:
    """``e`` as a full-disk error (errno ENOSPC) when it is one, else None; the one place that tells.

    numpy's ``np.save`` reports a short write as an OSError with no errno; safetensors raises its
    own ``SafetensorError`` ("No space left on device", "StorageFull") and ``torch.save`` a
    ``RuntimeError`` ("file write failed").
    """
    if isinstance(e, OSError):
        if e.errno in _FULL:
            return e
        if e.errno is None and "requested and" in str(e) and "written" in str(e):
            return OSError(errno.ENOSPC, str(e))
        return None
    text = str(e)
    if type(e).__name__ in ("SafetensorError", "RuntimeError") and (
        "No space left" in text or "StorageFull" in text or "file write failed" in text
    ):
        return OSError(errno.ENOSPC, text)
    return None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; rename it to ``path`` only if the block succeeds.

    The place is checked first (`check_output_file`: not a folder, parent exists and is
    writable). A failed write (permission denied, full disk, any other ``OSError`` of the
    file itself) raises `OutputError`; on any exception, ``KeyboardInterrupt`` and the
    CLI's SIGTERM exception included, the temp file is removed and ``path`` is untouched.
    """
    # The command checked the user's path (inside a model folder included); this writer also serves the
    # artefacts' own files (a fine-tune's metrics.json), so only the place itself is checked here.
    check_output_file(path, in_artefact=True)
    # Write to the real file: a symlink stays a link and points at the new content.
    target = Path(os.path.realpath(os.path.abspath(os.fspath(path))))
    try:
        st = target.stat()
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        # A device, FIFO or socket (/dev/null, /dev/stdout) is written straight through, never replaced.
        try:
            f = open(target, mode, **open_kwargs)  # noqa: SIM115
        except OSError as e:
            raise output_error(e, path) from e
        with f:
            yield f
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise output_error(e, target) from e
    try:
        # mkstemp makes the file 0600; give the result the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~umask)
        try:
            with os.fdopen(fd, mode, **open_kwargs) as f:
                yield f
        except OSError as e:
            # Out of space is the output's fault whoever hit it; other errors of the body may be the input's.
            if (full := disk_full(e)) is not None:
                raise output_error(full, target) from e
            raise
        try:
            os.replace(tmp, target)
        except OSError as e:
            raise output_error(e, target) from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staged_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temp folder beside ``target``, renamed to ``target`` when the block succeeds, removed if it fails.

    For caches that several processes may fill at once: if ``target`` appeared meanwhile
    (another process finished first), theirs is kept and ours is dropped. ``OSError``
    creating or renaming the folder, or a full disk in the block, raises `OutputError`.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as e:
        raise output_error(e, target) from e
    try:
        try:
            yield tmp
        except OSError as e:
            if (full := disk_full(e)) is not None:
                raise output_error(full, target) from e
            raise
        if not target.exists():
            try:
                os.replace(tmp, target)
            except OSError as e:
                if not target.exists():  # not a lost race with another process
                    raise output_error(e, target) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _jsonable(value: Any) -> Any:
    # numpy scalars and arrays sneak in from models; json cannot write them.
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _finite(value: Any) -> Any:
    # NaN/Infinity are not JSON: write them as null.
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    return value


def dumps(record: Any) -> str:
    """Strict JSON: non-finite floats become null."""
    try:
        return json.dumps(record, ensure_ascii=False, default=_jsonable, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(record), ensure_ascii=False, default=_jsonable, allow_nan=False)


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict, tuple)) or getattr(value, "ndim", 0) > 0:
        return dumps(value)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""  # as JSON's null: a CSV reader would take "nan" or "inf" for a number
    return value


def _write(records: Iterable[dict[str, Any]], fmt: str, f: IO[str]) -> int:
    n = 0
    if fmt == "jsonl":
        for record in records:
            f.write(dumps(record) + "\n")
            n += 1
    elif fmt == "json":
        # "[" is written with the first record, so an input error found before any
        # record leaves stdout empty rather than holding half an array.
        for record in records:
            f.write(("[\n" if n == 0 else ",\n") + dumps(record))
            n += 1
        f.write("\n]\n" if n else "[]\n")
    elif fmt == "csv":
        writer: csv.DictWriter[str] | None = None
        for record in records:
            if writer is None:
                writer = csv.DictWriter(f, fieldnames=list(record), extrasaction="ignore", restval="")
                writer.writeheader()
            writer.writerow({k: _cell(v) for k, v in record.items()})
            n += 1
    else:
        raise UsageError(f"cannot stream format {fmt!r}", "use json, jsonl or csv")
    return n


def write_records(records: Iterable[dict[str, Any]], fmt: str, output: str | None = None) -> int:
    """Stream ``records`` as ``fmt`` to ``output`` (atomically) or stdout; return the count."""
    if output in (None, "-"):
        n = _write(records, fmt, sys.stdout)
        sys.stdout.flush()
        return n
    with atomic_output(output, "w", encoding="utf-8", newline="" if fmt == "csv" else None) as f:
        return _write(records, fmt, f)


EMBEDDING_FORMATS = ("npy", "parquet", "jsonl", "json", "csv")


def embedding_format(output: str | None, fmt: str | None) -> str:
    """The format of embedding output: explicit, else the file's suffix (.npy/.parquet/.jsonl), else jsonl."""
    if fmt is not None:
        if fmt not in EMBEDDING_FORMATS and fmt != "table":
            raise UsageError(f"unknown embedding format {fmt!r}", f"use one of: {', '.join(EMBEDDING_FORMATS)}")
        return fmt
    if output not in (None, "-"):
        suffix = Path(output).suffix.lower()
        chosen = {".npy": "npy", ".parquet": "parquet", ".pq": "parquet", "": "jsonl"}.get(
            suffix, _BY_SUFFIX.get(suffix)
        )
        if chosen is None:  # e.g. .npz or .pt: writing JSONL under that name would mislead every reader
            raise UsageError(
                f"cannot tell the embedding format from the suffix {suffix!r} of output",
                "name the file .npy, .parquet, .jsonl, .json or .csv, or give the format ({=fmt})",
            )
        return chosen
    return "jsonl"


def write_embeddings(records: list[dict[str, Any]], vectors: Any, fmt: str, output: str | None = None) -> int:
    """Write vectors with their records: ``npy`` (the matrix, input order), ``parquet``
    (``id``, ``embedding``, passthrough columns) or records ``{"id", "embedding", ...}``.
    """
    import numpy as np

    if fmt in ("npy", "parquet") and output in (None, "-"):
        raise UsageError(f"{fmt} output needs a file", f"pass {{=output}} FILE.{fmt}")
    if fmt == "npy":
        with atomic_output(output, "wb") as f:  # type: ignore[arg-type]
            np.save(f, np.asarray(vectors))
        return len(records)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(
            [with_fields(r, embedding=v) for r, v in zip(records, np.asarray(vectors).tolist(), strict=True)]
        )
        with atomic_output(output, "wb") as f:  # type: ignore[arg-type]
            pq.write_table(table, f)
        return len(records)
    rows = (with_fields(r, embedding=v) for r, v in zip(records, np.asarray(vectors).tolist(), strict=True))
    return write_records(rows, fmt, output)
