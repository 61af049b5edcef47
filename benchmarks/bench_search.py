"""Search latency and recall@10: exact, int8/ubinary with rescoring, and approximate (usearch HNSW).

For each corpus size (default 100,000 and 1,000,000 seeded random unit vectors
of dimension 384, float32) the script measures:

- exact search (`semantic_search`, normalized fast path): latency of a single
  query (median over ``--single`` queries) and per query amortised over a batch
  of ``--queries`` queries; the peer ``sentence_transformers.util.semantic_search``
  on the same batch, with the ratio. Its top-10 is the ground truth.
- quantized search (`quantized_search`, int8 and ubinary codes, rescored with
  the float vectors, multiplier 4): quantize time, latencies, recall@10.
- approximate search (`nlu_toolkit.search.ann.AnnIndex`, usearch HNSW, f32, M=16,
  expansion_add=128): build time, then for each ``--ef`` (expansion_search)
  latency and recall@10.

Uniform random vectors are the hardest case for HNSW (no neighbourhood
structure, intrinsic dimension = 384); ``--data clustered`` draws Gaussian
blobs instead, closer to real sentence embeddings.

Building an HNSW graph is the slow part: 250-1,300 vectors/s on 2 busy cores,
so usearch is skipped above ``--ann-max-n`` (100,000) unless raised; a 1M
build takes 13 min with ``--expansion-add 64`` and ~30 min at the default 128.
The default run takes about 10 minutes on 2 cores.

    python benchmarks/bench_search.py                             # --sizes 100000,1000000, random data
    python benchmarks/bench_search.py --sizes 100000 --data clustered --ef 16,32,64,128
    python benchmarks/bench_search.py --sizes 1000000 --data clustered --no-peer --ann-max-n 1000000 \
        --expansion-add 64 --ef 64,128,256,512
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

from nlu_toolkit.core.retrieval import quantize, quantized_search, semantic_search


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    try:
        import usearch

        usearch_version = usearch.__version__
    except ImportError:
        usearch_version = "not installed"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads, "
        f"{torch.backends.cpu.get_cpu_capability()}), numpy {np.__version__}, usearch {usearch_version}, "
        f"python {platform.python_version()}, load average at start {load[0]}"
    )


def unit_rows(n: int, dim: int, rng: np.random.Generator, centres: np.ndarray | None) -> np.ndarray:
    """``(n, dim)`` float32 unit vectors, generated in blocks to bound the float64 temporaries."""
    out = np.empty((n, dim), dtype=np.float32)
    for a in range(0, n, 100_000):
        b = min(a + 100_000, n)
        x = rng.standard_normal((b - a, dim), dtype=np.float32)
        if centres is not None:
            x = centres[rng.integers(0, len(centres), b - a)] + 0.5 * x / np.sqrt(dim, dtype=np.float32)
        out[a:b] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def recall_at(hits: list[list[tuple[int, float]]], truth: list[list[tuple[int, float]]], k: int = 10) -> float:
    return float(
        np.mean([len({i for i, _ in h[:k]} & {i for i, _ in t[:k]}) / k for h, t in zip(hits, truth, strict=True)])
    )


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def single_latency(fn, queries: np.ndarray, n: int) -> float:
    """Median seconds of ``fn(query)`` over the first ``n`` queries, one at a time, after one warm-up."""
    fn(queries[:1])
    times = []
    for q in queries[:n]:
        start = time.perf_counter()
        fn(q[None, :])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def bench_size(n: int, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    centres = None
    if args.data == "clustered":
        centres = unit_rows(max(10, n // 100), args.dim, rng, None)  # blobs of ~100 rows
    corpus, gen_s = timed(unit_rows, n, args.dim, rng, centres)
    queries = unit_rows(args.queries, args.dim, rng, centres)
    print(f"\n=== n = {n:,} x {args.dim} ({args.data}), {args.queries} queries; generated in {gen_s:.1f} s ===")
    print(f"{'method':42s} {'build':>10s} {'1 query':>11s} {'batch/query':>11s} {'recall@10':>9s}")

    if args.build_only:
        bench_ann(n, corpus, queries, None, args)
        return
    exact = lambda q: semantic_search(q, corpus, top_k=10, normalized=True)  # noqa: E731
    single = single_latency(exact, queries, args.single)
    truth, batch_s = timed(exact, queries)
    print(f"{'exact (ours, normalized fast path)':42s} {'-':>10s} {ms(single)} {ms(batch_s / len(queries))} {1.0:9.3f}")
    cosine, cosine_s = timed(semantic_search, queries, corpus, top_k=10)
    print(f"{'exact (ours, cosine: divides by norms)':42s} {'-':>10s} {'':>11s} {ms(cosine_s / len(queries))} ", end="")
    print(f"{recall_at(cosine, truth):9.3f}")
    if not args.no_peer:
        from sentence_transformers import util

        corpus_t, queries_t = torch.from_numpy(corpus), torch.from_numpy(queries)
        util.semantic_search(queries_t[:1], corpus_t[:1000], top_k=10)  # warm-up
        peer, peer_s = timed(util.semantic_search, queries_t, corpus_t, top_k=10)
        peer_hits = [[(h["corpus_id"], h["score"]) for h in row] for row in peer]
        same = sum([i for i, _ in a] == [i for i, _ in b] for a, b in zip(cosine, peer_hits, strict=True))
        print(
            f"{'exact (peer: sentence_transformers.util)':42s} {'-':>10s} {'':>11s} {ms(peer_s / len(queries))} ",
            end="",
        )
        print(f"{recall_at(peer_hits, truth):9.3f}")
        print(
            f"  ratio peer/ours (cosine, batch): {peer_s / cosine_s:.2f}x; "
            f"identical top-10 lists: {same}/{len(queries)}"
        )

    for precision in ("int8", "ubinary"):
        (codes, ranges), q_s = timed(quantize, corpus, precision)
        search = lambda q, codes=codes, ranges=ranges, precision=precision: quantized_search(  # noqa: E731
            q, codes, precision, ranges=ranges, top_k=10, rescore_embeddings=corpus, rescore_multiplier=4
        )
        single = single_latency(search, queries, args.single)
        hits, batch_s = timed(search, queries)
        name = f"{precision} + rescore x4 ({codes.nbytes / 2**20:.0f} MiB codes)"
        print(f"{name:42s} {q_s:9.1f}s {ms(single)} {ms(batch_s / len(queries))} {recall_at(hits, truth):9.3f}")
        del codes

    bench_ann(n, corpus, queries, truth, args)


def bench_ann(n: int, corpus: np.ndarray, queries: np.ndarray, truth: list | None, args: argparse.Namespace) -> None:
    try:
        from nlu_toolkit.search.ann import AnnIndex
    except ImportError:  # pragma: no cover
        print("usearch not installed: pip install 'nlu-toolkit[ann]'")
        return
    import usearch  # noqa: F401  (fails here, not inside the timing, when the extra is missing)

    if n > args.ann_max_n:
        print(f"usearch: skipped above --ann-max-n {args.ann_max_n:,}")
        return
    name = f"usearch HNSW {args.ann_dtype} M={args.connectivity} ef_add={args.expansion_add}"
    cached = None
    if args.ann_cache:
        key = f"{args.data}-{n}-{args.dim}-seed{args.seed}-{args.ann_dtype}-M{args.connectivity}-ef{args.expansion_add}"
        cached = os.path.join(args.ann_cache, key + ".usearch")
    if cached and os.path.exists(cached):
        index, load_s = timed(AnnIndex.load, cached, args.dim)
        print(f"{name}: loaded from {cached} in {load_s:.1f} s (build time: see the run that saved it)")
    else:
        index, build_s = timed(
            AnnIndex.build,
            corpus,
            dtype=args.ann_dtype,
            connectivity=args.connectivity,
            expansion_add=args.expansion_add,
        )
        print(f"{name}: built in {build_s:.1f} s ({n / build_s:,.0f} vectors/s)")
        if cached:
            os.makedirs(args.ann_cache, exist_ok=True)
            index.save(cached)
            print(f"  saved to {cached}")
    if args.build_only:
        return
    for ef in args.ef:
        index.expansion_search = ef
        single = single_latency(lambda q, index=index: index.search(q, 10), queries, len(queries))
        hits, batch_s = timed(index.search, queries, 10)
        name = f"  usearch expansion_search={ef}"
        print(f"{name:42s} {'':>10s} {ms(single)} {ms(batch_s / len(queries))} {recall_at(hits, truth):9.3f}")
    del index


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="corpus sizes, comma-separated")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100, help="queries in the batch and for recall")
    parser.add_argument("--single", type=int, default=20, help="queries timed one at a time (exact/quantized)")
    parser.add_argument("--ef", default="16,32,64,128,256", help="usearch expansion_search values")
    parser.add_argument("--ann-dtype", default="f32", choices=("f32", "bf16", "f16", "i8"), help="usearch storage")
    parser.add_argument(
        "--ann-max-n", type=int, default=100_000, help="skip usearch above this size (default 100,000: see above)"
    )
    parser.add_argument("--connectivity", type=int, default=16)
    parser.add_argument("--expansion-add", type=int, default=128)
    parser.add_argument("--data", choices=("random", "clustered"), default="random")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-peer", action="store_true", help="skip sentence-transformers' semantic_search")
    parser.add_argument(
        "--ann-cache",
        default=None,
        help="folder to save each built HNSW index in and reload it from (keyed by data, size and build settings), "
        "so a slow build can be timed later on a quiet machine",
    )
    parser.add_argument("--build-only", action="store_true", help="build (and cache) the HNSW index, search nothing")
    args = parser.parse_args()
    args.ef = [int(v) for v in args.ef.split(",")]
    print("machine:", machine())
    print("command:", " ".join(["python", *sys.argv]))
    for n in (int(v) for v in args.sizes.split(",")):
        bench_size(n, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
