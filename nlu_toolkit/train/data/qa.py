"""Extractive QA data: SQuAD JSON, JSON/JSONL records or Parquet rows; answers are checked against the context."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nlu_toolkit.errors import TrainingDataError
from nlu_toolkit.train.data import tables as t

_SQUAD_HINT = (
    'give SQuAD JSON ({"data": [{"paragraphs": [{"context": ..., "qas": [...]}]}]}) or JSONL rows '
    '{"id", "question", "context", "answers": {"text": [...], "answer_start": [...]}}'
)


def _load_qa(path: Path, fmt: str) -> t._Part:
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
        rows = ((f"row {i + 1}", row) for i, row in enumerate(t._read_table(path, fmt)))

    data: dict[str, list[Any]] = {"id": [], "question": [], "context": [], "answers": []}
    ids: set[str] = set()
    unanswerable = 0
    for n, (where, row) in enumerate(rows):
        if not isinstance(row, dict):
            raise TrainingDataError(f"{path}: {where} is not an object", _SQUAD_HINT)
        qid = row.get("id")
        qid = f"q{n}" if t._is_missing(qid) or qid == "" else str(qid)
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

    datasets = t._datasets()
    answers_feature = {"text": t._list_of(t._string()), "answer_start": t._list_of(datasets.Value("int32"))}
    features = t._features(id=t._string(), question=t._string(), context=t._string(), answers=answers_feature)
    if fmt == "squad":
        used = {"id": "qas.id", "question": "qas.question", "context": "paragraphs.context", "answers": "qas.answers"}
    else:
        used = {key: key for key in ("id", "question", "context", "answers")}
    info = {"format": fmt, "columns": used, "warnings": [], "unanswerable": unanswerable}
    return t._Part(t._from_dict(data, features), [], info)


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
    t._valid_text(value, path, where, key)
    return value


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
