"""Token-level NER scores to entity spans: window merging and word/entity aggregation.

These mirror the aggregation strategies of transformers' token-classification
pipeline (none, simple, first, average, max) but work on tokens merged from
overlapping windows, so long texts are never cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

STRATEGIES = ("none", "simple", "first", "average", "max")


@dataclass
class Token:
    """One token of a text: character span, word index and class probabilities."""

    start: int
    end: int
    word_id: int | None
    scores: np.ndarray  # (n_labels,) probabilities
    context: int = 0  # distance to the nearest window edge; more is better


def merge_windows(windows: Iterable[Sequence[Token]]) -> list[Token]:
    """Merge tokens from overlapping windows into one sequence ordered by offset.

    A token seen in several windows keeps the copy with the most context on
    both sides (the one farthest from a window edge), as a stride-based reader
    would. Tokens are identified by their character span.
    """
    best: dict[tuple[int, int], Token] = {}
    for window in windows:
        for token in window:
            key = (token.start, token.end)
            if key not in best or token.context > best[key].context:
                best[key] = token
    return [best[k] for k in sorted(best)]


def _tag(label: str) -> tuple[str, str]:
    if label.startswith(("B-", "I-", "E-", "S-", "L-", "U-")):
        return label[0], label[2:]
    return "I", label


def _entity(label: str, score: float, start: int, end: int) -> dict[str, object]:
    return {"label": label, "score": float(score), "start": int(start), "end": int(end)}


def _word_groups(tokens: Sequence[Token]) -> list[list[Token]]:
    groups: list[list[Token]] = []
    for token in tokens:
        if groups and token.word_id is not None and token.word_id == groups[-1][-1].word_id:
            groups[-1].append(token)
        else:
            groups.append([token])
    return groups


def _word_scores(group: Sequence[Token], strategy: str) -> np.ndarray:
    if strategy == "first":
        return group[0].scores
    if strategy == "max":
        return max(group, key=lambda t: float(t.scores.max())).scores
    return np.mean(np.stack([t.scores for t in group]), axis=0)


def aggregate(
    tokens: Sequence[Token],
    text: str,
    id2label: Mapping[int, str],
    strategy: str = "first",
) -> list[dict[str, object]]:
    """Turn scored tokens into entities ``{"label", "score", "start", "end", "word"}``.

    - ``none``: one entity per token, labelled with the raw tag (``B-PER``).
    - ``simple``: tokens grouped by tag; a word may be split between entities.
    - ``first``/``average``/``max``: each word first takes the label of its first
      token, of its averaged scores, or of its most confident token, so subword
      fragments never become entities of their own; then words are grouped.

    ``O`` is dropped. ``word`` is always ``text[start:end]``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown aggregation strategy {strategy!r}")
    units: list[tuple[str, float, int, int]] = []  # label, score, start, end
    if strategy in ("none", "simple"):
        for t in tokens:
            k = int(np.argmax(t.scores))
            units.append((id2label[k], float(t.scores[k]), t.start, t.end))
    else:
        for group in _word_groups(tokens):
            scores = _word_scores(group, strategy)
            k = int(np.argmax(scores))
            units.append((id2label[k], float(scores[k]), group[0].start, group[-1].end))

    if strategy == "none":
        entities = [_entity(lab, s, a, b) for lab, s, a, b in units if _tag(lab)[1] != "O"]
    else:
        entities = []
        run: list[tuple[str, float, int, int]] = []
        for unit in [*units, ("O", 0.0, -1, -1)]:  # sentinel flushes the last run
            bi, tag = _tag(unit[0])
            last_bi, last_tag = _tag(run[-1][0]) if run else ("", "")
            # B/S/U open an entity and E/L/S/U close one (IOB1, IOB2, BIOES and BILOU alike).
            if run and tag == last_tag and bi not in "BSU" and last_bi not in "ELSU" and unit[2] >= 0:
                run.append(unit)
                continue
            if run and _tag(run[-1][0])[1] != "O":
                entities.append(_entity(_tag(run[0][0])[1], float(np.mean([u[1] for u in run])), run[0][2], run[-1][3]))
            run = [unit]
    for entity in entities:
        entity["word"] = text[entity["start"] : entity["end"]]  # type: ignore[index,misc]
    return entities
