"""Training and evaluation data for ``nlu finetune`` and ``nlu evaluate``.

Every task gets one fixed row schema, whatever the file looked like:

- classification: ``text`` (``text_pair``), ``label`` = int id into the label names
- multilabel: ``text`` (``text_pair``), ``label`` = multi-hot floats, one per label name
- ner: ``tokens`` = list of words, ``tags`` = int ids into IOB2 tag names ("O" first)
- qa: ``id``, ``question``, ``context``, ``answers`` = {"text": [...], "answer_start": [...]} (empty: no answer)
- embedding: ``sentence1``, ``sentence2``, ``score`` in [0, 1] ("scored"), or ``anchor``, ``positive``
  (``negative``) ("pairs")
- seq2seq: ``source``, ``target`` (texts: a document and its summary, a sentence and its translation)

Tables (CSV, TSV, JSONL, JSON, Parquet) are read with the ``datasets`` library; CoNLL column
files, SQuAD JSON and raw STS Benchmark files with small readers of their own. Bad data raises
`TrainingDataError` naming the file, the row and what to do; nothing here prints. ``datasets`` is
imported only when data is loaded, so importing this module stays cheap for ``nlu --help``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlu_toolkit.errors import MissingExtra, TrainingDataError, UsageError
from nlu_toolkit.train.tags import check_tag

if TYPE_CHECKING:
    import datasets

__all__ = ["TASKS", "TaskData", "load_eval_data", "load_task_data", "read_conll", "to_iob2"]

TASKS = ("classification", "multilabel", "ner", "qa", "embedding", "seq2seq")

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_TABLE_HINT = "use a .csv, .tsv, .jsonl, .json or .parquet file"

#: Columns tried, in order, when the default ``text`` column is absent (GLUE's SST-2 uses ``sentence``).
TEXT_FALLBACKS = ("sentence", "review", "content", "document")

#: Tag prefixes `to_iob2` understands: IOB1/IOB2, plus BIOES/BILOU ends and singles.
_INSIDE_PREFIXES = ("I-", "E-", "L-")
_BEGIN_PREFIXES = ("B-", "S-", "U-")

_MAX_LISTED = 10


@dataclass
class TaskData:
    """Training (and evaluation) rows for one task, with the label names and a summary for the model card."""

    task: str
    train: datasets.Dataset
    eval: datasets.Dataset | None
    labels: list[str]
    info: dict[str, Any]


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


# --------------------------------------------------------------------------- public API


def load_task_data(
    task: str,
    train: str | Path,
    eval: str | Path | None = None,
    *,
    eval_split: float | None = None,
    seed: int = 0,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    labels: list[str] | None = None,
) -> TaskData:
    """Read training data, and evaluation data from ``eval`` or a held-out ``eval_split`` of it.

    Label names are sorted (integers numerically; NER: "O" first) unless ``labels`` fixes them and
    their order. Eval labels must occur in the training labels; training labels missing from the
    eval data only add a warning to ``info["warnings"]``.

    Raises:
        UsageError: unknown task, ``eval_split`` outside (0, 1), or both ``eval`` and ``eval_split``.
        TrainingDataError: a file is missing, unreadable, empty, lacks a column or holds bad rows.
    """
    _check_task(task)
    if eval_split is not None:
        if isinstance(eval_split, bool) or not isinstance(eval_split, (int, float)) or not 0 < eval_split < 1:
            raise UsageError(
                f"--eval-split must be a fraction between 0 and 1, got {eval_split!r}",
                "e.g. --eval-split 0.1 holds out 10% of the training rows",
            )
        if eval is not None:
            raise UsageError(
                "both an eval file and --eval-split were given",
                "pass either --eval FILE or --eval-split FRACTION, not both",
            )
    columns = _check_columns(text_column, text_pair_column, label_column)
    warnings_: list[str] = []
    if labels is not None and task in ("qa", "embedding", "seq2seq"):
        warnings_.append(f"--labels is ignored for task {task}")
        labels = None
    labels = _check_labels(labels)

    train_path = _check_file(train)
    part = _load(task, train_path, columns, labels, role="given" if labels is not None else None)
    train_ds, label_names = part.ds, part.labels
    if task in ("classification", "ner") and labels is None:
        _check_trainable(task, label_names, train_path)
    info: dict[str, Any] = {
        "train": str(train_path),
        "eval": None,
        "train_rows": train_ds.num_rows,
        "eval_rows": 0,
        "format": part.info["format"],
        "columns": part.info["columns"],
    }
    for key in ("pair_kind", "score_scale", "unanswerable"):
        if key in part.info:
            info[key] = part.info[key]
    warnings_ += part.info["warnings"]

    eval_ds: datasets.Dataset | None = None
    if eval is not None:
        eval_path = _check_file(eval)
        eval_part = _load(task, eval_path, columns, label_names if task in _LABELLED else None, role="train")
        eval_ds = eval_part.ds
        info["eval"] = str(eval_path)
        info["eval_format"] = eval_part.info["format"]
        if eval_part.info["columns"] != part.info["columns"]:
            info["eval_columns"] = eval_part.info["columns"]
        if task == "qa":
            info["eval_unanswerable"] = eval_part.info["unanswerable"]
        if task == "embedding":
            _check_same_pairs(part.info, eval_part.info, eval_path, warnings_)
        warnings_ += eval_part.info["warnings"]
    elif eval_split is not None:
        with _quiet():
            try:
                split = train_ds.train_test_split(test_size=eval_split, seed=seed)
            except ValueError as e:
                raise TrainingDataError(
                    f"{train_path} has {train_ds.num_rows} rows, too few to hold out {_percent(eval_split)} for evaluation",
                    "add training rows, change --eval-split, or pass an eval file with --eval",
                ) from e
        train_ds, eval_ds = split["train"], split["test"]
        info["eval"] = f"{_percent(eval_split)} split of train (seed {seed})"
        info["train_rows"] = train_ds.num_rows
    if eval_ds is not None:
        info["eval_rows"] = eval_ds.num_rows
        if task in _LABELLED:
            missing = _labels_missing(task, eval_ds, label_names)
            if missing:
                warnings_.append(
                    f"the eval data has no examples of {_what_missing(task, missing)}: {_listing(missing)}"
                )
    info["warnings"] = warnings_
    return TaskData(task=task, train=train_ds, eval=eval_ds, labels=label_names, info=info)


def load_eval_data(
    task: str,
    path: str | Path,
    *,
    labels: list[str] | None = None,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
) -> tuple[datasets.Dataset, dict[str, Any]]:
    """Read evaluation data for ``nlu evaluate``, in the same row schema as `load_task_data`.

    ``labels`` are the model's label names in id order (config ``id2label``); a gold label the model
    does not know is an error. Integer gold labels that match no name are read as ids into
    ``labels`` (with a warning), so GLUE-style 0/1 files work with models that name their labels.
    ``labels`` is ignored for qa, embedding and seq2seq.

    Returns:
        ``(dataset, info)`` with info keys ``path``, ``rows``, ``format``, ``columns``, ``warnings``,
        ``labels`` (the names the ids refer to; classification, multilabel, ner) and, by task,
        ``pair_kind``, ``score_scale`` or ``unanswerable``.
    """
    _check_task(task)
    columns = _check_columns(text_column, text_pair_column, label_column)
    labels = _check_labels(labels) if task in _LABELLED else None
    file = _check_file(path)
    part = _load(task, file, columns, labels, role="model" if labels is not None else None)
    info: dict[str, Any] = {"path": str(file), "rows": part.ds.num_rows, **part.info}
    if task in _LABELLED:
        info["labels"] = part.labels
        if labels is not None:
            missing = _labels_missing(task, part.ds, part.labels)
            if missing:
                what = _what_missing(task, missing, "the model's")
                info["warnings"].append(f"the eval data has no examples of {what}: {_listing(missing)}")
    return part.ds, info


def read_conll(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Read a CoNLL column file into ``(tokens, IOB2 tags)`` per sentence.

    The token is the first column and the tag the last; columns are split on tabs when the line
    has any, else on whitespace. Blank lines end sentences and ``-DOCSTART-`` lines are skipped.
    IOB1 (CoNLL-2003) and BIOES tags are converted to IOB2.
    """
    return [(tokens, to_iob2(tags)) for tokens, tags in _iter_conll(_check_file(path))]


