"""Training throughput: `nlu_toolkit.finetune` against the course recipe (Trainer + ``padding="max_length"``).

Same base model (the embedded all-MiniLM-L6-v2 with a new 2-label head, seeded),
same SST-2 sentences, batch size, learning rate, steps and seed, in one process.

- **peer (recipe)**: the Hugging Face course's recipe, tokenizing with
  ``truncation=True, padding="max_length"`` (the tokenizer's 512 tokens for
  MiniLM) and a plain ``Trainer`` with default collation and sampling;
- **peer (max_length=L)**: the same recipe with ``max_length`` lowered to our
  token limit (a user who tuned it), for a harder comparison;
- **ours**: `finetune(...)` as ``nlu finetune`` runs it: dynamic padding plus
  length-grouped batches.

Only ``trainer.train()`` is timed (our `FinetuneResult.train_seconds` measures
exactly that call); loading and tokenizing are excluded for both. Rounds are
interleaved (peer, tuned peer, ours, then again) so machine drift hits every
path alike; the headline is the ratio of median samples/s.

    python benchmarks/bench_finetune.py                       # 2,000 sentences, 40 steps of 32, 2 rounds
    python benchmarks/bench_finetune.py --steps 20 --rounds 1 --skip-recipe
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SST2 = ROOT.parent / "shared" / "data" / "sst2" / "train.tsv"
TARGET = 2.0


def write_sample(n: int, folder: Path) -> Path:
    if not SST2.is_file():
        sys.exit(f"bench_finetune: {SST2} not found; the benchmark reads SST-2 from ../shared/data")
    path = folder / "train.csv"
    with open(SST2, encoding="utf-8", newline="") as f, open(path, "w", encoding="utf-8", newline="") as out:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        for i, row in enumerate(reader):
            if i == n:
                break
            writer.writerow([row["sentence"].strip(), int(row["label"])])
    return path


def peer(train_csv: Path, args: argparse.Namespace, max_length: int | None) -> float:
    """Samples/s of the course recipe: pad every example to max_length, plain Trainer."""
    import datasets
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    from nlu_toolkit.models.embedded import embedded_path

    base = str(embedded_path())
    tokenizer = AutoTokenizer.from_pretrained(base)
    ds = datasets.load_dataset("csv", data_files=str(train_csv), split="train")

    def tokenize(batch):
        kwargs = {"max_length": max_length} if max_length else {}
        return tokenizer(batch["text"], truncation=True, padding="max_length", **kwargs)

    ds = ds.map(tokenize, batched=True)
    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp,
            max_steps=args.steps,
            per_device_train_batch_size=args.batch_size,
            learning_rate=5e-5,
            seed=args.seed,
            report_to="none",
            save_strategy="no",
            disable_tqdm=True,
            logging_strategy="no",
            use_cpu=True,
        )
        trainer = Trainer(model=model, args=targs, train_dataset=ds, processing_class=tokenizer)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    return args.steps * args.batch_size / seconds


def ours(train_csv: Path, args: argparse.Namespace) -> float:
    from nlu_toolkit import finetune

    with tempfile.TemporaryDirectory() as tmp:
        result = finetune(
            "classification",
            train_csv,
            Path(tmp) / "model",
            max_steps=args.steps,
            batch_size=args.batch_size,
            lr=5e-5,
            seed=args.seed,
            device="cpu",
        )
    return args.steps * args.batch_size / result.train_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="SST-2 training sentences")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tuned-max-length", type=int, default=128, help="max_length of the tuned peer")
    parser.add_argument("--skip-recipe", action="store_true", help="skip the 512-token recipe (slowest)")
    args = parser.parse_args()

    import torch
    import transformers

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"command: python {' '.join(sys.argv)}")
    rates: dict[str, list[float]] = {"recipe": [], "tuned": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        train_csv = write_sample(args.n, Path(tmp))
        for r in range(args.rounds):
            if not args.skip_recipe:
                rates["recipe"].append(peer(train_csv, args, None))
                print(f"round {r + 1}: peer recipe (pad to 512)          {rates['recipe'][-1]:8.1f} samples/s")
            rates["tuned"].append(peer(train_csv, args, args.tuned_max_length))
            print(
                f"round {r + 1}: peer pad to {args.tuned_max_length:<4d}                   "
                f"{rates['tuned'][-1]:8.1f} samples/s"
            )
            rates["ours"].append(ours(train_csv, args))
            print(f"round {r + 1}: ours (dynamic padding, by length)  {rates['ours'][-1]:8.1f} samples/s")
    median = {k: statistics.median(v) for k, v in rates.items() if v}
    print()
    for key, label in (("recipe", "recipe, pad to 512"), ("tuned", f"pad to {args.tuned_max_length}")):
        if key in median:
            ratio = median["ours"] / median[key]
            verdict = "met" if key == "recipe" and ratio >= TARGET else ("" if key != "recipe" else "MISSED")
            print(f"ours / peer ({label}): {ratio:.2f}x {'(target >= 2x: ' + verdict + ')' if verdict else ''}")
    if "recipe" in median and median["ours"] / median["recipe"] < TARGET:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
