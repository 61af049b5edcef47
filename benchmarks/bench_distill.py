"""Static embeddings (``nlu distill``) against their teacher and against model2vec's own distillation.

One process, the same STS-B dev pairs for every path:

    ours     distill(OUT, MODEL, dims=D, seed=S), then Embedder(OUT).encode(texts)   (what ``nlu embed`` runs)
    m2v      np.random.seed(S); model2vec.distill.distill(teacher_path, pca_dims=D)  (the library's own)
    teacher  SentenceTransformer(teacher_path, device="cpu").encode(texts, batch_size=BS)

Printed: STS-B dev Spearman (gold score vs cosine of sentence1/sentence2) of ours, of model2vec's own
distillation and of the teacher; texts/s of ours and of the teacher (the median over ``--rounds``
rounds, the two paths alternated inside each round so CPU contention hits both alike) and their ratio;
distillation time. Ours must equal model2vec's own distillation (same vocabulary, same token vectors,
same sentence vectors): the script exits non-zero otherwise. The issue's goal is a ratio of at least 100x.

    python benchmarks/bench_distill.py                         # the embedded MiniLM, dims 256, all dev pairs
    python benchmarks/bench_distill.py --tiny --n 50 --rounds 1   # a dry run: a tiny random teacher (seconds)
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STS_DEV = ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-dev.csv"


def load_sts_dev(n: int | None) -> tuple[list[str], list[str], list[float]]:
    if not STS_DEV.is_file():
        sys.exit(f"bench_distill: {STS_DEV} not found; the benchmark reads STS-B from ../shared/data")
    left, right, gold = [], [], []
    with open(STS_DEV, encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) >= 7:
                gold.append(float(row[4]))
                left.append(row[5])
                right.append(row[6])
    if n:
        left, right, gold = left[:n], right[:n], gold[:n]
    return left, right, gold


def spearman(gold: list[float], a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float(spearmanr(gold, (a * b).sum(axis=1)).statistic)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded", help="the teacher (default: the embedded MiniLM)")
    parser.add_argument("--tiny", action="store_true", help="a tiny random teacher instead (a dry run)")
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=0, help="STS-B dev pairs (0: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="the teacher's batch size")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from model2vec import StaticModel
    from model2vec.distill import distill as m2v_distill
    from sentence_transformers import SentenceTransformer

    from nlu_toolkit.models.quiet import silence_libraries
    from nlu_toolkit.models.resolver import locate
    from nlu_toolkit.tasks.embed import Embedder
    from nlu_toolkit.train.distill import distill

    silence_libraries()
    left, right, gold = load_sts_dev(args.n)
    texts = left + right
    with tempfile.TemporaryDirectory(prefix="bench-distill-") as tmp:
        teacher = args.model
        if args.tiny:
            from nlu_toolkit.models.testing import build_model

            teacher = str(build_model(Path(tmp) / "tiny", "sentence"))
        path = locate(teacher, "sentence-embedding").path
        dims = min(args.dims, 8) if args.tiny else args.dims
        out = Path(tmp) / "static"
        result, distill_s = timed(lambda: distill(out, teacher, dims=dims, seed=args.seed))
        np.random.seed(args.seed)
        theirs, m2v_s = timed(lambda: m2v_distill(path, pca_dims=dims, device="cpu"))
        ours_model = StaticModel.from_pretrained(str(out), force_download=False)
        equal_vocab = ours_model.tokenizer.get_vocab() == theirs.tokenizer.get_vocab()
        equal_vectors = equal_vocab and np.array_equal(np.asarray(ours_model.embedding), np.asarray(theirs.embedding))

        static = Embedder(str(out))
        st = SentenceTransformer(path, device="cpu", local_files_only=True)
        static.encode(texts[:64])
        st.encode(texts[:64], batch_size=args.batch_size)  # warm-up
        ours_rates, teacher_rates = [], []
        ours_vec = teacher_vec = None
        for r in range(args.rounds):
            for which in ("ours", "teacher") if r % 2 == 0 else ("teacher", "ours"):
                if which == "ours":
                    (ours_vec, _), s = timed(lambda: static.encode(texts))
                    ours_rates.append(len(texts) / s)
                else:
                    teacher_vec, s = timed(lambda: st.encode(texts, batch_size=args.batch_size))
                    teacher_rates.append(len(texts) / s)
        theirs_vec = np.asarray(theirs.encode(texts), dtype=np.float32)
        n = len(left)
        figures = {
            "teacher": result.teacher,
            "teacher_sha256": result.teacher_sha256[:12],
            "dims": dims,
            "pairs": n,
            "spearman_ours": round(spearman(gold, ours_vec[:n], ours_vec[n:]), 4),
            "spearman_model2vec": round(spearman(gold, theirs_vec[:n], theirs_vec[n:]), 4),
            "spearman_teacher": round(spearman(gold, teacher_vec[:n], teacher_vec[n:]), 4),
            "texts_per_s_ours": round(statistics.median(ours_rates)),
            "texts_per_s_teacher": round(statistics.median(teacher_rates)),
            "speedup": round(statistics.median(ours_rates) / statistics.median(teacher_rates), 1),
            "distill_s_ours": round(distill_s, 1),
            "distill_s_model2vec": round(m2v_s, 1),
            "equal_to_model2vec": bool(equal_vectors and np.allclose(ours_vec, theirs_vec, atol=1e-6)),
            "torch_threads": torch.get_num_threads(),
        }
    for key, value in figures.items():
        print(f"{key:>22}  {value}")
    print(json.dumps(figures))
    if not figures["equal_to_model2vec"]:
        sys.exit("bench_distill: our static model differs from model2vec's own distillation")


if __name__ == "__main__":
    main()
