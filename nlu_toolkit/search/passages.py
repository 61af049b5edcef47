"""Passages: long documents split into overlapping windows of tokens, cut at sentence ends where possible.

An index built with passages (``nlu index build --passages 200 --overlap 40``) holds one row per passage:
``{"id": "{parent}#{k}", "text", "parent_id", "start", "end", ...the parent's passthrough}``, where
``parent_text[start:end] == text`` exactly. Sizes are tokens of the index's own tokenizer (a fast
tokenizer's offset mapping gives both the counts and the character positions), special tokens not counted.

How a document is cut (`split_text`):

- a document of at most ``tokens`` tokens is one passage;
- otherwise each passage ends at the last sentence end that fits in ``tokens`` tokens (and lies past the
  overlap, so every passage moves on); a sentence longer than the window is cut between two tokens;
- the next passage starts at the first sentence start within the last ``overlap`` tokens of the previous
  one (so whole sentences are repeated); when none starts there, a passage that ended at a sentence end is
  followed from the next sentence (no overlap: no half sentence repeated), and one cut inside a sentence
  from exactly ``overlap`` tokens before its end.

Sentences end at ``.``, ``!``, ``?``, ``…`` and their CJK forms (with any closing quotes or brackets)
followed by white space, and at line breaks. Searching with ``per_document`` keeps the best passage of
each parent (`collapse_hits`). The settings live in the index's manifest (`PassageSettings`), so adding
documents later splits them the same way.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from nlu_toolkit.errors import IndexCorrupted, InputError, UsageError
from nlu_toolkit.search.ids import id_key

#: The manifest key (index folder) and model-record key (Lance) of the settings.
KEY = "passages"
#: The columns a passage row adds to its parent's passthrough.
PARENT, START, END = "parent_id", "start", "end"
_OWN = ("id", "text", PARENT, START, END)
#: A sentence ends after end punctuation (and closing quotes/brackets) followed by white space, or at a line break.
_SENTENCE_END = re.compile(r"(?:[.!?…。！？]+[\"'”’»)\]]*\s+|\n\s*)")
#: Texts tokenized per tokenizer call.
_BATCH = 64


@dataclass(frozen=True)
class PassageSettings:
    """Passages of ``tokens`` tokens, neighbours sharing up to ``overlap`` tokens."""

    tokens: int
    overlap: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"tokens": self.tokens, "overlap": self.overlap}


def check_passages(passages: int | None, overlap: int | None, *, limit: int | None = None) -> PassageSettings | None:
    """The settings, checked (`UsageError` naming ``passages``/``overlap``), or None without ``passages``.

    ``limit``: the most tokens the model embeds of a text, special tokens excluded; a longer passage would
    be cut when embedded, so it is refused.
    """
    if passages is None:
        if overlap:
            raise UsageError("{=overlap} applies to passages", "give {=passages} too, e.g. {=passages} 200")
        return None
    for name, value, least in (("passages", passages, 1), ("overlap", overlap or 0, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UsageError(
                f"{{={name}}} must be a whole number of tokens, at least {least} (got {value!r})",
                "e.g. {=passages} 200 {=overlap} 40",
            )
    overlap = overlap or 0
    if overlap >= passages:
        raise UsageError(
            f"{{=overlap}} ({overlap}) must be smaller than {{=passages}} ({passages})",
            f"e.g. {{=overlap}} {passages // 5}: neighbouring passages share that many tokens",
        )
    if limit is not None and passages > limit:
        raise UsageError(
            f"{{=passages}} {passages} is longer than the model embeds ({limit} tokens)",
            f"give {{=passages}} {limit} or less",
        )
    return PassageSettings(passages, overlap)


def settings_of(record: dict[str, Any], where: Any) -> PassageSettings | None:
    """The settings an index's manifest (or Lance model record) holds, or None; damage is `IndexCorrupted`."""
    value = record.get(KEY)
    if value is None:
        return None
    if not valid_settings(value):
        raise IndexCorrupted(f"index {where}: its passage settings {value!r} are damaged", "rebuild the index")
    return PassageSettings(value["tokens"], value["overlap"])


def valid_settings(value: Any) -> bool:
    """Whether ``value`` is a stored ``{"tokens", "overlap"}`` record (None, for an index without passages)."""
    if value is None:
        return True
    whole = isinstance(value, dict) and all(
        isinstance(value.get(k), int) and not isinstance(value.get(k), bool) for k in ("tokens", "overlap")
    )
    return whole and 0 <= value["overlap"] < value["tokens"]


def check_tokenizer(tokenizer: Any) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise UsageError(
            "passages need a fast tokenizer (its offset mapping places each passage in the text)",
            "use a model with a fast (Rust) tokenizer, or drop {=passages}",
        )


