"""Time to cluster 50,000 embeddings (dimension 384): community detection (ours vs sentence-transformers) and k-means.

Data: seeded synthetic sentence-embedding-like unit vectors: ``--clusters``
topics of Zipf-like sizes (a few big, many small), each row its topic's
centre plus noise (cosine to the centre ~0.9, between rows of a topic ~0.8),
and 5% unrelated rows that belong nowhere.

Measured in one run, on the same array:

- `community_detection` (ours) against ``sentence_transformers.util.community_detection``
  (threshold 0.75, min size 10): seconds, the ratio, and whether both return
  the same communities (same centres and member sets);
- ``cluster_embeddings(method="kmeans", k=50)``, and ``k="auto"`` (k chosen
  in 2..20 by cosine silhouette on a 5,000-row sample, then fitted on all rows);
- adjusted Rand index of each result against the generating topics.

    python benchmarks/bench_cluster.py                   # --n 50000 --dim 384 --clusters 50
    python benchmarks/bench_cluster.py --n 20000 --skip-auto
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

from nlu_toolkit.core.cluster import cluster_embeddings
from nlu_toolkit.core.retrieval import community_detection


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import sklearn

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else "?"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, python {platform.python_version()}, "
        f"load average at start {load}"
    )


def topics(n: int, dim: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n, dim)`` unit vectors and their topic (``-1`` for the 5% unrelated rows)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, k + 1) ** 0.7  # Zipf-like topic sizes
    truth = rng.choice(k, size=n, p=weights / weights.sum())
    truth[rng.random(n) < 0.05] = -1
    x = rng.standard_normal((n, dim), dtype=np.float32) * np.float32(0.5 / np.sqrt(dim))
    x[truth >= 0] += centres[truth[truth >= 0]]
    x[truth < 0] = rng.standard_normal(((truth < 0).sum(), dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), truth


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def labels_of(communities: list[list[int]], n: int) -> np.ndarray:
    labels = np.full(n, -1)
    for cid, members in enumerate(communities):
        labels[members] = cid
    return labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--clusters", type=int, default=50, help="generating topics (and k for k-means)")
    parser.add_argument("--threshold", type=float, default=0.75)
    parser.add_argument("--min-size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-peer", action="store_true", help="skip sentence-transformers' community_detection")
    parser.add_argument("--skip-auto", action="store_true", help="skip k-means with k='auto'")
    args = parser.parse_args()
    from sentence_transformers import util
    from sklearn.metrics import adjusted_rand_score

    print("machine:", machine())
    print("command:", " ".join(["python", *sys.argv]))
    x, truth = topics(args.n, args.dim, args.clusters, args.seed)
    print(f"data: {args.n:,} x {args.dim} unit vectors, {args.clusters} topics, {(truth < 0).sum():,} unrelated rows")
    community_detection(x[:2000], threshold=args.threshold, min_size=args.min_size)  # warm-up
    status = 0

    ours, ours_s = timed(community_detection, x, threshold=args.threshold, min_size=args.min_size)
    ari = adjusted_rand_score(truth, labels_of(ours, len(x)))
    print(f"community detection (ours):                {ours_s:7.1f} s  {len(ours)} communities, ARI {ari:.3f}")
    if not args.skip_peer:
        peer, peer_s = timed(util.community_detection, x, threshold=args.threshold, min_community_size=args.min_size)
        same = len(ours) == len(peer) and all(
            a[0] == b[0] and sorted(a) == sorted(b) for a, b in zip(ours, peer, strict=True)
        )
        print(f"community detection (sentence-transformers): {peer_s:5.1f} s  {len(peer)} communities")
        print(f"  ratio sentence-transformers / ours: {peer_s / ours_s:.2f}x; same communities: {same}")
        status |= 0 if same else 1

    labels, km_s = timed(cluster_embeddings, x, method="kmeans", k=args.clusters)
    print(
        f"k-means k={args.clusters}:                            {km_s:7.1f} s  ARI {adjusted_rand_score(truth, labels):.3f}"
    )
    if not args.skip_auto:
        labels, auto_s = timed(cluster_embeddings, x, method="kmeans", k="auto")
        ari = adjusted_rand_score(truth, labels)
        print(f"k-means k=auto (5,000-row silhouette):     {auto_s:7.1f} s  k={labels.max() + 1}, ARI {ari:.3f}")
    return status


if __name__ == "__main__":
    sys.exit(main())
