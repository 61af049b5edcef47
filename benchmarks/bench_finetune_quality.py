"""Fine-tuning quality on real data, from the embedded all-MiniLM-L6-v2, through `finetune` and `evaluate`.

- ``sst2``: 1 epoch on the first 20,000 sentences of SST-2 train, accuracy on
  SST-2 dev (872). Goal: >= 0.865 within 12 minutes of training.
- ``conll``: CoNLL-2003 ``eng.train`` (IOB1, converted to IOB2), entity F1
  (seqeval) on ``eng.testa``. Goal: >= 0.87.
- ``sts``: STS-B train, Spearman on STS-B dev before and after. Goal: no drop.

Each prints the figures, the training time, and the exact library call; the
same runs from the CLI are in the README. Reads ``../shared/data``.

    python benchmarks/bench_finetune_quality.py sst2
    python benchmarks/bench_finetune_quality.py conll --epochs 1
    python benchmarks/bench_finetune_quality.py sts
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def need(path: Path) -> Path:
    if not path.is_file():
        sys.exit(f"bench_finetune_quality: {path} not found (../shared/data, see PROVENANCE.md)")
    return path


def sst2_subset(n: int, folder: Path) -> Path:
    out = folder / f"sst2-train-{n}.tsv"
    with (
        open(need(DATA / "sst2" / "train.tsv"), encoding="utf-8", newline="") as f,
        open(out, "w", encoding="utf-8") as w,
    ):
        for i, line in enumerate(f):
            if i > n:  # the header plus n rows
                break
            w.write(line)
    return out


def report(name: str, result, scored, started: float, goal: str) -> None:
    print(f"\n== {name} ==")
    print(f"train rows {result.train_rows}, steps {result.steps}, training {result.train_seconds:.0f} s "
          f"({result.train_samples_per_second:.1f} samples/s), wall {time.perf_counter() - started:.0f} s")  # fmt: skip
    for row in result.history:
        print("  epoch", {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    print("  evaluate():", {k: round(v, 4) if isinstance(v, float) else v for k, v in scored.metrics.items()})
    print("  goal:", goal)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=("sst2", "conll", "sts"))
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--n", type=int, default=20000, help="sst2: training sentences")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--loss", default=None, help="sts: embedding loss (cosent, cosine, angle)")
    parser.add_argument("--output", default=None, help="keep the model here (default: a temp folder)")
    args = parser.parse_args()

    import torch

    from nlu_toolkit import evaluate, finetune

    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"command: python {' '.join(sys.argv)}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.output or Path(tmp) / "model")
        started = time.perf_counter()
        common = {"seed": args.seed, "device": "cpu", "overwrite": True}
        if args.batch_size:
            common["batch_size"] = args.batch_size
        if args.lr:
            common["lr"] = args.lr
        if args.task == "sst2":
            dev = need(DATA / "sst2" / "dev.tsv")
            result = finetune(
                "classification", sst2_subset(args.n, Path(tmp)), out, eval=dev, epochs=args.epochs or 1, **common
            )
            scored = evaluate("classification", str(out), dev)
            report("SST-2", result, scored, started, "accuracy >= 0.865 in <= 12 min of training")
            ok = scored.metrics["accuracy"] >= 0.865 and result.train_seconds <= 720
        elif args.task == "conll":
            dev = need(DATA / "conll2003" / "eng.testa")
            train = need(DATA / "conll2003" / "eng.train")
            result = finetune("ner", train, out, eval=dev, epochs=args.epochs or 1, **common)
            scored = evaluate("ner", str(out), dev)
            report("CoNLL-2003", result, scored, started, "entity F1 on eng.testa >= 0.87")
            ok = scored.metrics["f1"] >= 0.87
        else:
            dev = need(DATA / "stsbenchmark" / "sts-dev.csv")
            train = need(DATA / "stsbenchmark" / "sts-train.csv")
            before = evaluate("embedding", "embedded", dev)
            print("before (embedded all-MiniLM-L6-v2):", before.metrics)
            result = finetune("embedding", train, out, eval=dev, epochs=args.epochs or 1, loss=args.loss, **common)
            scored = evaluate("embedding", str(out), dev)
            report("STS-B", result, scored, started, f"dev Spearman >= before ({before.metrics['spearman']:.4f})")
            ok = scored.metrics["spearman"] >= before.metrics["spearman"]
    print("result:", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