def to_iob2(tags: list[str]) -> list[str]:
    """Convert IOB1 tags to IOB2: an ``I-X`` that starts an entity becomes ``B-X``.

    An entity starts at the first token, after ``O`` or after a tag of another type. IOB2 input
    comes back unchanged. BIOES/BILOU tags map too (``S-``/``U-`` to ``B-``, ``E-``/``L-`` to
    ``I-``), and a bare type (IO scheme, ``PER``) reads as ``I-PER``.
    """
    out: list[str] = []
    previous: str | None = None  # entity type of the previous tag; None after "O"
    for tag in tags:
        if tag == "O":
            out.append(tag)
            previous = None
            continue
        head = tag[:2]
        if head in _BEGIN_PREFIXES:
            kind, begins = tag[2:], True
        else:
            kind = tag[2:] if head in _INSIDE_PREFIXES else tag
            begins = kind != previous
        out.append(("B-" if begins else "I-") + kind)
        previous = kind
    return out


# --------------------------------------------------------------------------- dispatch and checks

_LABELLED = ("classification", "multilabel", "ner")


def _load(task: str, path: Path, columns: _Columns, labels: list[str] | None, role: str | None) -> _Part:
    """Read one file for ``task``; ``role`` says whose labels ``labels`` are, for error messages."""
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if task in ("classification", "multilabel"):
        return _load_classification(path, _table_format(path, fmt), columns, labels, role, task == "multilabel")
    if task == "ner":
        # A TSV cell cannot hold a list of tokens, so a .tsv NER file is CoNLL (token<TAB>tag).
        return _load_ner(path, "conll" if fmt in (None, "tsv") else fmt, columns, labels, role)
    if task == "qa":
        return _load_qa(path, _table_format(path, fmt))
    if task == "seq2seq":
        return _load_seq2seq(path, _table_format(path, fmt), columns)
    # A raw STS Benchmark file is tab-separated whatever its extension says (sts-train.csv).
    if fmt in (None, "csv", "tsv") and _is_sts(path):
        return _load_sts(path)
    return _load_embedding(path, _table_format(path, fmt), columns)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}", f"use one of: {', '.join(TASKS)}")


