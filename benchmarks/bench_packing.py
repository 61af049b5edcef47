"""Row packing (`nlu_toolkit.engine.packing`): packed passes against padded ones and raw sentence-transformers.

What a server's dynamic batcher hands the model: groups of ``--group`` SST-2 train
sentences in arrival order (mixed lengths). Each group is one call, on three paths
in one process, timed interleaved with the order rotated per round:

* peer: ``SentenceTransformer.encode(group, batch_size=B)`` (pads each pass to its longest text);
* ours, padded: `Embedder.encode` with ``NLU_PACKING=0`` (length-sorted padded passes);
* ours, packed: `Embedder.encode` (short texts share rows of one pass).

Then the same for a classification head (`Classifier` on the embedded MiniLM with a
seeded new head, as ``nlu finetune`` starts from) against ``transformers.pipeline``, and
a bulk run (one sorted window of 1,024 STS-B sentences) where padding is already small,
to show packing costs nothing there. Results must agree: vectors at cosine >= 0.99999,
logits within 1e-4; any disagreement exits non-zero.

    python benchmarks/bench_packing.py                 # groups of 16, batch size 32
    python benchmarks/bench_packing.py --group 64 --rounds 5
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_embed import load_sts_dev
from machine import print_machine

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
MIN_COSINE = 0.99999
MAX_LOGIT_DIFF = 1e-4


def sst2(n: int) -> list[str]:
    path = DATA / "sst2" / "train.tsv"
    if not path.is_file():
        sys.exit(f"bench_packing: {path} not found (see ../shared/data/PROVENANCE.md)")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row["sentence"].strip() for _, row in zip(range(n), reader, strict=False)]


def timed(paths: dict, groups: list[list[str]], rounds: int) -> tuple[dict[str, float], dict[str, list]]:
    """texts/s per path over ``rounds`` interleaved passes over ``groups`` (rotated order), and the outputs."""
    names = list(paths)
    seconds = dict.fromkeys(names, 0.0)
    outputs: dict[str, list] = {}
    for fn in paths.values():
        fn(groups[0])  # warm-up (and the packing check)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            out = [paths[name](g) for g in groups]
            seconds[name] += time.perf_counter() - start
            outputs[name] = out
    n = sum(len(g) for g in groups) * rounds
    return {k: n / v for k, v in seconds.items()}, outputs


def report(title: str, rates: dict[str, float], peer: str) -> None:
    print(title)
    for name, rate in rates.items():
        print(f"  {name:34s} {rate:8.1f} texts/s  {rate / rates[peer]:5.2f}x peer")


def cosine_min(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", type=int, default=16, help="texts per call, as a batcher gathers them")
    parser.add_argument("--groups", type=int, default=24, help="calls per round")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from nlu_toolkit.models.embedded import embedded_path
    from nlu_toolkit.tasks.embed import Embedder

    print_machine(args.threads)
    texts = sst2(args.group * args.groups)
    groups = [texts[i : i + args.group] for i in range(0, len(texts), args.group)]
    bs = args.batch_size
    failures = 0

    peer = SentenceTransformer(str(embedded_path()), device="cpu")
    os.environ["NLU_PACKING"] = "0"
    padded = Embedder(None, device="cpu", batch_size=bs)
    os.environ.pop("NLU_PACKING")
    packed = Embedder(None, device="cpu", batch_size=bs)
    paths = {
        "peer: SentenceTransformer.encode": lambda g: peer.encode(g, batch_size=bs),
        "ours: padded (NLU_PACKING=0)": lambda g: padded.encode(g)[0],
        "ours: packed": lambda g: packed.encode(g)[0],
    }
    rates, outputs = timed(paths, groups, args.rounds)
    report(f"embed, groups of {args.group} SST-2 sentences, batch size {bs}:", rates, next(iter(paths)))
    ours = np.concatenate(outputs["ours: packed"])
    worst = min(cosine_min(ours, np.concatenate(outputs[k])) for k in paths if k != "ours: packed")
    print(
        f"  packed / padded {rates['ours: packed'] / rates['ours: padded (NLU_PACKING=0)']:.2f}x; "
        f"least cosine of packed vectors to the others {worst:.6f}"
    )
    failures += worst < MIN_COSINE

    left, right, _ = load_sts_dev()
    bulk = (left + right)[:1024]
    rates, outputs = timed(
        {k: v for k, v in paths.items() if k.startswith("ours")} | {"peer: SentenceTransformer.encode": paths[
            "peer: SentenceTransformer.encode"]},
        [bulk],
        args.rounds,
    )  # fmt: skip
    report(f"embed, bulk: one call on 1,024 STS-B dev sentences, batch size {bs}:", rates,
           "peer: SentenceTransformer.encode")  # fmt: skip
    worst = cosine_min(outputs["ours: packed"][0], outputs["ours: padded (NLU_PACKING=0)"][0])
    print(
        f"  packed / padded {rates['ours: packed'] / rates['ours: padded (NLU_PACKING=0)']:.2f}x; least cosine {worst:.6f}"
    )
    failures += worst < MIN_COSINE

    # A classification head on the same encoder: what a fine-tuned MiniLM classifier runs.
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from nlu_toolkit.tasks.classify import Classifier

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        head = AutoModelForSequenceClassification.from_pretrained(str(embedded_path()), num_labels=2)
        head.config.id2label, head.config.label2id = {0: "NEGATIVE", 1: "POSITIVE"}, {"NEGATIVE": 0, "POSITIVE": 1}
        head.save_pretrained(folder)
        AutoTokenizer.from_pretrained(str(embedded_path())).save_pretrained(folder)
        os.environ["NLU_PACKING"] = "0"
        cls_padded = Classifier(folder, device="cpu", batch_size=bs)
        os.environ.pop("NLU_PACKING")
        # The same loaded model: outside a packed pass the packing hook leaves it alone.
        cls_packed = Classifier(folder, device="cpu", batch_size=bs)
        pipe = pipeline("text-classification", model=folder, device="cpu", top_k=None)
        paths = {
            "peer: transformers.pipeline": lambda g: pipe(g, batch_size=bs),
            "ours: padded (NLU_PACKING=0)": lambda g: [r.to_dict() for r in cls_padded.predict(g)],
            "ours: packed": lambda g: [r.to_dict() for r in cls_packed.predict(g)],
        }
        rates, outputs = timed(paths, groups, args.rounds)
    report(f"classify, groups of {args.group} SST-2 sentences, batch size {bs}:", rates, "peer: transformers.pipeline")
    a = [r for g in outputs["ours: packed"] for r in g]
    b = [r for g in outputs["ours: padded (NLU_PACKING=0)"] for r in g]
    p = [r for g in outputs["peer: transformers.pipeline"] for r in g]
    same = sum(x["label"] == y["label"] for x, y in zip(a, b, strict=True)) / len(a)
    peer_same = sum(x["label"] == max(y, key=lambda s: s["score"])["label"] for x, y in zip(a, p, strict=True)) / len(a)
    diff = max(abs(x["score"] - y["score"]) for x, y in zip(a, b, strict=True))
    print(
        f"  packed / padded {rates['ours: packed'] / rates['ours: padded (NLU_PACKING=0)']:.2f}x; labels equal to "
        f"padded {same:.4f}, to the pipeline {peer_same:.4f}; largest score difference to padded {diff:.2e}"
    )
    failures += same < 1.0 or peer_same < 1.0 or diff > MAX_LOGIT_DIFF
    if failures:
        print("FAIL: packed results differ from the reference", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
