"""Fusing a dense (vector) and a lexical (BM25) ranking into one: reciprocal rank fusion or a weighted score.

A search ``mode`` is ``dense`` (the vectors alone, the default), ``lexical`` (BM25 alone) or ``hybrid``
(both, fused). Each hit of a ``lexical`` or ``hybrid`` search says which ranker(s) found it and at what
rank (``"rankers": {"dense": 3, "lexical": 1}``); its ``score`` is the fused one.

- ``weighted`` (the default): a convex combination of normalised scores (Bruch et al. 2022, "An Analysis
  of Fusion Functions for Hybrid Retrieval", found it more robust than RRF and better given a dense weight
  chosen on training data). Per query, each ranker's scores are min-max normalised over the union of both
  rankers' candidates (best 1, worst 0; all equal gives 1), then ``score = alpha * dense + (1 - alpha) *
  lexical``. A candidate that one ranker did not list gets that ranker's true score where the caller gives
  it (an index folder computes the cosine of a BM25-only candidate from its stored vector, and the BM25
  score of a dense-only one), else a BM25 score of 0 (no term shared) or the dense ranker's worst listed
  score (normalised to 0). ``alpha`` (default 0.9) is the weight of the dense side, chosen on the STS-B and
  SST-2 *train* retrieval tasks of ``benchmarks/bench_hybrid.py --split train --grid`` (alpha 0.1 to 0.9 and
  RRF k 10, 60, 100: the best mean MRR@10, and the only setting not below dense on either task), never on the
  dev sets it reports. BM25 only nudges the order of the dense candidates; it wins where dense scores are close.
- ``rrf`` (reciprocal rank fusion, Cormack et al. 2009): ``score = sum over rankers of 1 / (rrf_k + rank)``,
  ranks from 1; a ranker that did not find the document adds nothing. ``rrf_k`` (default 60) damps the
  weight of the first ranks. Weighs both rankers equally whatever their quality.

Ties are broken by the better (lower) best rank, then by the dense rank, then by the key, so fusion is
deterministic. Pure functions over ``(key, score)`` lists: no model, no index.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from nlu_toolkit.errors import UsageError, check_choice

MODES = ("dense", "lexical", "hybrid")
FUSIONS = ("weighted", "rrf")
#: The default fusion of mode hybrid, and its dense weight (see the module's text for how they were chosen).
FUSION = "weighted"
RRF_K = 60.0
ALPHA = 0.9
#: Candidates taken from each ranker before fusing: enough that a document ranked modestly by both is seen.
MIN_POOL = 50


@dataclass(frozen=True)
class Ranking:
    """How a search ranks: its ``mode`` and, for ``hybrid``, how the two rankings are fused."""

    mode: str = "dense"
    fusion: str = FUSION
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
            raise UsageError(f"{{=alpha}} {self.alpha!r} is not between 0 and 1", "give the dense weight, e.g. 0.9")

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
    fill: Mapping[str, Mapping[Hashable, float]] | None = None,
) -> list[Fused]:
    """The candidates of both rankings (each best first), fused as ``ranking`` says, best first.

    In mode ``dense`` or ``lexical`` only that ranking is used and a hit keeps its ranker's own score.
    ``fill`` (fusion weighted only): per ranker (``"dense"``, ``"lexical"``), the true scores of candidates it
    did not list, by key; they count in the score, not in ``rankers`` (which lists who found the document).
    """
    lists = {"dense": list(dense), "lexical": list(lexical)}
    if ranking.mode != "hybrid":
        own = lists[ranking.mode]
        return [Fused(key, float(score), {ranking.mode: rank}) for rank, (key, score) in enumerate(own, 1)]
    ranks: dict[Hashable, dict[str, int]] = {}
    for name, found in lists.items():
        for rank, (key, _) in enumerate(found, 1):
            ranks.setdefault(key, {}).setdefault(name, rank)  # a key listed twice counts once, at its best rank
    if ranking.fusion == "weighted":
        scores = _weighted(lists, list(ranks), ranking.alpha, fill or {})
    else:
        scores = {key: sum(1.0 / (ranking.rrf_k + rank) for rank in r.values()) for key, r in ranks.items()}
    fused = [Fused(key, scores[key], dict(sorted(r.items()))) for key, r in ranks.items()]
    fused.sort(key=lambda f: (-f.score, min(f.rankers.values()), f.rankers.get("dense", math.inf), str(f.key)))
    return fused


def _weighted(
    lists: dict[str, list[tuple[Hashable, float]]],
    keys: list[Hashable],
    alpha: float,
    fill: Mapping[str, Mapping[Hashable, float]],
) -> dict[Hashable, float]:
    """``alpha * dense + (1 - alpha) * lexical`` per key, each ranker min-max normalised over all ``keys``."""
    total = dict.fromkeys(keys, 0.0)
    for name, found in lists.items():
        own: dict[Hashable, float] = {}
        for key, score in found:
            own.setdefault(key, float(score))
        known = {**{k: float(v) for k, v in fill.get(name, {}).items() if k in total and k not in own}, **own}
        if not known:
            continue
        worst = 0.0 if name == "lexical" else min(known.values())  # BM25 0: no term shared (or none known)
        values = [known.get(key, worst) for key in keys]
        weight = alpha if name == "dense" else 1.0 - alpha
        for key, part in zip(keys, _normalised(values), strict=True):
            total[key] += weight * part
    return total


def _normalised(scores: list[float]) -> list[float]:
    """Min-max normalised scores (best 1, worst 0); all equal (or one) gives 1 each."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high - low <= 0 or not math.isfinite(high - low):
        return [1.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]
