"""Result records: one schema per task, shared by the CLI's JSON and the library's ``to_dict()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
        return {
            "id": self.id,
            "text": self.text,
            "label": self.label,
            "score": self.score,
            "labels": [x.to_dict() for x in self.labels],
            "truncated": self.truncated,
            **self.extra,
        }


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
        return {
            "id": self.id,
            "text": self.text,
            "entities": [e.to_dict() for e in self.entities],
            "truncated": self.truncated,
            **self.extra,
        }


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
    """``{"id", "question", "answer", "score", "start", "end", "answers", "impossible", **passthrough}``.

    ``impossible`` is True when the best answer is "no answer" (only with
    ``allow_impossible``); ``answer`` is then ``""`` and start/end are 0.
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "score": self.score,
            "start": self.start,
            "end": self.end,
            "answers": [a.to_dict() for a in self.answers],
            "impossible": self.impossible,
            **self.extra,
        }
