"""Classification and multi-label tables: a text column (and a pair column) and a label column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nlu_toolkit.errors import TrainingDataError
from nlu_toolkit.train.data import tables as t
from nlu_toolkit.train.data.labels import _label_index, _label_name, _label_names


def _load_classification(
    path: Path, fmt: str, columns: t._Columns, labels: list[str] | None, role: str | None, multilabel: bool
) -> t._Part:
    ds = t._read_table(path, fmt)
    names = ds.column_names
    used = {"text": t._text_column(path, names, columns.text)}
    if columns.text_pair is not None:
        used["text_pair"] = t._need_column(path, names, columns.text_pair, "{=text_pair_column}")
    label = columns.label
    if label == "label" and "label" not in names and "labels" in names:
        label = "labels"  # the usual name of a multi-label column (and HF's)
    used["label"] = t._need_column(path, names, label, "{=label_column}")
    data: dict[str, list[Any]] = {key: t._texts(ds, used[key], path) for key in ("text", "text_pair") if key in used}
    class_names = t._classlabel_names(ds.features[used["label"]])
    raw = t._column(ds, used["label"])
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

    datasets = t._datasets()
    if multilabel:
        width = len(label_names)
        for i, cell in enumerate(cells):
            hot = [0.0] * width
            for name in cell:
                hot[index[name]] = 1.0
            cells[i] = hot
        label_feature = t._list_of(datasets.Value("float32"))
    else:
        cells = [index[name] for name in cells]
        label_feature = datasets.Value("int64")
    data["label"] = cells
    features = t._features(**{key: t._string() for key in data if key != "label"}, label=label_feature)
    info = {"format": fmt, "columns": used, "warnings": warnings_}
    return t._Part(t._from_dict(data, features), label_names, info)
