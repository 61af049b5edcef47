"""Lance index search: build time, latency per query, recall@10 and the searching process's peak RSS.

``--n`` seeded unit vectors (default 1,000,000 x 384, as ``bench_search.py`` makes them, its
generator reused; ``--data clustered`` by default, Gaussian blobs like real sentence embeddings,
``--data random`` the hardest case) are written to a Lance table with the toolkit's own layout and
vector index (`nlu_toolkit.search.lance_index`: ``finish_lance_index``, IVF-PQ with ~sqrt(n)
partitions and dim/8 sub-vectors). Then a SEPARATE process opens the table and searches it, so its
peak RSS is what a server replica needs, not the generator's memory: for each ``--nprobes`` x
``--refine`` pair, the median latency of one query at a time over ``--queries`` queries and the
recall@10 against exact search (numpy brute force over every vector, in this process).

Goal (issue 16): recall@10 >= 0.95 at under 10 ms per query, with peak RSS well under the vectors'
size (n x dim x 4 bytes). The toolkit searches with ``NPROBES`` and ``REFINE_FACTOR`` of
``lance_index.py``; this grid is how they were chosen.

    python benchmarks/bench_lance.py                   # 1M x 384, clustered; ~1.5 GB of vectors, run it alone
    python benchmarks/bench_lance.py --n 20000         # a dry run (seconds)
    python benchmarks/bench_lance.py --n 1000000 --nprobes 16,32,64 --refine 1,5,10,20 --keep /data/bench.lance
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def write_table(uri: Path, n: int, dim: int, seed: int, data: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Generate the corpus and queries, write the corpus as a Lance table; returns (corpus, queries, seconds)."""
    import lancedb
    import pyarrow as pa

    sys.path.insert(0, str(HERE))
    from bench_search import unit_rows  # the same generator as the search benchmark

    rng = np.random.default_rng(seed)
    centres = unit_rows(max(10, n // 100), dim, rng, None) if data == "clustered" else None
    corpus = unit_rows(n, dim, rng, centres)
    queries = unit_rows(1000, dim, rng, centres)
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("vector", pa.list_(pa.float32(), dim))])

    def batches():
        for a in range(0, n, 50_000):
            b = min(a + 50_000, n)
            ids = pa.array([str(i) for i in range(a, b)], pa.string())
            vectors = pa.FixedSizeListArray.from_arrays(pa.array(corpus[a:b].ravel()), dim)
            yield pa.RecordBatch.from_arrays([ids, ids, vectors], schema=schema)

    start = time.perf_counter()
    db = lancedb.connect(str(uri.parent))
    db.create_table(uri.name[: -len(".lance")], pa.RecordBatchReader.from_batches(schema, batches()), mode="overwrite")
    return corpus, queries, time.perf_counter() - start


def finish(uri: Path, dim: int) -> tuple[float, dict]:
    """`finish_lance_index` (the model record and the IVF-PQ index) on the table; its seconds and plan."""
    from nlu_toolkit.models.resolver import ModelInfo
    from nlu_toolkit.search.lance_index import ann_plan, finish_lance_index

    # A stand-in model record: the embedded model's checksum is known without loading it.
    info = ModelInfo(spec="embedded", name="bench", source="embedded", path="-", task="embed", sha256="0" * 64)
    start = time.perf_counter()
    finish_lance_index(str(uri), model_info=info, normalized=True)
    seconds = time.perf_counter() - start
    import lancedb

    n = lancedb.connect(str(uri.parent)).open_table(uri.name[: -len(".lance")]).count_rows()
    return seconds, ann_plan(n, dim)


