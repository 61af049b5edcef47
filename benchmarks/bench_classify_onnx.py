"""ONNX Runtime classification: `Classifier(backend="onnx", quantize="int8")` against our own torch path.

The model is a MiniLM fine-tuned on SST-2 by `nlu finetune` (make it with
`python benchmarks/bench_finetune_quality.py sst2 --output DIR`). Same texts
(the 872 sentences of SST-2 dev, repeated --copies times for timing), batch
size (32) and process; the paths are timed interleaved, slice by slice, with
the order rotated, so machine drift hits each alike. Quality: SST-2 dev accuracy
of each path and its label agreement with torch.

    python benchmarks/bench_classify_onnx.py --model DIR
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import print_machine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_sst2_dev() -> tuple[list[str], list[int]]:
    path = DATA / "sst2" / "dev.tsv"
    if not path.is_file():
        sys.exit(f"SST-2 dev is not at {path}; see ../shared/data/PROVENANCE.md")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"] for r in rows], [int(r["label"]) for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a classifier fine-tuned on SST-2 by nlu finetune")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--copies", type=int, default=2, help="time this many passes over SST-2 dev")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import numpy as np

    from nlu_toolkit.tasks.classify import Classifier

    print_machine(args.threads)
    texts, gold = load_sst2_dev()
    paths = {}
    for name, kwargs in (
        ("ours: torch", {}),
        ("ours: onnx fp32", {"backend": "onnx"}),
        ("ours: onnx int8", {"backend": "onnx", "quantize": "int8"}),
        ("ours: openvino int8", {"backend": "openvino", "quantize": "int8"}),
    ):
        if kwargs.get("backend") == "openvino" and importlib.util.find_spec("openvino") is None:
            continue
        clf = Classifier(args.model, device="cpu", batch_size=args.batch_size, threads=args.threads, **kwargs)
        if clf.runtime_warning:
            print(f"{name}: {clf.runtime_warning}")
        paths[name] = clf
    # The model's labels are LABEL_0/1 or negative/positive; map them to SST-2's 0/1 by id.
    first = next(iter(paths.values()))
    label_id = {label: i for i, label in enumerate(first.labels)}
    labels = {name: [label_id[r.label] for r in clf.predict(texts)] for name, clf in paths.items()}  # + warm-up
    timed = texts * args.copies
    size = -(-len(timed) // args.slices)
    seconds = dict.fromkeys(paths, 0.0)
    names = list(paths)
    for s in range(args.slices):
        part = timed[s * size : (s + 1) * size]
        for name in names[s % len(names) :] + names[: s % len(names)]:
            start = time.perf_counter()
            list(paths[name].predict(part))
            seconds[name] += time.perf_counter() - start
    base = names[0]
    print(f"\n{len(timed)} texts (SST-2 dev x{args.copies}), batch size {args.batch_size}")
    print(f"{'path':24s} {'texts/s':>8s} {'vs torch':>9s} {'SST-2 dev acc':>14s} {'agreement':>10s}")
    for name in names:
        rate = len(timed) / seconds[name]
        acc = float(np.mean([p == g for p, g in zip(labels[name], gold, strict=True)]))
        agree = float(np.mean([p == q for p, q in zip(labels[name], labels[base], strict=True)]))
        print(f"{name:24s} {rate:8.1f} {seconds[base] / seconds[name]:8.2f}x {acc:14.4f} {agree:10.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