def _check_columns(text: str, text_pair: str | None, label: str) -> _Columns:
    if text_pair is not None and text_pair == text:
        raise UsageError(
            f"--text-pair-column is the same column as --text-column ({text!r})",
            "name the column holding the second text of each pair",
        )
    return _Columns(text=text, text_pair=text_pair, label=label)


def _check_labels(labels: Sequence[str] | None) -> list[str] | None:
    if labels is None:
        return None
    names = [str(name) for name in labels]
    if not names:
        raise UsageError("the list of labels is empty", "name at least one label, e.g. --labels negative,positive")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"labels repeated: {_listing(repeated)}", "name each label once")
    return names


def _check_file(path: str | Path) -> Path:
    file = Path(path).expanduser()
    if not file.exists():
        raise TrainingDataError(f"{file}: no such file", "check the path")
    if file.is_dir():
        raise TrainingDataError(f"{file} is a folder, not a data file", "give the path of one file")
    if file.stat().st_size == 0:
        raise TrainingDataError(f"{file} has no rows (the file is empty)", "give a file with training examples")
    return file


def _check_trainable(task: str, labels: list[str], path: Path) -> None:
    # One class (or no entity) teaches a model nothing; better said now than after an epoch.
    if task == "classification" and len(labels) < 2:
        raise TrainingDataError(
            f"{path}: every row has the label {labels[0]!r}; classification needs at least two labels",
            "add examples of the other classes",
        )
    if task == "ner" and len(labels) < 2:
        raise TrainingDataError(f"{path}: every tag is 'O'; there is no entity to learn", "tag some entities")


def _check_same_pairs(train_info: dict[str, Any], eval_info: dict[str, Any], eval_path: Path, out: list[str]) -> None:
    if train_info["pair_kind"] != eval_info["pair_kind"]:
        kinds = {"scored": "scored pairs (sentence1, sentence2, score)", "pairs": "anchor/positive pairs"}
        raise TrainingDataError(
            f"{eval_path} holds {kinds[eval_info['pair_kind']]} but the training data {kinds[train_info['pair_kind']]}",
            "give both files the same columns: sentence1, sentence2, score or anchor, positive (negative)",
        )
    if train_info.get("score_scale") != eval_info.get("score_scale"):
        out.append(
            f"training scores were divided by {train_info['score_scale']} but eval scores by "
            f"{eval_info['score_scale']}; check that both files use the same score range"
        )


def _table_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        raise TrainingDataError(f"{path}: unsupported file type {path.suffix or '(no extension)'!r}", _TABLE_HINT)
    return fmt


def _what_missing(task: str, missing: Sequence[str], whose: str = "the training") -> str:
    return f"{len(missing)} of {whose} {'entity types' if task == 'ner' else 'labels'}"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _listing(items: Sequence[Any]) -> str:
    shown = ", ".join(repr(item) if isinstance(item, str) else str(item) for item in items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


# --------------------------------------------------------------------------- datasets


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
    verbosity = datasets.logging.get_verbosity()
    bars = datasets.is_progress_bar_enabled()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    if bars:
        with warnings.catch_warnings():  # it warns when an environment variable forces bars on
            warnings.simplefilter("ignore")
            datasets.disable_progress_bars()
    try:
        yield datasets
    finally:
        datasets.logging.set_verbosity(verbosity)
        if bars:
            datasets.enable_progress_bars()


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
        f"use {option} NAME to pick the column",
    )


def _text_column(path: Path, columns: Sequence[str], name: str) -> str:
    if name in columns:
        return name
    if name == "text":
        for alternative in TEXT_FALLBACKS:
            if alternative in columns:
                return alternative
    raise _missing_column(path, name, columns, "--text-column", "text column")


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


# --------------------------------------------------------------------------- labels


def _label_key(name: str) -> tuple[int, int, str]:
    """Sort integer names numerically ("2" before "10") and before other names."""
    return (0, int(name), name) if _is_int_name(name) else (1, 0, name)


def _is_int_name(name: str) -> bool:
    try:
        return str(int(name)) == name
    except ValueError:
        return False


_ROLES = {
    "given": ("the labels given", "add it to the labels, or fix the data"),
    "train": ("the training labels", "fix the eval data: every eval label must occur in the training data"),
    "model": ("the model's labels", "evaluate on data labelled like the model, or fine-tune a model on these labels"),
}


def _label_index(
    seen: Iterable[str], labels: list[str] | None, role: str | None, path: Path, *, ids_ok: bool = True
) -> tuple[list[str], dict[str, int], list[str]]:
    """Label names, name -> id, warnings, for the names ``seen`` in a file.

    Without ``labels`` the names are sorted. With them, an unknown name is an error, except that
    integer names matching none of ``labels`` are read as ids into them (``ids_ok``).
    """
    seen = set(seen)
    if labels is None:
        names = sorted(seen, key=_label_key)
        return names, {name: i for i, name in enumerate(names)}, []
    index = {name: i for i, name in enumerate(labels)}
    unknown = sorted(seen - index.keys(), key=_label_key)
    if not unknown:
        return labels, index, []
    if ids_ok and not seen & index.keys() and all(_is_int_name(n) and 0 <= int(n) < len(labels) for n in seen):
        mapping = ", ".join(f"{i}={name}" for i, name in enumerate(labels[:_MAX_LISTED]))
        whose = _ROLES[role or "given"][0]
        warning = f"{path}: integer labels read as ids into {whose} ({mapping})"
        return labels, {str(i): i for i in range(len(labels))}, [warning]
    whose, hint = _ROLES[role or "given"]
    noun = "label" if len(unknown) == 1 else "labels"
    raise TrainingDataError(
        f"{path}: {noun} {_listing(unknown)} not in {whose}: {_listing(labels)}",
        hint,
    )