def peak_rss_mb() -> float:
    """This process's peak RSS in MiB: VmHWM, which starts afresh at exec (ru_maxrss keeps the parent's
    peak across fork and exec on Linux, so it would count the generator's memory)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> int:
    """The searching process: open the table, search each query per setting, print JSON (hits, times, RSS)."""
    import lancedb

    imported = peak_rss_mb()
    uri = Path(args.child)
    queries = np.load(args.queries_file)
    start = time.perf_counter()
    table = lancedb.connect(str(uri.parent)).open_table(uri.name[: -len(".lance")])
    opened = time.perf_counter() - start
    out = {"open_s": opened, "rss_after_import_mb": imported, "rss_after_open_mb": peak_rss_mb(), "runs": []}
    for nprobes in [int(x) for x in args.nprobes.split(",")]:
        for refine in [int(x) for x in args.refine.split(",")]:

            def one(q, nprobes=nprobes, refine=refine):
                query = table.search(q, vector_column_name="vector").distance_type("cosine").nprobes(nprobes)
                if refine > 1:
                    query = query.refine_factor(refine)
                return query.select(["id", "_distance"]).limit(10).to_arrow().column("id").to_pylist()

            one(queries[0])  # warm-up: the index's partitions are read on first use
            times, hits = [], []
            for q in queries:
                t = time.perf_counter()
                hits.append(one(q))
                times.append(time.perf_counter() - t)
            out["runs"].append(
                {"nprobes": nprobes, "refine": refine, "median_ms": 1000 * float(np.median(times)),
                 "p95_ms": 1000 * float(np.percentile(times, 95)), "hits": hits}
            )  # fmt: skip
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors in the table")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100, help="queries timed one at a time, and for recall")
    parser.add_argument("--data", choices=("random", "clustered"), default="clustered")
    parser.add_argument("--nprobes", default="16,32,64", help="IVF partitions probed, comma-separated")
    parser.add_argument("--refine", default="1,5,10,20", help="refine factors (1: PQ scores only), comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", default=None, help="write the table here (DIR.lance) and keep it")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    os.environ.setdefault("LANCEDB_LOG", "error")
    import lancedb

    from nlu_toolkit.search.lance_index import NPROBES, REFINE_FACTOR

    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, lancedb {lancedb.__version__}, load average {load:.1f}")
    print(f"command: python {' '.join(sys.argv)}")
    with tempfile.TemporaryDirectory(prefix="bench-lance-") as tmp:
        uri = Path(args.keep) if args.keep else Path(tmp) / "bench.lance"
        corpus, queries, write_s = write_table(uri, args.n, args.dim, args.seed, args.data)
        queries = queries[: args.queries]
        index_s, plan = finish(uri, args.dim)
        size_mb = corpus.nbytes / 2**20
        disk_mb = sum(f.stat().st_size for f in uri.rglob("*") if f.is_file()) / 2**20
        print(
            f"n = {args.n:,} x {args.dim} ({args.data}); vectors {size_mb:,.0f} MiB, table on disk {disk_mb:,.0f} MiB"
        )
        print(f"write {write_s:.1f} s, finish_lance_index (IVF-PQ) {index_s:.1f} s; plan {plan}")
        truth = np.argsort(-(queries @ corpus.T), axis=1)[:, :10]
        del corpus
        qfile = Path(tmp) / "queries.npy"
        np.save(qfile, queries)
        cmd = [sys.executable, __file__, "--child", str(uri), "--queries-file", str(qfile)]
        cmd += ["--nprobes", args.nprobes, "--refine", args.refine]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"search process: RSS after imports {result['rss_after_import_mb']:.0f} MiB, open "
            f"{result['open_s'] * 1000:.0f} ms, RSS after open {result['rss_after_open_mb']:.0f} MiB"
        )
        print(f"{'nprobes':>7s} {'refine':>6s} {'median':>9s} {'p95':>9s} {'recall@10':>9s}")
        for run in result["runs"]:
            recall = np.mean(
                [len({int(i) for i in h} & set(t.tolist())) / 10 for h, t in zip(run["hits"], truth, strict=True)]
            )
            mark = "  <- the toolkit's setting" if (run["nprobes"], run["refine"]) == (NPROBES, REFINE_FACTOR) else ""
            print(
                f"{run['nprobes']:7d} {run['refine']:6d} {run['median_ms']:7.2f}ms {run['p95_ms']:7.2f}ms "
                f"{recall:9.3f}{mark}"
            )
        peak = result["peak_rss_mb"]
        print(
            f"peak RSS of the search process: {peak:,.0f} MiB = {peak / size_mb:.2f} x the vectors ({size_mb:,.0f} MiB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
