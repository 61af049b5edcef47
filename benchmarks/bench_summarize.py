"""Summarization throughput: `Summarizer` (``nlu summarize``) against the per-text loop of the old pipeline.

transformers 5 removed ``pipeline("summarization")``; what it ran, called as its
docs showed (``summarizer(texts)``, batch size 1), is one ``tokenizer(text,
truncation=True)`` + ``model.generate`` + ``decode`` per text. That loop is the
peer. Ours: `Summarizer.predict` over the same texts (length-sorted batches,
dynamic padding; the texts fit the encoder, so no chunking happens and both
paths do the same generation work).

No pretrained summarizer is available offline here, so the model is a
randomly initialised BART with the architecture of ``facebook/bart-base`` (6+6
layers, d_model 768): the same compute per token as the real one. Output length
is pinned (``min_length = max_length``) so random weights cannot stop one path
early; decoding is greedy (``--num-beams`` to change). The documents are
SST-2 sentences joined into paragraphs of ``--sentences`` sentences.

Both paths run in this process, interleaved per slice of texts; the script
prints texts/s, the ratio, and how many summaries are identical.

    python benchmarks/bench_summarize.py                    # 48 documents, greedy, batch size 8
    python benchmarks/bench_summarize.py --n 96 --num-beams 2
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
TARGET = 1.5


def documents(n: int, sentences: int) -> list[str]:
    if not SST2.is_file():
        sys.exit(f"bench_summarize: {SST2} not found; the benchmark reads SST-2 from ../shared/data")
    with open(SST2, encoding="utf-8", newline="") as f:
        rows = [r["sentence"].strip() for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    docs = []
    for i in range(n):
        # Vary the length: 50% to 150% of --sentences, so batching has lengths to sort.
        k = max(1, int(sentences * (0.5 + (i % 5) / 4)))
        start = i * 2 * sentences
        docs.append(" . ".join(rows[start : start + k]) + " .")
    return docs


def build_model(folder: Path, seed: int) -> Path:
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    from nlu_toolkit.models.testing import build_bpe_tokenizer

    tokenizer = build_bpe_tokenizer(folder, 1024, add_bos_eos=True)
    torch.manual_seed(seed)
    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=768,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=12,
        decoder_attention_heads=12,
        encoder_ffn_dim=3072,
        decoder_ffn_dim=3072,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    BartForConditionalGeneration(config).eval().save_pretrained(folder)
    return folder


def peer(model, tokenizer, texts: list[str], kwargs: dict) -> list[str]:
    import torch

    out = []
    for text in texts:
        enc = tokenizer(text, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            ids = model.generate(**enc, **kwargs)
        out.append(tokenizer.decode(ids[0], skip_special_tokens=True).strip())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=48, help="documents")
    parser.add_argument("--sentences", type=int, default=6, help="SST-2 sentences per document (on average)")
    parser.add_argument("--length", type=int, default=40, help="summary length in tokens (pinned)")
    parser.add_argument("--num-beams", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8, help="Summarizer batch_size (texts per call when greedy)")
    parser.add_argument("--slices", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    import transformers

    from nlu_toolkit.tasks.generate import Summarizer

    print(
        f"machine: {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"transformers {transformers.__version__}, python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"command: python {' '.join(sys.argv)}")
    docs = documents(args.n, args.sentences)
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_model(Path(tmp) / "bart", args.seed)
        ours = Summarizer(
            str(folder),
            min_length=args.length,
            max_length=args.length,
            num_beams=args.num_beams,
            batch_size=args.batch_size,
            device="cpu",
        )
        model, tokenizer = ours.loaded.model, ours.loaded.tokenizer
        lengths = [len(ids) for ids in tokenizer(docs)["input_ids"]]
        print(f"{len(docs)} documents, {min(lengths)}-{max(lengths)} tokens (median {statistics.median(lengths)})")
        kwargs = {"min_length": args.length, "max_length": args.length, "num_beams": args.num_beams}
        peer(model, tokenizer, docs[:1], kwargs)  # warm-up
        list(ours.predict(docs[:1]))
        size = -(-len(docs) // args.slices)
        times = {"peer": 0.0, "ours": 0.0}
        ratios = []
        same = 0
        for s in range(args.slices):
            part = docs[s * size : (s + 1) * size]
            order = ("peer", "ours") if s % 2 == 0 else ("ours", "peer")
            results, took = {}, {}
            for name in order:
                start = time.perf_counter()
                if name == "peer":
                    results[name] = peer(model, tokenizer, part, kwargs)
                else:
                    results[name] = [r.output for r in ours.predict(part)]
                took[name] = time.perf_counter() - start
                times[name] += took[name]
            ratios.append(took["peer"] / took["ours"])
            same += sum(a == b for a, b in zip(results["peer"], results["ours"], strict=True))
            print(f"slice {s + 1}: peer {len(part) / took['peer']:.2f} texts/s, ours {len(part) / took['ours']:.2f}")
    ratio = times["peer"] / times["ours"]
    print(f"\npeer (per-text generate, the pipeline's loop): {len(docs) / times['peer']:.2f} texts/s")
    print(f"ours (Summarizer, batch size {args.batch_size}):          {len(docs) / times['ours']:.2f} texts/s")
    print(f"ours / peer: {ratio:.2f}x (median per slice {statistics.median(ratios):.2f}x; target >= {TARGET}x: "
          f"{'met' if ratio >= TARGET else 'MISSED'})")  # fmt: skip
    print(f"identical summaries: {same} / {len(docs)} (batches pad, which may flip near-ties)")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