def _label_name(value: Any, names: list[str] | None, path: Path, row: int) -> str | None:
    """A class name from one cell: strings stripped, integers (and whole floats) as text."""
    if _is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if names is None:
            return str(value)
        if 0 <= value < len(names):
            return names[value]
        raise TrainingDataError(
            f"{path}: row {row}: label id {value} is out of range for {len(names)} labels",
            f"ids run from 0 to {len(names) - 1}",
        )
    if isinstance(value, (str, bool)):
        return str(value).strip() or None
    raise TrainingDataError(
        f"{path}: row {row}: label {value!r} is not a class name",
        "labels are class names or integer ids; for similarity scores use --task embedding",
    )


def _label_names(value: Any, names: list[str] | None, path: Path, row: int) -> list[str]:
    """Class names from one multi-label cell: a list, or a comma-separated string; empty = none."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as e:
                raise TrainingDataError(
                    f"{path}: row {row}: cannot read labels {text!r}",
                    'write labels comma-separated ("billing, urgent") or as a JSON list',
                ) from e
        else:
            value = text.split(",")
    if not isinstance(value, (list, tuple)):
        value = [] if _is_missing(value) else [value]
    out: list[str] = []
    for item in value:
        if isinstance(item, str) and not item.strip():
            continue
        name = _label_name(item, names, path, row)
        if name is None:
            raise TrainingDataError(f"{path}: row {row}: a null label in {value!r}", "remove it from the list")
        if name not in out:
            out.append(name)
    return out


def _labels_missing(task: str, ds: datasets.Dataset, labels: list[str]) -> list[str]:
    """Labels (NER: entity types) with no example in ``ds``."""
    if task == "classification":
        present = set(_column(ds, "label"))
        return [name for i, name in enumerate(labels) if i not in present]
    if task == "multilabel":
        counts = [0.0] * len(labels)
        for row in _column(ds, "label"):
            counts = [c + v for c, v in zip(counts, row, strict=True)]
        return [name for name, count in zip(labels, counts, strict=True) if not count]
    present_tags = {tag for tags in _column(ds, "tags") for tag in tags}
    kinds = {name[2:] for name in labels if name != "O"}
    present = {labels[i][2:] for i in present_tags if labels[i] != "O"}
    return sorted(kinds - present)


# --------------------------------------------------------------------------- classification / multilabel


def _load_classification(
    path: Path, fmt: str, columns: _Columns, labels: list[str] | None, role: str | None, multilabel: bool
) -> _Part:
    ds = _read_table(path, fmt)
    names = ds.column_names
    used = {"text": _text_column(path, names, columns.text)}
    if columns.text_pair is not None:
        used["text_pair"] = _need_column(path, names, columns.text_pair, "--text-pair-column")
    label = columns.label
    if label == "label" and "label" not in names and "labels" in names:
        label = "labels"  # the usual name of a multi-label column (and HF's)
    used["label"] = _need_column(path, names, label, "--label-column")
    data: dict[str, list[Any]] = {key: _texts(ds, used[key], path) for key in ("text", "text_pair") if key in used}
    class_names = _classlabel_names(ds.features[used["label"]])
    raw = _column(ds, used["label"])
    del ds  # the rows now live in the lists above; let the Arrow table go

    if multilabel:
        cells = [_label_names(value, class_names, path, i + 1) for i, value in enumerate(raw)]
        del raw
        seen = {name for cell in cells for name in cell}
        if not seen:
            raise TrainingDataError(f"{path}: no row has a label in column {used['label']!r}", "label some rows")
    else:
        cells = raw
        for i, value in enumerate(raw):
            cells[i] = _label_name(value, class_names, path, i + 1)
            if cells[i] is None:
                raise TrainingDataError(f"{path}: row {i + 1}: empty label", "label the row or remove it")
        seen = set(cells)
    # Files saved by datasets name their classes in a fixed order (0 = negative, ...): keep it.
    given = labels if labels is not None or class_names is None else class_names
    label_names, index, warnings_ = _label_index(seen, given, role if labels is not None else None, path)

    datasets = _datasets()
    if multilabel:
        width = len(label_names)
        for i, cell in enumerate(cells):
            hot = [0.0] * width
            for name in cell:
                hot[index[name]] = 1.0
            cells[i] = hot
        label_feature = _list_of(datasets.Value("float32"))
    else:
        cells = [index[name] for name in cells]
        label_feature = datasets.Value("int64")
    data["label"] = cells
    features = _features(**{key: _string() for key in data if key != "label"}, label=label_feature)
    info = {"format": fmt, "columns": used, "warnings": warnings_}
    return _Part(_from_dict(data, features), label_names, info)


# --------------------------------------------------------------------------- NER


def _iter_conll(path: Path) -> Iterator[tuple[list[str], list[str]]]:
    """Yield ``(tokens, raw tags)`` per sentence of a CoNLL column file, reading line by line."""
    tokens: list[str] = []
    tags: list[str] = []
    try:
        with path.open(encoding="utf-8-sig") as f:
            for number, line in enumerate(f, 1):
                # Tab-separated files split on tabs only, so a token may hold other spaces.
                fields = line.rstrip("\r\n").split("\t") if "\t" in line else line.split()
                if not any(field.strip() for field in fields):
                    if tokens:
                        yield tokens, tags
                        tokens, tags = [], []
                    continue
                if fields[0] == "-DOCSTART-":
                    continue
                tag = fields[-1].strip()
                if len(fields) < 2 or not fields[0] or not tag:
                    raise TrainingDataError(
                        f"{path}:{number}: expected a token and a tag, found {line.strip()!r}",
                        "CoNLL files hold the token in the first column and its tag in the last, "
                        "separated by spaces or tabs, with a blank line between sentences",
                    )
                check_tag(tag, f"{path}:{number}")
                tokens.append(fields[0])
                tags.append(tag)
    except UnicodeDecodeError as e:
        raise TrainingDataError(f"{path}: not UTF-8 text ({e.reason})", "save the file as UTF-8") from e
    if tokens:
        yield tokens, tags


def _load_ner(path: Path, fmt: str, columns: _Columns, labels: list[str] | None, role: str | None) -> _Part:
    if fmt == "conll":
        tokens_col: list[list[str]] = []
        tags_col: list[Any] = []
        for tokens, tags in _iter_conll(path):
            tokens_col.append(tokens)
            tags_col.append(to_iob2(tags))
        if not tokens_col:
            raise TrainingDataError(f"{path} has no rows (no sentence found)", "give a CoNLL file: token ... tag")
        used = {"tokens": "first column", "tags": "last column"}
    else:
        tokens_col, tags_col, used = _ner_table(path, fmt, columns, labels)

    seen = {tag for tags in tags_col for tag in tags}
    if labels is None:
        # Every entity type gets both B- and I-, so the model can tag entities of any length.
        kinds = {tag[2:] for tag in seen if tag != "O"}
        label_names = ["O", *sorted(f"{prefix}{kind}" for kind in kinds for prefix in ("B-", "I-"))]
        index = {name: i for i, name in enumerate(label_names)}
    else:
        label_names, index, _ = _label_index(seen, labels, role, path, ids_ok=False)
    for i, tags in enumerate(tags_col):
        tags_col[i] = [index[tag] for tag in tags]

    datasets = _datasets()
    features = _features(tokens=_list_of(_string()), tags=_list_of(datasets.Value("int64")))
    info = {"format": fmt, "columns": used, "warnings": []}
    return _Part(_from_dict({"tokens": tokens_col, "tags": tags_col}, features), label_names, info)


def _ner_table(
    path: Path, fmt: str, columns: _Columns, labels: list[str] | None
) -> tuple[list[Any], list[Any], dict[str, str]]:
    """Token and tag lists from a table with a tokens column and a tags column."""
    ds = _read_table(path, fmt)
    names = ds.column_names
    # The generic --text-column/--label-column defaults ("text", "label") mean "the usual NER names".
    tokens_name = columns.text if columns.text != "text" else "tokens"
    if columns.label != "label":
        tags_name = columns.label
    else:
        tags_name = "ner_tags" if "tags" not in names and "ner_tags" in names else "tags"
    _need_column(path, names, tokens_name, "--text-column")
    _need_column(path, names, tags_name, "--label-column")
    tag_names = _classlabel_names(ds.features[tags_name]) or labels
    tokens_col = _column(ds, tokens_name)
    tags_col = _column(ds, tags_name)
    del ds
    for i, (tokens, tags) in enumerate(zip(tokens_col, tags_col, strict=True)):
        row = i + 1
        if not isinstance(tokens, list) or not isinstance(tags, list):
            raise TrainingDataError(
                f"{path}: row {row}: {tokens_name!r} and {tags_name!r} must be lists",
                'write e.g. {"tokens": ["Ada", "Lovelace"], "tags": ["B-PER", "I-PER"]}',
            )
        if not tokens:
            raise TrainingDataError(f"{path}: row {row}: no tokens", "remove the row")
        if len(tokens) != len(tags):
            raise TrainingDataError(
                f"{path}: row {row}: {len(tokens)} tokens but {len(tags)} tags", "give every token exactly one tag"
            )
        if any(not isinstance(token, str) for token in tokens):
            raise TrainingDataError(f"{path}: row {row}: a token is not a string", "tokens are words (strings)")
        for token in tokens:
            _valid_text(token, path, f"row {row}", "a token")
        for j, tag in enumerate(tags):
            if isinstance(tag, int) and not isinstance(tag, bool):
                if tag_names is None:
                    raise TrainingDataError(
                        f"{path}: row {row}: tags are integer ids but no tag names are known",
                        "write the tags as names (B-PER, I-PER, O) or pass the names with --labels",
                    )
                if not 0 <= tag < len(tag_names):
                    raise TrainingDataError(
                        f"{path}: row {row}: tag id {tag} is out of range for {len(tag_names)} tags",
                        f"ids run from 0 to {len(tag_names) - 1}",
                    )
                tags[j] = tag_names[tag]
            elif not isinstance(tag, str) or not tag.strip():
                raise TrainingDataError(f"{path}: row {row}: tag {tag!r} is not a tag name", "use tags like B-PER or O")
            else:
                tags[j] = tag.strip()
            check_tag(tags[j], f"{path}: row {row}")
        tags_col[i] = to_iob2(tags)
    return tokens_col, tags_col, {"tokens": tokens_name, "tags": tags_name}


# --------------------------------------------------------------------------- QA

_SQUAD_HINT = (
    'give SQuAD JSON ({"data": [{"paragraphs": [{"context": ..., "qas": [...]}]}]}) or JSONL rows '
    '{"id", "question", "context", "answers": {"text": [...], "answer_start": [...]}}'
)


def _load_qa(path: Path, fmt: str) -> _Part:
    if fmt in ("csv", "tsv"):
        raise TrainingDataError(f"{path}: QA data cannot be read from {fmt.upper()}", _SQUAD_HINT)
    if fmt == "json":
        document = _read_json(path)
        if isinstance(document, dict) and "data" in document:
            rows: Iterable[tuple[str, dict[str, Any]]] = _squad_rows(path, document)
            fmt = "squad"
        elif isinstance(document, list):
            rows = ((f"record {i + 1}", row) for i, row in enumerate(document))
        else:
            raise TrainingDataError(f"{path}: neither SQuAD JSON nor a list of records", _SQUAD_HINT)
    elif fmt == "jsonl":
        rows = _jsonl_rows(path)
    else:  # Parquet, through datasets; answers come back as {"text": [...], "answer_start": [...]}
        rows = ((f"row {i + 1}", row) for i, row in enumerate(_read_table(path, fmt)))

    data: dict[str, list[Any]] = {"id": [], "question": [], "context": [], "answers": []}
    ids: set[str] = set()
    unanswerable = 0
    for n, (where, row) in enumerate(rows):
        if not isinstance(row, dict):
            raise TrainingDataError(f"{path}: {where} is not an object", _SQUAD_HINT)
        qid = row.get("id")
        qid = f"q{n}" if _is_missing(qid) or qid == "" else str(qid)
        if qid in ids:
            raise TrainingDataError(
                f"{path}: {where}: question id {qid!r} is repeated", "give each question its own id"
            )
        ids.add(qid)
        label = f"{where} (question {qid!r})"
        question = _qa_text(row, "question", path, label)
        context = _qa_text(row, "context", path, label)
        answers = _qa_answers(row, context, path, label, qid)
        unanswerable += not answers["text"]
        data["id"].append(qid)
        data["question"].append(question)
        data["context"].append(context)
        data["answers"].append(answers)
    if not data["id"]:
        raise TrainingDataError(f"{path} has no rows (no question found)", _SQUAD_HINT)

    datasets = _datasets()
    answers_feature = {"text": _list_of(_string()), "answer_start": _list_of(datasets.Value("int32"))}
    features = _features(id=_string(), question=_string(), context=_string(), answers=answers_feature)
    if fmt == "squad":
        used = {"id": "qas.id", "question": "qas.question", "context": "paragraphs.context", "answers": "qas.answers"}
    else:
        used = {key: key for key in ("id", "question", "context", "answers")}
    info = {"format": fmt, "columns": used, "warnings": [], "unanswerable": unanswerable}
    return _Part(_from_dict(data, features), [], info)


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8-sig") as f:
            return json.load(f)
    except UnicodeDecodeError as e:
        raise TrainingDataError(f"{path}: not UTF-8 text ({e.reason})", "save the file as UTF-8") from e
    except json.JSONDecodeError as e:
        raise TrainingDataError(f"{path}:{e.lineno}: invalid JSON: {e.msg}", _SQUAD_HINT) from e


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        with path.open(encoding="utf-8-sig") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise TrainingDataError(
                        f"{path}:{number}: invalid JSON: {e.msg}", "write one JSON object per line"
                    ) from e
                yield f"line {number}", row
    except UnicodeDecodeError as e:
        raise TrainingDataError(f"{path}: not UTF-8 text ({e.reason})", "save the file as UTF-8") from e


def _squad_rows(path: Path, document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Flatten SQuAD's data/paragraphs/qas nesting into flat question rows."""
    for a, article in enumerate(_squad_list(document, "data", path, "the file")):
        for p, paragraph in enumerate(_squad_list(article, "paragraphs", path, f"article {a + 1}")):
            where = f"article {a + 1}, paragraph {p + 1}"
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            for qa in _squad_list(paragraph, "qas", path, where):
                if not isinstance(qa, dict):
                    raise TrainingDataError(f"{path}: {where}: a question is not an object", _SQUAD_HINT)
                yield where, {**qa, "context": context}


