"""How close a distilled static model stays to its teacher: measured after every ``nlu distill``, offline.

Two measures, both on the project's own embedding path (`nlu_toolkit.tasks.embed.Embedder`, which loads
the teacher and the static folder alike, vectors normalised, cosine as the score):

- **agreement** on a fixed built-in set of sentences (`AGREEMENT_SENTENCES`: the probe sentences and
  paraphrases and topical neighbours of them): the Spearman correlation of the teacher's and the
  student's cosines over all pairs ``i < j``, the share of sentences whose nearest neighbour is the same
  for both models, and the mean overlap of their top-5 neighbours;
- optionally, on a scored-pairs file (``eval``: what `load_eval_data("embedding", ...)` reads, a
  sentence1/sentence2/score table or a raw STS Benchmark file): the Spearman correlation of the
  student's and of the teacher's cosine with the gold scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.engine.probe import PROBE_SENTENCES
from nlu_toolkit.errors import TrainingDataError

#: Sentences that bring every probe sentence company: a paraphrase or two, and neighbours by topic
#: (music, animals, shopping, films, politics, sport, technology, weather, food), so nearest neighbours
#: are meaningful and the pair cosines spread from near-duplicates to unrelated texts.
EXTRA_SENTENCES = [
    "Someone is playing an instrument.",
    "A woman plays the violin on stage.",
    "A fast brown fox leaps over a sleepy dog by the river.",
    "Two dogs are chasing each other across the garden.",
    "Your refund will be paid within a week of the return.",
    "Please email our support team about a missing refund.",
    "This sentence mixes accents, a smiley and the number pi.",
    "What a wonderful movie: great performances and a moving finale.",
    "The film was boring, overlong and badly written.",
    "German and French leaders held talks about EU spending in Paris.",
    "The tech giant is expanding in Germany and recruiting hundreds of software engineers.",
    "The restaurant's food was great even though the waiters were slow.",
    "It was better than I expected.",
    "The package was lost and customer service never picked up.",
    "Delegates gathered at the UN headquarters in Manhattan.",
    "That's just the way things are.",
    "Barcelona won the match against Real Madrid three goals to one.",
    "The striker scored twice in the second half.",
    "Terrible product, it stopped working within two days.",
    "A documentary film about the rainforest and the people who live along the Amazon.",
    "Heavy rain and strong winds are expected tomorrow morning.",
    "The weather will be sunny and warm all weekend.",
    "Add the flour and sugar, then bake the cake for forty minutes.",
    "This soup recipe needs onions, carrots and a litre of stock.",
    "The new phone has a faster processor and a better camera.",
    "Update your laptop's operating system to fix the security flaw.",
    "The central bank raised interest rates by half a percentage point.",
    "Inflation slowed for the third month in a row.",
    "The children built a sandcastle on the beach.",
    "A cat is sleeping on the windowsill in the sun.",
    "The train to London was delayed by an hour.",
    "Our flight was cancelled because of the storm.",
]

#: The built-in sentences of the agreement measure (48: 1,128 pairs).
AGREEMENT_SENTENCES = [*PROBE_SENTENCES, *EXTRA_SENTENCES]

#: Neighbours compared per sentence by the top-k overlap.
TOP_K = 5


def load_scored_pairs(path: str | Path) -> tuple[list[str], list[str], list[float], dict[str, Any]]:
    """The scored sentence pairs of ``path`` (sentence1, sentence2, score in [0, 1]), read before any work.

    Raises:
        TrainingDataError: the file is missing or unreadable, holds unscored (anchor/positive) pairs, or
            fewer than 2 pairs (a correlation needs two).
    """
    from nlu_toolkit.train.data import load_eval_data

    ds, info = load_eval_data("embedding", path)
    if info.get("pair_kind") != "scored":
        raise TrainingDataError(
            f"{path}: {{=eval}} holds pairs without scores (columns {', '.join(info.get('columns', {}).values())})",
            "give scored pairs: columns sentence1, sentence2, score, or a raw STS Benchmark file",
        )
    if ds.num_rows < 2:
        raise TrainingDataError(
            f"{path}: {{=eval}} holds only {ds.num_rows} scored pair; a correlation needs at least 2",
            "give more scored sentence pairs",
        )
    return list(ds["sentence1"]), list(ds["sentence2"]), [float(s) for s in ds["score"]], info


def measure_quality(
    teacher: str | None,
    student: str,
    pairs: tuple[list[str], list[str], list[float], dict[str, Any]] | None = None,
    *,
    eval_file: str | None = None,
) -> dict[str, Any]:
    """The agreement of ``student`` (a static folder) with ``teacher`` (a model spec), and the eval scores.

    Returns the `DistillResult` quality fields: ``agreement_spearman``, ``agreement_nearest``,
    ``agreement_top5``, ``agreement_sentences``, ``agreement_pairs``, ``eval_file``, ``eval_pairs``,
    ``eval_spearman`` (student), ``eval_teacher_spearman`` (the last four None without ``pairs``).
    """
    from nlu_toolkit.tasks.embed import Embedder

    models = {"teacher": Embedder(teacher, normalize=True), "student": Embedder(student, normalize=True)}
    found: dict[str, Any] = agreement(
        models["teacher"].encode(AGREEMENT_SENTENCES)[0], models["student"].encode(AGREEMENT_SENTENCES)[0]
    )
    found.update(eval_file=None, eval_pairs=None, eval_spearman=None, eval_teacher_spearman=None)
    if pairs is not None:
        left, right, gold, _ = pairs
        scores = {name: gold_spearman(embedder, left, right, gold) for name, embedder in models.items()}
        found.update(
            eval_file=eval_file,
            eval_pairs=len(gold),
            eval_spearman=scores["student"],
            eval_teacher_spearman=scores["teacher"],
        )
    return found


def agreement(teacher: np.ndarray, student: np.ndarray) -> dict[str, Any]:
    """Spearman of the pair cosines (``i < j``), nearest-neighbour agreement and top-5 overlap of two models'
    unit vectors for the same sentences (rows)."""
    from nlu_toolkit.core.metrics import sts_metrics

    n = len(teacher)
    sim_t, sim_s = teacher @ teacher.T, student @ student.T
    upper = np.triu_indices(n, k=1)
    spearman = sts_metrics(sim_t[upper].tolist(), sim_s[upper].tolist())["spearman"]
    np.fill_diagonal(sim_t, -np.inf)  # a sentence is not its own neighbour
    np.fill_diagonal(sim_s, -np.inf)
    k = min(TOP_K, n - 1)
    top_t, top_s = np.argsort(-sim_t, axis=1)[:, :k], np.argsort(-sim_s, axis=1)[:, :k]
    nearest = float(np.mean(top_t[:, 0] == top_s[:, 0]))
    overlap = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top_t, top_s, strict=True)]))
    return {
        "agreement_spearman": spearman,
        "agreement_nearest": nearest,
        "agreement_top5": overlap,
        "agreement_sentences": n,
        "agreement_pairs": len(upper[0]),
    }


def gold_spearman(embedder: Any, left: list[str], right: list[str], gold: list[float]) -> float | None:
    """Spearman of ``embedder``'s cosine of each pair with the gold scores (None when either is constant)."""
    from nlu_toolkit.core.metrics import sts_metrics

    a, _ = embedder.encode(left)
    b, _ = embedder.encode(right)
    return sts_metrics(gold, (a * b).sum(axis=1).tolist())["spearman"]


