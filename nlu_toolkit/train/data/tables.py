"""Reading data files: tables (CSV, TSV, JSONL, JSON, Parquet) through ``datasets``, and the file,
column and text helpers every loader shares. ``datasets`` is imported only inside functions."""

from __future__ import annotations

import contextlib
import csv
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlu_toolkit.errors import MissingExtra, TrainingDataError
from nlu_toolkit.io.readers import EXTENSIONS
from nlu_toolkit.models.quiet import quiet_datasets

if TYPE_CHECKING:
    import datasets

#: The table formats the readers know (every suffix but plain text).
_EXTENSIONS = {suffix: fmt for suffix, fmt in EXTENSIONS.items() if fmt != "txt"}
_TABLE_HINT = "use a .csv, .tsv, .jsonl, .json or .parquet file"

#: Columns tried, in order, when the default ``text`` column is absent (GLUE's SST-2 uses ``sentence``).
TEXT_FALLBACKS = ("sentence", "review", "content", "document")

_MAX_LISTED = 10


@dataclass
class _Columns:
    """The column options of `load_task_data` / `load_eval_data`."""

    text: str = "text"
    text_pair: str | None = None
    label: str = "label"


@dataclass
class _Part:
    """One file, read: rows in the task schema, the label names used, and what the model card says of it."""

    ds: datasets.Dataset
    labels: list[str]
    info: dict[str, Any]


def _check_file(path: str | Path) -> Path:
    file = Path(path).expanduser()
    if not file.exists():
        raise TrainingDataError(f"{file}: no such file", "check the path")
    if file.is_dir():
        raise TrainingDataError(f"{file} is a folder, not a data file", "give the path of one file")
    if file.stat().st_size == 0:
        raise TrainingDataError(f"{file} has no rows (the file is empty)", "give a file with training examples")
    return file


def _table_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        raise TrainingDataError(f"{path}: unsupported file type {path.suffix or '(no extension)'!r}", _TABLE_HINT)
    return fmt


def _listing(items: Sequence[Any]) -> str:
    shown = ", ".join(repr(item) if isinstance(item, str) else str(item) for item in items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as e:  # a dependency, but a broken install should still say what to do
        raise MissingExtra(
            "training and evaluation need the package 'datasets'", "install it with: pip install datasets"
        ) from e
    return datasets


@contextlib.contextmanager
def _quiet() -> Iterator[Any]:
    """Silence datasets' progress bars and error logs: problems surface as our own errors instead."""
    datasets = _datasets()
    with quiet_datasets(datasets.logging.CRITICAL):
        yield datasets


def _read_table(path: Path, fmt: str) -> datasets.Dataset:
    """Load a CSV/TSV/JSONL/JSON/Parquet file as one ``datasets`` split."""
    if fmt in ("csv", "tsv"):
        # Only empty cells are missing values: pandas would otherwise turn texts such as "NA" or
        # "null" into nulls. TSV has no quoting (GLUE and STS files hold bare quote characters).
        builder = "csv"
        kwargs: dict[str, Any] = {"keep_default_na": False, "na_values": [""], "encoding": "utf-8-sig"}
        if fmt == "tsv":
            kwargs.update(delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        builder, kwargs = ("json" if fmt == "jsonl" else fmt), {}
    with _quiet() as datasets:
        try:
            ds = datasets.load_dataset(builder, data_files=str(path), split="train", **kwargs)
        except Exception as e:  # datasets wraps pandas/pyarrow/json errors in its own types
            cause = e.__cause__ or e
            if isinstance(cause, UnicodeDecodeError):
                raise TrainingDataError(f"{path}: not UTF-8 text ({cause.reason})", "save the file as UTF-8") from e
            if "corresponds to no data" in str(e):
                raise TrainingDataError(f"{path} has no rows", "give a file with training examples") from e
            if "surrogate" in str(cause):  # pyarrow's JSON reader refuses a lone "\ud800" escape
                row = re.search(r"in row (\d+)", str(cause))
                where = f"row {int(row.group(1)) + 1}: " if row else ""
                raise TrainingDataError(
                    f"{path}: {where}a text holds a lone surrogate escape (such as \\ud800): not valid Unicode",
                    "remove it or re-encode the text as UTF-8",
                ) from e
            raise TrainingDataError(
                f"cannot read {path} as {fmt.upper()}: {type(cause).__name__}: {str(cause).strip()[:300]}",
                f"check that the file is valid {fmt.upper()} in UTF-8, or {_TABLE_HINT} with the right extension",
            ) from e
    if any(name.startswith("__index_level_") for name in ds.column_names):
        # pandas turns the surplus leading fields of over-long rows into an index.
        raise TrainingDataError(
            f"{path}: rows have more fields than the header",
            "quote fields that contain the delimiter, or fix the header",
        )
    if ds.num_rows == 0:
        raise TrainingDataError(f"{path} has no rows", "give a file with training examples")
    return ds


def _column(ds: datasets.Dataset, name: str) -> list[Any]:
    return ds[name][:]


def _missing_column(
    path: Path, name: str, columns: Sequence[str], option: str, what: str = "column"
) -> TrainingDataError:
    return TrainingDataError(
        f"{path}: no {what} {name!r}; the file has columns: {_listing(list(columns))}",
        f"name the column with {option}",
    )


def _text_column(path: Path, columns: Sequence[str], name: str) -> str:
    if name in columns:
        return name
    if name == "text":
        for alternative in TEXT_FALLBACKS:
            if alternative in columns:
                return alternative
    raise _missing_column(path, name, columns, "{=text_column}", "text column")


def _need_column(path: Path, columns: Sequence[str], name: str, option: str) -> str:
    if name not in columns:
        raise _missing_column(path, name, columns, option)
    return name


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _texts(ds: datasets.Dataset, column: str, path: Path) -> list[str]:
    """The column as non-empty strings; numbers become their text."""
    values = _column(ds, column)
    for i, value in enumerate(values):
        if isinstance(value, (int, float)) and not _is_missing(value) and not isinstance(value, bool):
            values[i] = value = str(value)
        if not isinstance(value, str) or not value.strip():
            what = "empty text" if _is_missing(value) or isinstance(value, str) else f"a {type(value).__name__}"
            raise TrainingDataError(
                f"{path}: row {i + 1}: {what} in column {column!r}", "fill in the text or remove the row"
            )
        _valid_text(value, path, f"row {i + 1}", f"the text in column {column!r}")
    return values


def _features(**columns: Any) -> Any:
    return _datasets().Features(columns)


def _string() -> Any:
    return _datasets().Value("string")


def _list_of(feature: Any) -> Any:
    datasets = _datasets()
    # datasets 4 added List; Sequence is the same thing in 3.x (and deprecated later).
    return getattr(datasets, "List", datasets.Sequence)(feature)


def _from_dict(data: dict[str, list[Any]], features: Any) -> datasets.Dataset:
    with _quiet() as datasets:
        return datasets.Dataset.from_dict(data, features=features)


def _classlabel_names(feature: Any) -> list[str] | None:
    """Label names a Parquet file saved by ``datasets`` carries for an int column (or list of ints)."""
    datasets = _datasets()
    inner = getattr(feature, "feature", feature)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def _valid_text(value: str, path: Path, where: str, what: str) -> None:
    """Refuse a text holding a lone surrogate (a JSON ``"\\ud800"`` escape): it cannot be tokenized."""
    from nlu_toolkit.errors import InputError
    from nlu_toolkit.io.readers import check_text

    try:
        check_text(value, None, what=what)
    except InputError as e:
        raise TrainingDataError(f"{path}: {where}: {e.template}", e.hint_template) from e
