"""Ray overhead on one machine: ``--engine ray`` against the single-process ``nlu embed``, in one run.

The same N sentences (SST-2 train sentences from ../shared/data, repeated to ``--n``) are written to
``--files`` Parquet files, then embedded to Parquet twice with the same model (the embedded
all-MiniLM-L6-v2), backend and batch size:

    single  what ``nlu embed --input FILE -o OUT.parquet`` runs, file after file, in this process
            (Embedder loaded once, torch on every core)
    ray     ``nlu_toolkit.batch.run_job("embed", folder, out)`` on a local Ray started for the run,
            ``--workers`` actors of one CPU each (what ``nlu embed --engine ray --workers W`` runs)

Both are timed end to end (model load, and for Ray its start and the actors' model loads, included);
texts/s of each and the ratio ray/single are printed (goal here: >= 0.8 on 2 cores). The outputs must
agree (vectors within 1e-5), else the script exits non-zero.

    python benchmarks/bench_ray.py                    # 100,000 sentences, 2 workers (alone on the machine)
    python benchmarks/bench_ray.py --n 2000           # a quick check that it works
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SST2 = ROOT.parent / "shared" / "data" / "sst2" / "train.tsv"
GOAL = 0.8


def sentences(n: int) -> list[str]:
    with SST2.open(encoding="utf-8", newline="") as f:
        base = [row["sentence"].strip() for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    base = [s for s in base if s]
    return [base[i % len(base)] for i in range(n)]


def write_inputs(texts: list[str], folder: Path, files: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    per = -(-len(texts) // files)
    for k in range(files):
        part = texts[k * per : (k + 1) * per]
        if part:
            table = pa.table({"text": part, "n": list(range(k * per, k * per + len(part)))})
            pq.write_table(table, folder / f"part-{k:03d}.parquet")


def single(folder: Path, out: Path, backend: str, batch_size: int) -> float:
    """The single-process path of ``nlu embed --input FILE -o OUT.parquet``, per input file."""
    import numpy as np

    from nlu_toolkit.io.readers import iter_records
    from nlu_toolkit.io.writers import write_embeddings
    from nlu_toolkit.tasks.embed import Embedder

    start = time.perf_counter()
    embedder = Embedder("embedded", backend=backend, batch_size=batch_size)
    out.mkdir()
    for source in sorted(folder.iterdir()):
        kept, parts = [], []
        for window, vectors, truncated in embedder.embed(iter_records(source)):
            kept.extend(
                {"id": r["id"], "truncated": t, **{k: v for k, v in r.items() if k not in ("id", "text")}}
                for r, t in zip(window, truncated, strict=True)
            )
            parts.append(vectors)
        write_embeddings(kept, np.concatenate(parts), "parquet", str(out / source.name))
    return time.perf_counter() - start


def distributed(folder: Path, out: Path, backend: str, batch_size: int, workers: int) -> float:
    from nlu_toolkit.batch import run_job
    from nlu_toolkit.engine.options import RunOptions

    start = time.perf_counter()
    run_job(
        "embed", str(folder), str(out), model="embedded", workers=workers, run=RunOptions(backend=backend),
        batch_size=batch_size, progress_bars=False,
    )  # fmt: skip
    return time.perf_counter() - start


def agree(a: Path, b: Path) -> float:
    """The largest difference between the two runs' vectors (ids and passthrough must be equal)."""
    import numpy as np
    import pyarrow.parquet as pq

    worst = 0.0
    for left in sorted(a.glob("*.parquet")):
        x, y = pq.read_table(left), pq.read_table(b / left.name)
        assert x.drop(["embedding"]).equals(y.drop(["embedding"])), left.name
        ex = np.asarray(x.column("embedding").to_pylist(), dtype=np.float32)
        ey = np.asarray(y.column("embedding").to_pylist(), dtype=np.float32)
        worst = max(worst, float(np.abs(ex - ey).max()))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="sentences (SST-2 train, repeated)")
    parser.add_argument("--files", type=int, default=8, help="input Parquet files")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="Ray actors (one CPU each)")
    parser.add_argument("--backend", default="torch", help="torch, onnx or openvino (both paths)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    if not SST2.is_file():
        print(f"no {SST2}: the benchmark needs ../shared/data", file=sys.stderr)
        return 2
    texts = sentences(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        write_inputs(texts, folder, args.files)
        t_single = single(folder, Path(tmp) / "single", args.backend, args.batch_size)
        t_ray = distributed(folder, Path(tmp) / "ray", args.backend, args.batch_size, args.workers)
        worst = agree(Path(tmp) / "single", Path(tmp) / "ray")
    n = len(texts)
    ratio = t_single / t_ray
    print(f"{n:,} sentences in {args.files} files, backend {args.backend}, batch size {args.batch_size}, "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"single process : {n / t_single:8.1f} texts/s ({t_single:.1f} s, model load included)")
    print(f"ray, {args.workers} workers: {n / t_ray:8.1f} texts/s ({t_ray:.1f} s, Ray start and model loads included)")
    print(f"ratio ray/single: {ratio:.2f}x (goal >= {GOAL}x); largest vector difference {worst:.2e}")
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
