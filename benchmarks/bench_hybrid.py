"""Retrieval quality and speed of dense, lexical (BM25) and hybrid search, against the peers on the same data.

Two retrieval tasks made from ../shared/data (see its PROVENANCE.md), searched with the embedded MiniLM:

- **STS-B known-item** (``stsbenchmark/sts-<split>.csv``): the pairs of the split with gold score >= 4 (the two
  sentences mean nearly the same). Each such pair's sentence1 is a query; the corpus is every distinct
  sentence2 of the split (all pairs, whatever their score); the one relevant document is the pair's own
  sentence2 (the same text, once in the corpus). Paraphrases share many words, so BM25 is strong here too.
- **SST-2 same-sentiment neighbours** (``sst2/<split>.tsv``; for train a seeded sample of ``--sst-sample``
  sentences, 872 by default as many as dev has): the sentences are split in two halves by a seeded
  shuffle; each sentence of the second half is a query over the first half, and every corpus sentence with the
  query's label (positive/negative) is relevant. It asks whether the neighbours a ranker brings share the
  query's sentiment: words alone are weak evidence of it (a different task from STS-B, where they are strong).

For each task and mode (``dense``; ``lexical``; ``hybrid``: the default fusion, weighted with alpha 0.9;
``hybrid-rrf``: RRF k=60, the former default)
it reports MRR@10 and nDCG@10 (binary gains) over the queries, and the time per query of one batched
``SemanticIndex.search`` call (query encoding included; the corpus is encoded once, before, untimed).

Peers, on the same corpus: ``sentence_transformers.util.semantic_search`` on the same corpus vectors after
``SentenceTransformer.encode`` of the queries (dense), ``bm25s`` alone (its own tokenize + ``retrieve``,
lexical; it returns k documents even when they share no word with the query), and as hybrid peer RRF (k=60)
computed here over those two peers' top-50 (neither library fuses by itself). Their quality should match
ours mode for mode; the time ratio is ours / peer.

    python benchmarks/bench_hybrid.py                    # STS-B dev + SST-2 dev, every query
    python benchmarks/bench_hybrid.py --n 50 --tasks sts # a dry run: 50 pairs
    python benchmarks/bench_hybrid.py --split train      # STS-B train (5,749 pairs), an SST-2 train sample
    python benchmarks/bench_hybrid.py --split train --grid  # quality only, over the fusion grid (GRID)

The default fusion and its alpha were chosen with ``--split train --grid`` (the best mean MRR@10 over the two
train tasks), never on the dev sets that are reported.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import print_machine

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
K = 10
MODES = {
    "dense": {"mode": "dense"},
    "lexical": {"mode": "lexical"},
    "hybrid": {"mode": "hybrid"},
    "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf", "rrf_k": 60.0},
}
#: ``--grid``: the fusions tried on the train tasks to choose the default.
GRID = {
    "dense": {"mode": "dense"},
    "lexical": {"mode": "lexical"},
    **{f"rrf k={k:g}": {"mode": "hybrid", "fusion": "rrf", "rrf_k": k} for k in (10.0, 60.0, 100.0)},
    **{f"w a={a:.1f}": {"mode": "hybrid", "fusion": "weighted", "alpha": a} for a in np.arange(0.1, 0.95, 0.1)},
}


def sts_task(split: str, n: int | None) -> tuple[list[str], list[str], list[set[int]]]:
    """(corpus, queries, relevant rows per query) of the STS-B known-item task."""
    pairs = []
    with open(DATA / "stsbenchmark" / f"sts-{split}.csv", encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) >= 7:
                pairs.append((float(row[4]), row[5].strip(), row[6].strip()))
    pairs = pairs[:n] if n else pairs
    corpus = list(dict.fromkeys(s2 for _, _, s2 in pairs))
    row_of = {text: i for i, text in enumerate(corpus)}
    chosen = [(s1, s2) for score, s1, s2 in pairs if score >= 4.0]
    return corpus, [s1 for s1, _ in chosen], [{row_of[s2]} for _, s2 in chosen]


def sst_task(
    n: int | None, split: str = "dev", sample: int = 872, seed: int = 0
) -> tuple[list[str], list[str], list[set[int]]]:
    """(corpus, queries, relevant rows per query) of the SST-2 same-sentiment task (train: a seeded sample)."""
    with open(DATA / "sst2" / f"{split}.tsv", encoding="utf-8") as f:
        rows = [(r["sentence"].strip(), int(r["label"])) for r in csv.DictReader(f, delimiter="\t")]
    if split == "train":
        rows = random.Random(seed + 1).sample(list(dict.fromkeys(rows)), sample)
    random.Random(seed).shuffle(rows)
    rows = rows[:n] if n else rows
    half = len(rows) // 2
    corpus, queries = rows[:half], rows[half:]
    by_label = {label: {i for i, (_, lab) in enumerate(corpus) if lab == label} for label in (0, 1)}
    return [t for t, _ in corpus], [t for t, _ in queries], [by_label[lab] for _, lab in queries]


def scores(ranked: list[list[int]], relevant: list[set[int]]) -> tuple[float, float]:
    """MRR@10 and nDCG@10 (binary gains) averaged over the queries."""
    mrr = ndcg = 0.0
    for rows, rel in zip(ranked, relevant, strict=True):
        top = rows[:K]
        first = next((r for r, row in enumerate(top, 1) if row in rel), None)
        mrr += 1.0 / first if first else 0.0
        dcg = sum(1.0 / math.log2(r + 1) for r, row in enumerate(top, 1) if row in rel)
        ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(rel), K) + 1))
        ndcg += dcg / ideal if ideal else 0.0
    return mrr / len(ranked), ndcg / len(ranked)


def rrf(*rankings: list[int], k: float = 60.0) -> list[int]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, 1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return sorted(fused, key=lambda row: -fused[row])


def run_grid(name: str, corpus: list[str], queries: list[str], relevant: list[set[int]]) -> dict[str, float]:
    """Quality only (MRR@10, nDCG@10) of every setting of GRID; returns MRR@10 per setting."""
    from nlu_toolkit.search.index import SemanticIndex

    print(f"\n== {name}: {len(queries)} queries, corpus of {len(corpus)} documents")
    index = SemanticIndex.build(corpus, "embedded", hybrid=True)
    encode, encoded = index.embedder.encode, {}  # the queries are encoded once for the whole grid

    def cached(texts: list[str]):
        if tuple(texts) not in encoded:
            encoded[tuple(texts)] = encode(texts)
        return encoded[tuple(texts)]

    index.embedder.encode = cached
    mrrs = {}
    for label, settings in GRID.items():
        results = index.search(queries, top_k=K, **settings)
        mrr, ndcg = scores([[h.index for h in r.hits] for r in results], relevant)
        mrrs[label] = mrr
        print(f"{label:12} MRR@10 {mrr:.4f}  nDCG@10 {ndcg:.4f}", flush=True)
    index.close()
    return mrrs


def run_task(name: str, corpus: list[str], queries: list[str], relevant: list[set[int]], st, repeats: int) -> None:
    import bm25s
    from sentence_transformers import util

    from nlu_toolkit.search.index import SemanticIndex

    print(f"\n== {name}: {len(queries)} queries, corpus of {len(corpus)} documents")
    started = time.perf_counter()
    index = SemanticIndex.build(corpus, "embedded", hybrid=True)
    print(f"index build (encode + BM25): {time.perf_counter() - started:.1f} s")
    ours: dict[str, tuple[float, float, float]] = {}
    for label, settings in MODES.items():
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            results = index.search(queries, top_k=K, **settings)
            best = min(best, time.perf_counter() - t0)
        ranked = [[h.index for h in r.hits] for r in results]
        ours[label] = (*scores(ranked, relevant), 1000 * best / len(queries))

    # Peers on the same corpus vectors and texts.
    corpus_vectors = index.embeddings
    pool = max(4 * K, 50)
    retriever = bm25s.BM25()  # indexed once, untimed, as our index was
    retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)
    best_dense = best_lex = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        q = st.encode(queries, normalize_embeddings=True, convert_to_numpy=True)
        dense_hits = util.semantic_search(q, corpus_vectors, top_k=pool)
        best_dense = min(best_dense, time.perf_counter() - t0)
        t0 = time.perf_counter()
        tokens = bm25s.tokenize(queries, stopwords="en", return_ids=False, show_progress=False)
        docs, _scores = retriever.retrieve(tokens, k=min(pool, len(corpus)), show_progress=False)
        best_lex = min(best_lex, time.perf_counter() - t0)
    peer_dense = [[h["corpus_id"] for h in hits] for hits in dense_hits]
    peer_lex = [list(map(int, row)) for row in np.asarray(docs)]
    peers = {
        "dense": (*scores(peer_dense, relevant), 1000 * best_dense / len(queries)),
        "lexical": (*scores(peer_lex, relevant), 1000 * best_lex / len(queries)),
        "hybrid": (
            *scores([rrf(d, x) for d, x in zip(peer_dense, peer_lex, strict=True)], relevant),
            1000 * (best_dense + best_lex) / len(queries),
        ),
    }
    print(f"{'mode':10} {'MRR@10':>7} {'nDCG@10':>8} {'ms/query':>9} | {'peer':24} {'MRR@10':>7} {'nDCG@10':>8} "
          f"{'ms/query':>9} {'time ratio':>10}")  # fmt: skip
    names = {"dense": "st util.semantic_search", "lexical": "bm25s", "hybrid": "RRF(st, bm25s)"}
    for label, (mrr, ndcg, ms) in ours.items():
        line = f"{label:10} {mrr:7.4f} {ndcg:8.4f} {ms:9.3f} |"
        if label in peers:
            p_mrr, p_ndcg, p_ms = peers[label]
            line += f" {names[label]:24} {p_mrr:7.4f} {p_ndcg:8.4f} {p_ms:9.3f} {ms / p_ms:9.2f}x"
        print(line)
    hybrid, dense = ours["hybrid"], ours["dense"]  # the default fusion
    print(f"hybrid - dense: MRR@10 {hybrid[0] - dense[0]:+.4f}, nDCG@10 {hybrid[1] - dense[1]:+.4f}")
    index.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="Use the first N STS-B pairs / N SST-2 sentences.")
    parser.add_argument("--split", default="dev", choices=["dev", "train"], help="Split of both tasks (default dev).")
    parser.add_argument("--sst-sample", type=int, default=872, help="--split train: SST-2 sentences sampled.")
    parser.add_argument("--grid", action="store_true", help="Quality only, for every fusion setting of GRID.")
    parser.add_argument("--tasks", default="sts,sst", help="Comma-separated: sts, sst.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs per mode; the fastest counts.")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads.")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"no data at {DATA}: this benchmark needs ../shared/data")
    print_machine(args.threads)
    from sentence_transformers import SentenceTransformer

    from nlu_toolkit.models.embedded import embedded_path

    st = SentenceTransformer(str(embedded_path()), device="cpu")
    tasks = args.tasks.split(",")
    sst_name = f"SST-2 {args.split} same-sentiment neighbours"
    if args.grid:
        runs = []
        if "sts" in tasks:
            runs.append(run_grid(f"STS-B {args.split} known-item (score >= 4)", *sts_task(args.split, args.n)))
        if "sst" in tasks:
            runs.append(run_grid(sst_name, *sst_task(args.n, args.split, args.sst_sample)))
        mean = {label: sum(r[label] for r in runs) / len(runs) for label in GRID}
        print("\nmean MRR@10 over the tasks: " + ", ".join(f"{k} {v:.4f}" for k, v in mean.items()))
        best = max((k for k in GRID if k not in ("dense", "lexical")), key=lambda k: mean[k])
        print(f"best fusion: {best} (mean MRR@10 {mean[best]:.4f}; dense {mean['dense']:.4f})")
        return
    if "sts" in tasks:
        run_task(f"STS-B {args.split} known-item (score >= 4)", *sts_task(args.split, args.n), st, args.repeats)
    if "sst" in tasks:
        run_task(sst_name, *sst_task(args.n, args.split, args.sst_sample), st, args.repeats)


if __name__ == "__main__":
    main()
