"""Result records: one schema per task, shared by the CLI's JSON and the library's ``to_dict()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: What a passthrough column named like a field of the result is renamed to.
CLASH_PREFIX = "input_"


def merge_passthrough(result: Mapping[str, Any], passthrough: Mapping[str, Any]) -> dict[str, Any]:
    """``result`` followed by the input's ``passthrough`` columns, neither losing anything.

    A column named like a field of the result (an input file's gold ``label`` or ``score``
    beside the predicted ones) never overwrites it: it is kept as ``input_<name>``
    (``input_input_<name>`` when that is taken too). The CLI, the library and the server
    all build their records through here, so they agree.
    """
    out = dict(result)
    for key, value in passthrough.items():
        name = key
        while name in out:
            name = CLASH_PREFIX + name
        out[name] = value
    return out


def with_fields(record: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """``record`` with ``fields`` set; a column of the record with one of their names moves to ``input_<name>``."""
    base = {k: v for k, v in record.items() if k not in fields}
    clashing = {k: record[k] for k in fields if k in record}
    return merge_passthrough({**base, **fields}, clashing)


@dataclass
class LabelScore:
    label: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score}


@dataclass
class Classification:
    """``{"id", "text", "label", "score", "labels", "truncated", **passthrough}``.

    ``labels`` holds the top-k labels; with multi-label, every label at or above
    the threshold (``label``/``score`` are then the best of those, or None).
    """

    id: Any
    text: str
    label: str | None
    score: float | None
    labels: list[LabelScore]
    truncated: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return merge_passthrough(
            {
                "id": self.id,
                "text": self.text,
                "label": self.label,
                "score": self.score,
                "labels": [x.to_dict() for x in self.labels],
                "truncated": self.truncated,
            },
            self.extra,
        )


@dataclass
class Entity:
    label: str
    score: float
    start: int
    end: int
    word: str

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score, "start": self.start, "end": self.end, "word": self.word}


@dataclass
class NerResult:
    """``{"id", "text", "entities", "truncated", **passthrough}``; ``word == text[start:end]``."""

    id: Any
    text: str
    entities: list[Entity]
    truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return merge_passthrough(
            {
                "id": self.id,
                "text": self.text,
                "entities": [e.to_dict() for e in self.entities],
                "truncated": self.truncated,
            },
            self.extra,
        )


@dataclass
class Answer:
    answer: str
    score: float
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "score": self.score, "start": self.start, "end": self.end}


@dataclass
class QAResult:
    """``{"id", "question", "answer", "score", "start", "end", "answers", "impossible", "truncated", **passthrough}``.

    ``impossible`` is True when the best answer is "no answer" (only with
    ``allow_impossible``); ``answer`` is then ``""`` and start/end are 0. ``truncated`` is True
    when only the first window of a longer context was read (``long="truncate"``).
    """

    id: Any
    question: str
    answer: str
    score: float
    start: int
    end: int
    answers: list[Answer]
    impossible: bool
    extra: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False  # after extra: positional construction (..., impossible, extra) keeps working

    def to_dict(self) -> dict[str, Any]:
        return merge_passthrough(
            {
                "id": self.id,
                "question": self.question,
                "answer": self.answer,
                "score": self.score,
                "start": self.start,
                "end": self.end,
                "answers": [a.to_dict() for a in self.answers],
                "impossible": self.impossible,
                "truncated": self.truncated,
            },
            self.extra,
        )
