"""The tokenization view: each token's characters, the words tokens make up, and finding a word's tokens.

Pure helpers over a tokenizer's offsets; they need no model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` past surrounding whitespace (some tokenizers count a leading space)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def token_spans(text: str, offsets: Sequence[Sequence[int]], special: Sequence[bool]) -> list[tuple[int, int] | None]:
    """Each token's character span in ``text``, or None for special and empty tokens."""
    spans: list[tuple[int, int] | None] = []
    for (start, end), is_special in zip(offsets, special, strict=True):
        start, end = _trim(text, int(start), int(end))
        spans.append(None if is_special or end <= start else (start, end))
    return spans


def group_words(
    text: str,
    offsets: Sequence[Sequence[int]],
    special: Sequence[bool],
    word_ids: Sequence[int | None] | None = None,
) -> list[dict[str, Any]]:
    """The words of ``text`` and the tokens that make them up: ``[{"word", "start", "end", "tokens"}]``.

    Tokens are grouped by the tokenizer's ``word_ids`` (its pre-tokenizer's words, so ``river.`` is
    ``river`` and ``.``) when given; otherwise, or when the tokenizer gives none, by whitespace-separated
    chunk of the text. Special tokens and tokens with no characters belong to no word. ``word`` is
    always ``text[start:end]``.
    """
    spans = token_spans(text, offsets, special)
    use_ids = word_ids is not None and any(w is not None for w, s in zip(word_ids, spans, strict=True) if s)
    keys: list[Any] = []
    for i, span in enumerate(spans):
        if span is None:
            keys.append(None)
        elif use_ids and word_ids is not None and word_ids[i] is not None:
            keys.append(("word", word_ids[i]))
        elif use_ids:
            keys.append(("token", i))  # a token the tokenizer puts in no word: a word of its own
        else:
            # The whitespace chunk the token starts in: count the whitespace runs before it.
            keys.append(("chunk", len(re.findall(r"\s+", text[: span[0]].lstrip()))))
    words: list[dict[str, Any]] = []
    index: dict[Any, int] = {}
    for i, (key, span) in enumerate(zip(keys, spans, strict=True)):
        if key is None or span is None:
            continue
        if key not in index:
            index[key] = len(words)
            words.append({"start": span[0], "end": span[1], "tokens": []})
        word = words[index[key]]
        word["start"], word["end"] = min(word["start"], span[0]), max(word["end"], span[1])
        word["tokens"].append(i)
    return [{"word": text[w["start"] : w["end"]], **w} for w in words]


def token_words(n_tokens: int, words: Sequence[dict[str, Any]]) -> list[int | None]:
    """For each token, the index of the word it belongs to (None for special tokens)."""
    owner: list[int | None] = [None] * n_tokens
    for w, word in enumerate(words):
        for t in word["tokens"]:
            owner[t] = w
    return owner


def find_word(text: str, word: str) -> tuple[int, int] | None:
    """The character span of the first whole-word, case-insensitive occurrence of ``word`` in ``text``."""
    word = word.strip()
    if not word:
        return None
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(part) for part in word.split()) + r"(?!\w)"
    match = re.search(pattern, text, flags=re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def tokens_in_span(spans: Sequence[tuple[int, int] | None], start: int, end: int) -> list[int]:
    """Indices of the tokens whose characters overlap ``[start, end)`` (special tokens never do)."""
    return [i for i, s in enumerate(spans) if s is not None and s[0] < end and s[1] > start]