def quality_card(result: dict[str, Any]) -> list[str]:
    """The model card's "Measured quality" section, from a `DistillResult`'s fields."""
    lines = [
        "## Measured quality",
        "",
        "Measured by `nlu distill` right after distilling, with the teacher and the student embedding the same",
        "texts (vectors normalised, cosine similarity).",
        "",
        "| | |",
        "|---|---|",
        f"| agreement with the teacher (Spearman of pair cosines) | {_number(result['agreement_spearman'])} |",
        f"| same nearest neighbour as the teacher | {_number(result['agreement_nearest'])} |",
        f"| top-{TOP_K} neighbour overlap with the teacher | {_number(result['agreement_top5'])} |",
        f"| agreement set | {result['agreement_sentences']} built-in sentences, {result['agreement_pairs']} pairs |",
    ]
    if result.get("eval_pairs"):
        lines += [
            f"| eval file | {Path(str(result['eval_file'])).name} ({result['eval_pairs']} scored pairs) |",
            f"| student Spearman vs gold | {_number(result['eval_spearman'])} |",
            f"| teacher Spearman vs gold | {_number(result['eval_teacher_spearman'])} |",
        ]
    else:
        lines.append("| eval file | none (no scored pairs were given) |")
    return [*lines, ""]


def _number(value: float | None) -> str:
    return "undefined (constant scores)" if value is None else f"{value:.4f}"
