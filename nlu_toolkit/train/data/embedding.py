"""Sentence pairs for embedding models: scored pairs (sentence1, sentence2, score), raw STS Benchmark
files, or anchor/positive (negative) pairs."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from nlu_toolkit.errors import TrainingDataError
from nlu_toolkit.train.data import tables as t


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


def _load_sts(path: Path) -> t._Part:
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
    return t._Part(t._from_dict(data, _scored_features()), [], info)


def _scored_features() -> Any:
    return t._features(sentence1=t._string(), sentence2=t._string(), score=t._datasets().Value("float32"))


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


def _load_embedding(path: Path, fmt: str, columns: t._Columns) -> t._Part:
    ds = t._read_table(path, fmt)
    names = ds.column_names
    score: str | None = None
    if columns.text_pair is not None:
        first = t._text_column(path, names, columns.text)
        second = t._need_column(path, names, columns.text_pair, "{=text_pair_column}")
        if columns.label in names:
            score = columns.label
        elif columns.label != "label":  # named on purpose, so its absence is an error
            raise t._missing_column(path, columns.label, names, "{=label_column}")
    elif "sentence1" in names and "sentence2" in names:
        first, second = "sentence1", "sentence2"
        score = next((name for name in ("score", columns.label) if name in names), None)
    elif "anchor" in names and "positive" in names:
        first, second = "anchor", "positive"
    else:
        raise TrainingDataError(
            f"{path}: no sentence-pair columns; the file has columns: {t._listing(names)}",
            "give columns sentence1, sentence2, score, or anchor, positive (negative); "
            "or name the two text columns with {=text_column} and {=text_pair_column}",
        )

    if score is not None:
        used = {"sentence1": first, "sentence2": second, "score": score}
        data: dict[str, list[Any]] = {"sentence1": t._texts(ds, first, path), "sentence2": t._texts(ds, second, path)}
        values = t._column(ds, score)
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
        return t._Part(t._from_dict(data, _scored_features()), [], info)

    used = {"anchor": first, "positive": second}
    if columns.text_pair is None and "negative" in names:
        used["negative"] = "negative"
    data = {key: t._texts(ds, column, path) for key, column in used.items()}
    del ds
    features = t._features(**{key: t._string() for key in data})
    info = {"format": fmt, "columns": used, "warnings": [], "pair_kind": "pairs"}
    return t._Part(t._from_dict(data, features), [], info)
