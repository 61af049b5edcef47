"""Label names: their order, reading label cells as names or ids, and the labels an eval set lacks."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlu_toolkit.errors import TrainingDataError
from nlu_toolkit.train.data.tables import _MAX_LISTED, _column, _is_missing, _listing

if TYPE_CHECKING:
    import datasets


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
        "labels are class names or integer ids; for similarity scores use {=task} embedding",
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