def token_offsets(tokenizer: Any, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
    """The ``(start, end)`` characters of each token of each text, special tokens left out, nothing truncated."""
    encoded = tokenizer(
        list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
    )
    return [[(int(s), int(e)) for s, e in offsets if e > s] for offsets in encoded["offset_mapping"]]


def sentence_starts(text: str, offsets: Sequence[tuple[int, int]]) -> list[int]:
    """The token indexes where a sentence starts (0 excluded), ascending."""
    starts: list[int] = []
    token = 0
    for match in _SENTENCE_END.finditer(text):
        char = match.end()
        while token < len(offsets) and offsets[token][0] < char:
            token += 1
        if 0 < token < len(offsets) and (not starts or starts[-1] != token):
            starts.append(token)
    return starts


def split_text(text: str, settings: PassageSettings, offsets: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ``(start, end)`` character spans of ``text``'s passages (``offsets``: its tokens, `token_offsets`)."""
    n = len(offsets)
    if n == 0:
        return [(0, len(text))]
    size, overlap = settings.tokens, settings.overlap
    starts = sentence_starts(text, offsets)
    spans: list[tuple[int, int]] = []
    first = 0
    while True:
        if first + size >= n:
            spans.append((first, n))
            break
        limit = first + size
        # the last sentence start that fits, past the overlap (so the next passage moves on)
        i = bisect_right(starts, limit) - 1
        end = starts[i] if i >= 0 and starts[i] > first + overlap else limit
        spans.append((first, end))
        # the first sentence start within the overlap; else, after a sentence end, the next sentence;
        # else (cut inside a sentence) exactly `overlap` tokens back
        j = bisect_left(starts, end - overlap)
        first = starts[j] if j < len(starts) and starts[j] <= end else end - overlap
    return [_chars(text, offsets, a, b) for a, b in spans]


def _chars(text: str, offsets: Sequence[tuple[int, int]], first: int, end: int) -> tuple[int, int]:
    """Tokens ``first..end`` as characters, without white space at either edge."""
    start, stop = offsets[first][0], max(e for _, e in offsets[first:end])
    while start < stop and text[start].isspace():
        start += 1
    while stop > start and text[stop - 1].isspace():
        stop -= 1
    return start, stop


def passage_records(
    records: Iterable[dict[str, Any]],
    tokenizer: Any,
    settings: PassageSettings,
    *,
    parent_key: bool = False,
    seen: Callable[[str, list[str]], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """The passage rows of ``records`` (each with an ``id`` and a ``text``), in order.

    ``parent_key``: write ``parent_id`` as the id's text (a Lance table's ids are text), else as given.
    ``seen(parent key, passage ids)`` is called for each record once its passages are made.
    """
    check_tokenizer(tokenizer)
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) == _BATCH:
            yield from _split_batch(batch, tokenizer, settings, parent_key, seen)
            batch = []
    if batch:
        yield from _split_batch(batch, tokenizer, settings, parent_key, seen)


def _split_batch(
    batch: list[dict[str, Any]],
    tokenizer: Any,
    settings: PassageSettings,
    parent_key: bool,
    seen: Callable[[str, list[str]], None] | None,
) -> Iterator[dict[str, Any]]:
    for record, offsets in zip(batch, token_offsets(tokenizer, [r["text"] for r in batch]), strict=True):
        if clash := [k for k in (PARENT, START, END) if k in record]:
            raise InputError(
                f"record {record.get('id')!r} has a column {clash[0]!r}, which a passage index writes itself",
                "rename that column, or build the index without passages",
            )
        text, parent = record["text"], record["id"]
        key = id_key(parent)
        extra = {k: v for k, v in record.items() if k not in _OWN}
        ids = []
        for k, (start, end) in enumerate(split_text(text, settings, offsets)):
            ids.append(f"{key}#{k}")
            parent_id = key if parent_key else parent
            yield {"id": ids[-1], "text": text[start:end], PARENT: parent_id, START: start, END: end, **extra}
        if seen is not None:
            seen(key, ids)


def parent_of(doc: dict[str, Any]) -> str:
    """The id text of a row's document: its ``parent_id`` in a passage index, else its own id."""
    return id_key(doc[PARENT] if PARENT in doc else doc.get("id"))


def per_document_results(search: Callable[[int], list[Any]], need: int) -> list[Any]:
    """Search results (objects with ``hits``) with one hit per parent document, ``need`` parents per query
    where the index has them: ``search(k)`` gives the results with ``k`` hits per query, ``k`` growing
    as `collapse_hits` needs. The hits keep their order (best first); ranks are the caller's to set."""
    results: list[Any] = []

    def fetch(k: int) -> list[list[Any]]:
        results[:] = search(k)
        return [r.hits for r in results]

    collapsed = collapse_hits(fetch, need)
    for result, hits in zip(results, collapsed, strict=True):
        result.hits = hits
    return results


def collapse_hits(fetch: Callable[[int], list[list[Any]]], need: int, *, start: int | None = None) -> list[list[Any]]:
    """One hit per parent document (the first, i.e. best, of each), at most ``need`` per query.

    ``fetch(k)`` gives the best ``k`` hits (objects with a ``doc``) of each query; ``k`` grows until every
    query has ``need`` distinct parents or its hits run out (fewer than ``k`` came back).
    """
    k = start or max(need * 4, 20)
    while True:
        lists = fetch(k)
        collapsed = [_distinct(hits) for hits in lists]
        if all(len(c) >= need or len(h) < k for c, h in zip(collapsed, lists, strict=True)):
            return [c[:need] for c in collapsed]
        k *= 4


def _distinct(hits: list[Any]) -> list[Any]:
    kept, parents = [], set()
    for hit in hits:
        parent = parent_of(hit.doc)
        if parent not in parents:
            parents.add(parent)
            kept.append(hit)
    return kept


def model_limit(embedder: Any) -> int:
    """The most tokens of a text ``embedder`` embeds, its special tokens left out."""
    return int(embedder.limit) - int(embedder.loaded.tokenizer.num_special_tokens_to_add())