def _squad_list(node: Any, key: str, path: Path, where: str) -> list[Any]:
    value = node.get(key) if isinstance(node, dict) else None
    if not isinstance(value, list):
        raise TrainingDataError(f"{path}: {where} has no {key!r} list", _SQUAD_HINT)
    return value


def _qa_text(row: dict[str, Any], key: str, path: Path, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TrainingDataError(f"{path}: {where}: empty or missing {key!r}", f"give every question a {key}")
    _valid_text(value, path, where, key)
    return value


def _valid_text(value: str, path: Path, where: str, what: str) -> None:
    """Refuse a text holding a lone surrogate (a JSON ``"\\ud800"`` escape): it cannot be tokenized."""
    from nlu_toolkit.errors import InputError
    from nlu_toolkit.io.readers import check_text

    try:
        check_text(value, None, what=what)
    except InputError as e:
        raise TrainingDataError(f"{path}: {where}: {e.message}", e.hint) from e


def _qa_answers(row: dict[str, Any], context: str, path: Path, where: str, qid: str) -> dict[str, list[Any]]:
    """Answers as {"text": [...], "answer_start": [...]}, each checked against the context."""
    if row.get("is_impossible"):  # SQuAD v2: unanswerable; its "plausible_answers" are not answers
        return {"text": [], "answer_start": []}
    if "answers" not in row:
        raise TrainingDataError(
            f"{path}: {where}: no 'answers'",
            'give answers, or "answers": {"text": [], "answer_start": []} for a question with no answer',
        )
    answers = row["answers"]
    if isinstance(answers, dict):
        texts, starts = answers.get("text"), answers.get("answer_start")
        if isinstance(texts, str) or not isinstance(texts, list):
            texts, starts = [texts], [starts]
    elif isinstance(answers, list):
        if not all(isinstance(answer, dict) for answer in answers):
            raise TrainingDataError(f"{path}: {where}: answers must be objects", _SQUAD_HINT)
        texts = [answer.get("text") for answer in answers]
        starts = [answer.get("answer_start") for answer in answers]
    elif answers is None:
        texts, starts = [], []
    else:
        raise TrainingDataError(f"{path}: {where}: cannot read answers {answers!r}", _SQUAD_HINT)
    if not isinstance(starts, list) or len(starts) != len(texts):
        raise TrainingDataError(f"{path}: {where}: answers need one answer_start per text", _SQUAD_HINT)
    for i, (text, start) in enumerate(zip(texts, starts, strict=True)):
        if isinstance(start, float) and start.is_integer():
            starts[i] = start = int(start)
        if not isinstance(text, str) or not text or isinstance(start, bool) or not isinstance(start, int):
            raise TrainingDataError(
                f"{path}: {where}: answer {text!r} at {start!r} needs a non-empty text and an integer answer_start",
                _SQUAD_HINT,
            )
        found = context[start : start + len(text)] if start >= 0 else ""
        if found != text:
            raise TrainingDataError(
                f"{path}: question {qid!r}: answer {text!r} does not match the context at answer_start {start}, "
                f"which holds {found!r}",
                "answer_start is the character offset of the answer in the context (0-based, not a token or "
                "byte offset); context[answer_start:answer_start + len(text)] must equal the answer text",
            )
    return {"text": list(texts), "answer_start": list(starts)}


# --------------------------------------------------------------------------- embedding


def _is_sts(path: Path) -> bool:
    """Whether the first line looks like raw STS Benchmark: 7+ tab-separated fields, the fifth a score."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as f:
            line = next((line for line in f if line.strip()), "")
    except OSError:
        return False
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) < 7:
        return False
    try:
        float(fields[4])
    except ValueError:
        return False
    return True


def _load_sts(path: Path) -> _Part:
    """Read headerless STS Benchmark lines: genre, file, year, id, score, sentence1, sentence2[, extra...]."""
    data: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "score": []}
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            # The csv module, not pandas: sentences hold bare quotes and some rows carry extra fields.
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            for row in reader:
                line = reader.line_num
                if not any(field.strip() for field in row):
                    continue
                if len(row) < 7:
                    raise TrainingDataError(
                        f"{path}:{line}: {len(row)} tab-separated fields, expected at least 7 "
                        "(genre, file, year, id, score, sentence1, sentence2)",
                        "check the line for a missing tab, or convert the file to CSV with sentence1,sentence2,score",
                    )
                try:
                    score = float(row[4])
                except ValueError as e:
                    raise TrainingDataError(f"{path}:{line}: score {row[4]!r} is not a number", "fix the line") from e
                if not row[5].strip() or not row[6].strip():
                    raise TrainingDataError(
                        f"{path}:{line}: empty sentence", "fill in both sentences or remove the line"
                    )
                data["sentence1"].append(row[5])
                data["sentence2"].append(row[6])
                data["score"].append(score)
    except UnicodeDecodeError as e:
        raise TrainingDataError(f"{path}: not UTF-8 text ({e.reason})", "save the file as UTF-8") from e
    if not data["score"]:
        raise TrainingDataError(f"{path} has no rows", "give a file with sentence pairs")
    scale = _scale_scores(data["score"], path, "pair")
    used = {"sentence1": "field 6", "sentence2": "field 7", "score": "field 5"}
    info = {"format": "sts", "columns": used, "warnings": [], "pair_kind": "scored", "score_scale": scale}
    return _Part(_from_dict(data, _scored_features()), [], info)


def _scored_features() -> Any:
    return _features(sentence1=_string(), sentence2=_string(), score=_datasets().Value("float32"))


def _scale_scores(scores: list[float], path: Path, unit: str = "row") -> int:
    """Bring scores into [0, 1] in place; return the divisor (1, or 5 for the 0-5 STS scale)."""
    for i, score in enumerate(scores):
        if math.isnan(score) or score < 0:
            raise TrainingDataError(
                f"{path}: {unit} {i + 1}: score {score} is not in [0, 1] or [0, 5]",
                "similarity scores run from 0 (unrelated) to 1, or 0 to 5 as in STS Benchmark",
            )
    top = max(scores)
    if top <= 1:
        return 1
    if top > 5:
        raise TrainingDataError(
            f"{path}: scores go up to {top:g}; expected [0, 1] (or [0, 5] as in STS Benchmark)",
            "rescale the scores to [0, 1] before training",
        )
    for i, score in enumerate(scores):
        scores[i] = score / 5
    return 5


def _load_embedding(path: Path, fmt: str, columns: _Columns) -> _Part:
    ds = _read_table(path, fmt)
    names = ds.column_names
    score: str | None = None
    if columns.text_pair is not None:
        first = _text_column(path, names, columns.text)
        second = _need_column(path, names, columns.text_pair, "--text-pair-column")
        if columns.label in names:
            score = columns.label
        elif columns.label != "label":  # named on purpose, so its absence is an error
            raise _missing_column(path, columns.label, names, "--label-column")
    elif "sentence1" in names and "sentence2" in names:
        first, second = "sentence1", "sentence2"
        score = next((name for name in ("score", columns.label) if name in names), None)
    elif "anchor" in names and "positive" in names:
        first, second = "anchor", "positive"
    else:
        raise TrainingDataError(
            f"{path}: no sentence-pair columns; the file has columns: {_listing(names)}",
            "give columns sentence1, sentence2, score, or anchor, positive (negative); "
            "or name the two text columns with --text-column and --text-pair-column",
        )

    if score is not None:
        used = {"sentence1": first, "sentence2": second, "score": score}
        data: dict[str, list[Any]] = {"sentence1": _texts(ds, first, path), "sentence2": _texts(ds, second, path)}
        values = _column(ds, score)
        del ds
        for i, value in enumerate(values):
            try:
                values[i] = float(value)
            except (TypeError, ValueError) as e:
                raise TrainingDataError(
                    f"{path}: row {i + 1}: score {value!r} in column {score!r} is not a number",
                    "give every pair a numeric similarity score",
                ) from e
        scale = _scale_scores(values, path)
        data["score"] = values
        info = {"format": fmt, "columns": used, "warnings": [], "pair_kind": "scored", "score_scale": scale}
        return _Part(_from_dict(data, _scored_features()), [], info)

    used = {"anchor": first, "positive": second}
    if columns.text_pair is None and "negative" in names:
        used["negative"] = "negative"
    data = {key: _texts(ds, column, path) for key, column in used.items()}
    del ds
    features = _features(**{key: _string() for key in data})
    info = {"format": fmt, "columns": used, "warnings": [], "pair_kind": "pairs"}
    return _Part(_from_dict(data, features), [], info)


# --------------------------------------------------------------------------- seq2seq

#: (source, target) column pairs tried, in order, when --text-column/--label-column are left at their defaults.
SEQ2SEQ_PAIRS = (("source", "target"), ("text", "summary"), ("document", "summary"), ("article", "highlights"))
_SEQ2SEQ_HINT = (
    "give columns source and target (or text/summary, document/summary, article/highlights), "
    "or name them with --text-column SOURCE --label-column TARGET"
)


def _seq2seq_columns(path: Path, names: Sequence[str], columns: _Columns) -> tuple[str, str]:
    """The source and target columns: named with --text-column/--label-column, else a known pair."""
    # The generic defaults ("text", "label") mean "find the usual names"; anything else was named on purpose.
    source = columns.text if columns.text != "text" else None
    target = columns.label if columns.label != "label" else None
    if source is not None:
        _need_column(path, names, source, "--text-column")
    if target is not None:
        _need_column(path, names, target, "--label-column")
    if source is None and target is None:
        for first, second in SEQ2SEQ_PAIRS:
            if first in names and second in names:
                return first, second
        raise TrainingDataError(
            f"{path}: no source/target columns; the file has columns: {_listing(list(names))}", _SEQ2SEQ_HINT
        )
    if source is None:
        found = next((a for a, _ in SEQ2SEQ_PAIRS if a in names and a != target), None)
        if found is None:
            raise TrainingDataError(
                f"{path}: no source column; the file has columns: {_listing(list(names))}",
                "use --text-column NAME to pick the column holding the input texts",
            )
        return found, target  # type: ignore[return-value]
    if target is None:
        found = next((b for _, b in SEQ2SEQ_PAIRS if b in names and b != source), None)
        if found is None:
            raise TrainingDataError(
                f"{path}: no target column; the file has columns: {_listing(list(names))}",
                "use --label-column NAME to pick the column holding the target texts",
            )
        return source, found
    if source == target:
        raise UsageError(
            f"--text-column and --label-column name the same column ({source!r})",
            "name the source column with --text-column and the target column with --label-column",
        )
    return source, target


def _load_seq2seq(path: Path, fmt: str, columns: _Columns) -> _Part:
    ds = _read_table(path, fmt)
    source, target = _seq2seq_columns(path, ds.column_names, columns)
    data = {"source": _texts(ds, source, path), "target": _texts(ds, target, path)}
    del ds
    warnings_ = []
    if columns.text_pair is not None:
        warnings_.append("--text-pair-column is ignored for seq2seq")
    info = {"format": fmt, "columns": {"source": source, "target": target}, "warnings": warnings_}
    return _Part(_from_dict(data, _features(source=_string(), target=_string())), [], info)
