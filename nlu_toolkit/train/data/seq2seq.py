"""Seq2seq data: a source and a target text column (a document and its summary, a sentence and its translation)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nlu_toolkit.errors import TrainingDataError, UsageError
from nlu_toolkit.train.data import tables as t

#: (source, target) column pairs tried, in order, when text_column/label_column are left at their defaults.
SEQ2SEQ_PAIRS = (("source", "target"), ("text", "summary"), ("document", "summary"), ("article", "highlights"))
_SEQ2SEQ_HINT = (
    "give columns source and target (or text/summary, document/summary, article/highlights), "
    "or name them with {=text_column} (the source) and {=label_column} (the target)"
)


def _seq2seq_columns(path: Path, names: Sequence[str], columns: t._Columns) -> tuple[str, str]:
    """The source and target columns: named with text_column/label_column, else a known pair."""
    # The generic defaults ("text", "label") mean "find the usual names"; anything else was named on purpose.
    source = columns.text if columns.text != "text" else None
    target = columns.label if columns.label != "label" else None
    if source is not None:
        t._need_column(path, names, source, "{=text_column}")
    if target is not None:
        t._need_column(path, names, target, "{=label_column}")
    if source is None and target is None:
        for first, second in SEQ2SEQ_PAIRS:
            if first in names and second in names:
                return first, second
        raise TrainingDataError(
            f"{path}: no source/target columns; the file has columns: {t._listing(list(names))}", _SEQ2SEQ_HINT
        )
    if source is None:
        found = next((a for a, _ in SEQ2SEQ_PAIRS if a in names and a != target), None)
        if found is None:
            raise TrainingDataError(
                f"{path}: no source column; the file has columns: {t._listing(list(names))}",
                "name the column holding the input texts with {=text_column}",
            )
        return found, target  # type: ignore[return-value]
    if target is None:
        found = next((b for _, b in SEQ2SEQ_PAIRS if b in names and b != source), None)
        if found is None:
            raise TrainingDataError(
                f"{path}: no target column; the file has columns: {t._listing(list(names))}",
                "name the column holding the target texts with {=label_column}",
            )
        return source, found
    if source == target:
        raise UsageError(
            f"{{=text_column}} and {{=label_column}} name the same column ({source!r})",
            "name the source column with {=text_column} and the target column with {=label_column}",
        )
    return source, target


def _load_seq2seq(path: Path, fmt: str, columns: t._Columns) -> t._Part:
    ds = t._read_table(path, fmt)
    source, target = _seq2seq_columns(path, ds.column_names, columns)
    data = {"source": t._texts(ds, source, path), "target": t._texts(ds, target, path)}
    del ds
    warnings_ = []
    if columns.text_pair is not None:
        warnings_.append("text_pair_column is ignored for seq2seq")  # a note, not an error: plain name
    info = {"format": fmt, "columns": {"source": source, "target": target}, "warnings": warnings_}
    return t._Part(t._from_dict(data, t._features(source=t._string(), target=t._string())), [], info)
