"""A classifier on a static (Model2Vec) model against a fine-tuned MiniLM classifier, on SST-2.

One process, the same first ``--n`` SST-2 train sentences for every path, scored on all 872 dev sentences:

    static     distill(STATIC, dims=D, seed=0) from the embedded all-MiniLM-L6-v2, then
               finetune("classification", rows, out, model=STATIC, eval=dev)   (a head on frozen static vectors)
    minilm     finetune("classification", rows, out, eval=dev, epochs=1, batch_size=16)   (as bench_finetune_quality)
    model2vec  model2vec's own: StaticModelForClassification.from_pretrained(path=STATIC).fit(texts, labels)
               with its defaults (it also tunes the token vectors), on the same static model

Printed: dev accuracy (``FinetuneResult.metrics["accuracy"]``; for model2vec ``model.predict``), training
seconds, and texts/s of ``Classifier(folder).predict(dev texts)`` (model2vec: ``model.predict``), the median
over ``--rounds`` rounds with the systems alternated inside each round so CPU contention hits all alike, and
the static/minilm ratios. The accuracy of the Classifier's labels is printed too: it must equal the training
run's own dev accuracy (within half a point: the script exits non-zero otherwise).

    python benchmarks/bench_static_classifier.py                 # --n 20000 --dims 256 --rounds 5
    python benchmarks/bench_static_classifier.py --n 500 --rounds 2   # a dry run
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SYSTEMS = ("static", "minilm", "model2vec")


def need(path: Path) -> Path:
    if not path.is_file():
        sys.exit(f"bench_static_classifier: {path} not found; skipped (../shared/data, see PROVENANCE.md)")
    return path


def first_rows(train: Path, n: int, folder: Path) -> Path:
    """The header and the first ``n`` rows of SST-2 train, line for line."""
    out = folder / f"sst2-train-{n}.tsv"
    with open(train, encoding="utf-8", newline="") as f, open(out, "w", encoding="utf-8", newline="") as w:
        for i, line in enumerate(f):
            if i > n:
                break
            w.write(line)
    return out


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def model2vec_classifier():
    """model2vec's classifier class, or None with the reason when its ``train`` extra does not import."""
    try:
        from model2vec.train import StaticModelForClassification
    except ImportError as exc:
        return None, f"skipped: model2vec[train] not installed ({exc})"
    return StaticModelForClassification, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="the first N SST-2 train sentences (both classifiers)")
    parser.add_argument("--dims", type=int, default=256, help="PCA size of the static model")
    parser.add_argument("--seed", type=int, default=42, help="finetune's seed (distill uses seed 0)")
    parser.add_argument("--rounds", type=int, default=5, help="timed prediction rounds (the median is kept)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"any of {','.join(SYSTEMS)}")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not systems or set(systems) - set(SYSTEMS):
        sys.exit(f"bench_static_classifier: --systems takes {','.join(SYSTEMS)}, got {args.systems!r}")
    train, dev = need(DATA / "sst2" / "train.tsv"), need(DATA / "sst2" / "dev.tsv")

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_fewshot import read_tsv
    from machine import print_machine

    from nlu_toolkit import finetune
    from nlu_toolkit.models.quiet import silence_libraries
    from nlu_toolkit.tasks.classify import Classifier
    from nlu_toolkit.train.distill import distill

    print_machine(args.threads)
    silence_libraries()
    dev_texts, dev_labels = read_tsv(dev)
    gold = [str(y) for y in dev_labels]
    figures: dict = {"n": args.n, "dims": args.dims, "dev": len(dev_texts), "load_average_start": os.getloadavg()[0]}
    predictors = {}
    with tempfile.TemporaryDirectory(prefix="bench-static-") as tmp:
        folder = Path(tmp)
        rows = first_rows(train, args.n, folder)
        common = {"eval": dev, "seed": args.seed, "overwrite": True}
        static_dir = folder / "static"
        if "static" in systems or "model2vec" in systems:
            _, figures["distill_seconds"] = timed(lambda: distill(static_dir, dims=args.dims, seed=0))
        if "static" in systems:
            r = finetune("classification", rows, folder / "static-clf", model=str(static_dir), **common)
            figures["static"] = {"accuracy": r.metrics["accuracy"], "train_seconds": r.train_seconds}
            predictors["static"] = Classifier(str(folder / "static-clf"))
        if "minilm" in systems:
            r = finetune("classification", rows, folder / "minilm-clf", epochs=1, batch_size=16, **common)
            figures["minilm"] = {"accuracy": r.metrics["accuracy"], "train_seconds": r.train_seconds}
            predictors["minilm"] = Classifier(str(folder / "minilm-clf"))
        if "model2vec" in systems:
            cls, why = model2vec_classifier()
            if cls is None:
                print(why)
                figures["model2vec"] = {"skipped": why}
            else:
                texts, labels = read_tsv(rows)
                model = cls.from_pretrained(path=str(static_dir))
                with contextlib.redirect_stderr(io.StringIO()):  # its progress bar, redrawn at every step
                    _, seconds = timed(lambda: model.fit(texts, [str(y) for y in labels]))
                found = [str(y) for y in model.predict(dev_texts)]
                accuracy = sum(p == g for p, g in zip(found, gold, strict=True)) / len(gold)
                figures["model2vec"] = {"accuracy": accuracy, "train_seconds": seconds}
                predictors["model2vec"] = model

        def labels_of(name: str) -> list[str]:
            if name == "model2vec":
                return [str(y) for y in predictors[name].predict(dev_texts)]
            return [c.label for c in predictors[name].predict(dev_texts)]

        names = list(predictors)
        for name in names:  # warm-up, and the labels the Classifier gives
            found = labels_of(name)
            figures[name]["classifier_accuracy"] = sum(p == g for p, g in zip(found, gold, strict=True)) / len(gold)
        rates: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                _, seconds = timed(lambda name=name: labels_of(name))
                rates[name].append(len(dev_texts) / seconds)
        for name in names:
            figures[name]["texts_per_s"] = statistics.median(rates[name])
    figures["load_average_end"] = os.getloadavg()[0]

    print(f"\n== SST-2 dev ({len(dev_texts)}), trained on the first {args.n} train sentences ==")
    print(f"{'system':>10}  {'accuracy':>9}  {'Classifier acc':>14}  {'train s':>8}  {'texts/s':>9}")
    for name in names:
        x = figures[name]
        print(f"{name:>10}  {100 * x['accuracy']:>9.2f}  {100 * x['classifier_accuracy']:>14.2f}  "
              f"{x['train_seconds']:>8.1f}  {x['texts_per_s']:>9.0f}")  # fmt: skip
    if "distill_seconds" in figures:
        print(f"distillation (not in train s): {figures['distill_seconds']:.1f} s")
    if "static" in predictors and "minilm" in predictors:
        s, m = figures["static"], figures["minilm"]
        figures["static_minus_minilm_points"] = 100 * (s["accuracy"] - m["accuracy"])
        figures["speedup_static_over_minilm"] = s["texts_per_s"] / m["texts_per_s"]
        print(f"static - minilm: {figures['static_minus_minilm_points']:+.2f} points; texts/s static / minilm: "
              f"{figures['speedup_static_over_minilm']:.1f}x; train time minilm / static: "
              f"{m['train_seconds'] / max(s['train_seconds'], 1e-9):.1f}x")  # fmt: skip
    print(
        f"load average {figures['load_average_start']:.1f} at the start, {figures['load_average_end']:.1f} at the end"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"command": " ".join(sys.argv), **figures}, indent=2) + "\n")
        print(f"wrote {args.json}")
    # Batching may flip a label on the edge; more than half a point apart means the saved folder is not the model.
    bad = [n for n in ("static", "minilm") if n in predictors and
           abs(figures[n]["accuracy"] - figures[n]["classifier_accuracy"]) > 0.005]  # fmt: skip
    if bad:
        sys.exit(f"bench_static_classifier: Classifier labels disagree with the training run's dev accuracy: {bad}")


if __name__ == "__main__":
    main()
