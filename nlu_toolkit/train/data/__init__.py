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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlu_toolkit.errors import TrainingDataError, UsageError
from nlu_toolkit.train.data.classification import _load_classification
from nlu_toolkit.train.data.embedding import _is_sts, _load_embedding, _load_sts
from nlu_toolkit.train.data.labels import _labels_missing
from nlu_toolkit.train.data.ner import _load_ner, read_conll, to_iob2
from nlu_toolkit.train.data.qa import _load_qa
from nlu_toolkit.train.data.sampling import check_sample_per_class, draw_per_class, sample_record
from nlu_toolkit.train.data.seq2seq import _load_seq2seq
from nlu_toolkit.train.data.tables import _EXTENSIONS, _check_file, _Columns, _listing, _Part, _quiet, _table_format

if TYPE_CHECKING:
    import datasets

__all__ = ["TASKS", "TaskData", "load_eval_data", "load_task_data", "read_conll", "to_iob2"]

TASKS = ("classification", "multilabel", "ner", "qa", "embedding", "seq2seq")


@dataclass
class TaskData:
    """Training (and evaluation) rows for one task, with the label names and a summary for the model card."""

    task: str
    train: datasets.Dataset
    eval: datasets.Dataset | None
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
    sample_per_class: int | None = None,
) -> TaskData:
    """Read training data, and evaluation data from ``eval`` or a held-out ``eval_split`` of it.

    Label names are sorted (integers numerically; NER: "O" first) unless ``labels`` fixes them and
    their order. Eval labels must occur in the training labels; training labels missing from the
    eval data only add a warning to ``info["warnings"]``.

    ``sample_per_class`` (classification) keeps that many training rows of each class, drawn with
    ``seed`` after any ``eval_split`` (see `nlu_toolkit.train.data.sampling`); the draw is recorded in
    ``info["sample"]`` (per_class, seed, from_rows, 1-based file row numbers).

    Raises:
        UsageError: unknown task, ``eval_split`` outside (0, 1), or both ``eval`` and ``eval_split``.
        TrainingDataError: a file is missing, unreadable, empty, lacks a column or holds bad rows.
    """
    _check_task(task)
    check_sample_per_class(task, sample_per_class)
    if eval_split is not None:
        if isinstance(eval_split, bool) or not isinstance(eval_split, (int, float)) or not 0 < eval_split < 1:
            raise UsageError(
                f"{{=eval_split}} must be a fraction between 0 and 1, got {eval_split!r}",
                "e.g. {=eval_split} 0.1 holds out 10% of the training rows",
            )
        if eval is not None:
            raise UsageError(
                "both an eval file and {=eval_split} were given",
                "pass either {=eval} (a file) or {=eval_split} (a fraction), not both",
            )
    columns = _check_columns(text_column, text_pair_column, label_column)
    warnings_: list[str] = []
    if labels is not None and task in ("qa", "embedding", "seq2seq"):
        warnings_.append(f"labels is ignored for task {task}")  # a note, not an error: plain name
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
    if sample_per_class is not None:  # file row numbers, to record the draw whatever the split did
        train_ds = train_ds.add_column(_ROW, list(range(train_ds.num_rows)))
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
                    "add training rows, change {=eval_split}, or pass an eval file as {=eval}",
                ) from e
        train_ds, eval_ds = split["train"], split["test"]
        info["eval"] = f"{_percent(eval_split)} split of train (seed {seed})"
        info["train_rows"] = train_ds.num_rows
    if sample_per_class is not None:
        file_rows = list(train_ds[_ROW])
        train_ds = train_ds.remove_columns(_ROW)
        eval_ds = eval_ds.remove_columns(_ROW) if eval is None and eval_ds is not None else eval_ds
        drawn = draw_per_class(list(train_ds["label"]), label_names, sample_per_class, seed, train_path)
        train_ds = train_ds.select(drawn)
        info["sample"] = sample_record(sample_per_class, seed, [file_rows[i] for i in drawn], len(file_rows))
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


# --------------------------------------------------------------------------- dispatch and checks

_LABELLED = ("classification", "multilabel", "ner")
_ROW = "__nlu_row__"  # a column added while sampling, removed before the data leave this module


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
            f"{{=text_pair_column}} is the same column as {{=text_column}} ({text!r})",
            "name the column holding the second text of each pair",
        )
    return _Columns(text=text, text_pair=text_pair, label=label)


def _check_labels(labels: Sequence[str] | None) -> list[str] | None:
    if labels is None:
        return None
    names = [str(name) for name in labels]
    if not names:
        raise UsageError(
            "the list of labels is empty", "name at least one label in {=labels}, e.g. negative and positive"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"labels repeated: {_listing(repeated)}", "name each label once")
    return names


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


def _what_missing(task: str, missing: Sequence[str], whose: str = "the training") -> str:
    return f"{len(missing)} of {whose} {'entity types' if task == 'ner' else 'labels'}"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"
