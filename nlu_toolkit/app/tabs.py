"""The pure helpers behind the tabs of `nlu app`: library results into what the widgets show."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from nlu_toolkit.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from nlu_toolkit.records import Classification, NerResult, QAResult
    from nlu_toolkit.search.index import SearchResult

Segments = list[tuple[str, str | None]]

#: Pasted or uploaded corpora are encoded in the request; beyond this, build an index once instead.
MAX_CORPUS_DOCS = 5_000


def highlight_spans(text: str, spans: Iterable[tuple[int, int, str]]) -> Segments:
    """Split ``text`` into ``(piece, label or None)`` segments for ``gr.HighlightedText``.

    ``spans`` are ``(start, end, label)`` character offsets. Spans are clamped to the
    text, empty ones dropped, and a span overlapping an earlier one is skipped, so
    the pieces always join back to ``text`` exactly.
    """
    segments: Segments = []
    cursor = 0
    for start, end, label in sorted(spans, key=lambda s: (s[0], -s[1])):
        start, end = max(start, 0), min(end, len(text))
        if start < cursor or end <= start:
            continue
        if start > cursor:
            segments.append((text[cursor:start], None))
        segments.append((text[start:end], label))
        cursor = end
    if cursor < len(text) or not segments:
        segments.append((text[cursor:], None))
    return segments


def entity_segments(result: NerResult) -> Segments:
    """Highlight segments of an NER result: each entity labelled with its type (PER, ORG, ...)."""
    return highlight_spans(result.text, [(e.start, e.end, e.label) for e in result.entities])


def answer_segments(context: str, result: QAResult) -> Segments:
    """Highlight segments of a QA context: the best answer labelled ``answer`` (nothing when impossible)."""
    if result.impossible or result.end <= result.start:
        return highlight_spans(context, [])
    return highlight_spans(context, [(result.start, result.end, "answer")])


def label_scores(result: Classification) -> dict[str, float]:
    """``{label: score}`` of a classification, as ``gr.Label`` takes it."""
    return {x.label: float(x.score) for x in result.labels}


SEARCH_HEADERS = ["rank", "score", "id", "text", "found by"]


def hit_rows(result: SearchResult) -> list[list[Any]]:
    """One ``[rank, score, id, text, found by]`` row per search hit (scores rounded for display).

    ``found by`` names the rankers of a lexical or hybrid search and their ranks (``dense 3, lexical 1``);
    it is empty for a dense search.
    """
    return [
        [h.rank, round(h.score, 4), str(h.doc.get("id", "")), str(h.doc.get("text", "")), _found_by(h.doc)]
        for h in result.hits
    ]


def _found_by(doc: dict[str, Any]) -> str:
    return ", ".join(f"{name} {rank}" for name, rank in (doc.get("rankers") or {}).items())


CLUSTER_HEADERS = ["cluster", "size", "keywords", "representative"]


def summary_rows(summary: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """One ``[cluster, size, keywords, representative]`` row per cluster summary (noise is cluster -1)."""
    return [
        [
            int(c["cluster"]),
            int(c["size"]),
            ", ".join(c["keywords"]),
            c["representatives"][0] if c["representatives"] else "",
        ]
        for c in summary
    ]


def parse_corpus(text: str | None = None, file: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Records from an uploaded file (txt, csv, tsv, jsonl, json, parquet; ``text`` column) or pasted
    text (one document per line). The file wins when both are given.

    Raises:
        InputError: no documents, or more than `MAX_CORPUS_DOCS`.
    """
    from nlu_toolkit.io.readers import iter_records, records_from_texts

    empty = InputError("the corpus is empty", "paste one document per line, or upload a file")
    if file:
        records = iter_records(file)
    else:
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        if not lines:  # checked here: the reader's own message speaks of command-line arguments
            raise empty
        records = records_from_texts(lines)
    out: list[dict[str, Any]] = []
    for record in records:
        out.append(record)
        if len(out) > MAX_CORPUS_DOCS:
            raise InputError(
                f"the corpus holds more than {MAX_CORPUS_DOCS:,} documents",
                "build an index once (nlu index build FILE --out DIR) and start the app with --index DIR",
            )
    if not out:
        raise empty
    return out
