"""Fusing a dense (vector) and a lexical (BM25) ranking into one: reciprocal rank fusion or a weighted score.

A search ``mode`` is ``dense`` (the vectors alone, the default), ``lexical`` (BM25 alone) or ``hybrid``
(both, fused). Each hit of a ``lexical`` or ``hybrid`` search says which ranker(s) found it and at what
rank (``"rankers": {"dense": 3, "lexical": 1}``); its ``score`` is the fused one.

- ``rrf`` (reciprocal rank fusion, Cormack et al. 2009): ``score = sum over rankers of 1 / (rrf_k + rank)``,
  ranks from 1; a ranker that did not find the document adds nothing. ``rrf_k`` (default 60) damps the
  weight of the first ranks.
- ``weighted``: each ranker's scores are min-max normalised over its own candidates (best 1, worst 0; a
  single candidate, or all equal, gives 1), then ``score = alpha * dense + (1 - alpha) * lexical``; a
  ranker that did not find the document adds 0. ``alpha`` (default 0.5) is the weight of the dense side.

Ties are broken by the better (lower) best rank, then by the dense rank, then by the key, so fusion is
deterministic. Pure functions over ``(key, score)`` lists: no model, no index.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from nlu_toolkit.errors import UsageError, check_choice

MODES = ("dense", "lexical", "hybrid")
FUSIONS = ("rrf", "weighted")
RRF_K = 60.0
ALPHA = 0.5
#: Candidates taken from each ranker before fusing: enough that a document ranked modestly by both is seen.
MIN_POOL = 50


@dataclass(frozen=True)
class Ranking:
    """How a search ranks: its ``mode`` and, for ``hybrid``, how the two rankings are fused."""

    mode: str = "dense"
    fusion: str = "rrf"
    rrf_k: float = RRF_K
    alpha: float = ALPHA

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_choice("fusion", self.fusion, FUSIONS)
        if isinstance(self.rrf_k, bool) or not isinstance(self.rrf_k, (int, float)) or not math.isfinite(self.rrf_k):
            raise UsageError(f"{{=rrf_k}} {self.rrf_k!r} is not a number", "give a number >= 0, e.g. 60")
        if self.rrf_k < 0:
            raise UsageError(f"{{=rrf_k}} is {self.rrf_k}, below 0", "give a number >= 0 (the usual value is 60)")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not 0 <= self.alpha <= 1:
            raise UsageError(f"{{=alpha}} {self.alpha!r} is not between 0 and 1", "give the dense weight, e.g. 0.5")

    @property
    def lexical(self) -> bool:
        """Whether the search needs the index's lexical part."""
        return self.mode != "dense"

    def pool(self, wanted: int) -> int:
        """Candidates to take from each ranker for ``wanted`` fused hits."""
        return wanted if self.mode != "hybrid" else max(4 * wanted, MIN_POOL)


@dataclass
class Fused:
    """One fused candidate: its key (a row or an id), fused score, and rank per ranker that found it."""

    key: Hashable
    score: float
    rankers: dict[str, int]


def fuse(
    dense: Sequence[tuple[Hashable, float]],
    lexical: Sequence[tuple[Hashable, float]],
    ranking: Ranking,
) -> list[Fused]:
    """The candidates of both rankings (each best first), fused as ``ranking`` says, best first.

    In mode ``dense`` or ``lexical`` only that ranking is used and a hit keeps its ranker's own score.
    """
    lists = {"dense": list(dense), "lexical": list(lexical)}
    if ranking.mode != "hybrid":
        own = lists[ranking.mode]
        return [Fused(key, float(score), {ranking.mode: rank}) for rank, (key, score) in enumerate(own, 1)]
    ranks: dict[Hashable, dict[str, int]] = {}
    scores: dict[Hashable, float] = {}
    for name, found in lists.items():
        parts = _normalised([s for _, s in found]) if ranking.fusion == "weighted" else None
        weight = ranking.alpha if name == "dense" else 1.0 - ranking.alpha
        for rank, (key, _) in enumerate(found, 1):
            if name in ranks.setdefault(key, {}):
                continue  # a key listed twice by one ranker counts once, at its best rank
            ranks[key][name] = rank
            add = 1.0 / (ranking.rrf_k + rank) if parts is None else weight * parts[rank - 1]
            scores[key] = scores.get(key, 0.0) + add
    fused = [Fused(key, scores[key], dict(sorted(r.items()))) for key, r in ranks.items()]
    fused.sort(key=lambda f: (-f.score, min(f.rankers.values()), f.rankers.get("dense", math.inf), str(f.key)))
    return fused


def _normalised(scores: list[float]) -> list[float]:
    """Min-max normalised scores (best 1, worst 0); all equal (or one) gives 1 each."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high - low <= 0 or not math.isfinite(high - low):
        return [1.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]
