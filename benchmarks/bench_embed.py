"""Embedding throughput: nlu_toolkit's Embedder against raw SentenceTransformer.encode.

Both paths run in this one process on the same SST-2 sentences with the same
model (the embedded all-MiniLM-L6-v2) and the same batch size, float32, no
normalisation, so the ratio is what counts, not the absolute times:

    ours  Embedder(None, batch_size=BS).encode(texts)            (what ``nlu embed`` runs)
    peer  SentenceTransformer(embedded_path(), device="cpu").encode(texts, batch_size=BS)

Both are loaded and warmed up first; then ``--rounds`` rounds each run all the
texts through both paths. Inside a round the texts are cut into slices of 1,024
(the window ``nlu embed`` hands to ``Embedder.encode``; ``--slice 0``: one call
on all the texts) and every slice runs through both paths back to back, the
order alternating per slice and per round, so CPU contention from other
processes hits both paths alike. The median texts/s of each path over the
rounds, their ratio and the median of the per-round ratios are printed.

On a shared machine whose cores are busy, torch's default of one thread per
core oversubscribes them and every run gets several times slower and noisier;
``--threads 1`` (torch.set_num_threads here, OMP_NUM_THREADS for the CLI
subprocesses) keeps both paths on one thread each. The vectors must agree: the smallest per-vector cosine
between ours and the peer's must be >= 0.9999, else the script exits non-zero.

Then:

* STS-B dev Spearman (gold score vs cosine of sentence1/sentence2) from our
  vectors and from the peer's; they must agree to 1e-4.
* End to end: ``nlu embed --input FILE -o OUT.npy`` as a subprocess against a
  subprocess ``python -c`` that loads SentenceTransformer, encodes the same
  file's lines and ``np.save``-s them; start-up and model load included, runs
  alternated, median of each; the two .npy files must agree too.
* ``--profile`` (or automatically when our path is slower than the peer): where
  our time goes (tokenisation, sorting and padding, the forward) next to the
  peer's (tokenisation per batch, the forward).

    python benchmarks/bench_embed.py                       # 5,000 texts, batch size 32, 3 rounds
    python benchmarks/bench_embed.py --n 3000 --threads 1 --cli-runs 2 --profile   # busy shared machine
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SST2 = DATA / "sst2" / "train.tsv"
STS_DEV = DATA / "stsbenchmark" / "sts-dev.csv"
TARGET = 1.0
MIN_COSINE = 0.9999
SPEARMAN_TOL = 1e-4

PEER_SCRIPT = """
import sys
import numpy as np
from sentence_transformers import SentenceTransformer
source, out, model, bs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(source, encoding="utf-8") as f:
    texts = [line.rstrip("\\n") for line in f]
st = SentenceTransformer(model, device="cpu")
np.save(out, st.encode(texts, batch_size=bs, show_progress_bar=False))
"""


def load_sentences(n: int) -> list[str]:
    if not SST2.is_file():
        sys.exit(f"bench_embed: {SST2} not found; the benchmark reads SST-2 from ../shared/data (see PROVENANCE.md)")
    with open(SST2, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        texts = []
        for row in reader:
            text = row["sentence"].strip()
            if text:
                texts.append(text)
            if len(texts) == n:
                break
    if len(texts) < n:
        sys.exit(f"bench_embed: {SST2} holds only {len(texts)} sentences, fewer than --n {n}")
    return texts


def load_sts_dev() -> tuple[list[str], list[str], list[float]]:
    if not STS_DEV.is_file():
        sys.exit(f"bench_embed: {STS_DEV} not found; the benchmark reads STS-B from ../shared/data")
    left, right, gold = [], [], []
    with open(STS_DEV, encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) < 7:
                continue
            gold.append(float(row[4]))
            left.append(row[5])
            right.append(row[6])
    if not gold:
        sys.exit(f"bench_embed: no pairs read from {STS_DEV}")
    return left, right, gold


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compare(a, b) -> tuple[float, float]:
    """Max |a - b| and the smallest per-row cosine of two (n, dim) arrays."""
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf"), -1.0
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float(np.abs(a - b).max()), float(cos.min())


def sts_spearman(vectors_a, vectors_b, gold) -> float:
    import numpy as np
    from scipy.stats import spearmanr

    a, b = np.asarray(vectors_a, dtype=np.float64), np.asarray(vectors_b, dtype=np.float64)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float(spearmanr(gold, cos).statistic)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5_000, help="sentences from SST-2 train (default 5,000)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of both paths (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (default 3)")
    parser.add_argument(
        "--slice", type=int, default=1024, help="texts per interleaved slice (default 1,024; 0: one call per path)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads for both paths (default 0: torch's)")
    parser.add_argument("--cli-runs", type=int, default=3, help="CLI runs per side, alternated (0: skip the CLI)")
    parser.add_argument("--no-sts", action="store_true", help="skip the STS-B dev Spearman check")
    parser.add_argument("--profile", action="store_true", help="break down where the time goes (also when ratio < 1)")
    parser.add_argument("--profile-n", type=int, default=1024, help="texts for --profile (default 1,024)")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if args.threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # for the CLI subprocesses
    texts = load_sentences(args.n)
    bs = args.batch_size

    import numpy as np
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    from nlu_toolkit.models.embedded import embedded_path
    from nlu_toolkit.tasks.embed import Embedder

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cpu = platform_cpu()
    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"sentence-transformers {sentence_transformers.__version__}, torch threads {torch.get_num_threads()}, "
        f"cpus {os.cpu_count()} ({cpu}), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"data: first {len(texts):,} sentences of {SST2}")
    model_dir = embedded_path()
    print(f"model: embedded all-MiniLM-L6-v2 at {model_dir}; batch size {bs}, float32, no normalisation")

    ours = Embedder(None, batch_size=bs)
    st = SentenceTransformer(str(model_dir), device="cpu")
    paths = {
        "ours": lambda xs: ours.encode(xs)[0],
        "peer": lambda xs: st.encode(xs, batch_size=bs, show_progress_bar=False),
    }
    for run in paths.values():  # warm-up, excluded from the timings
        run(texts[:256])

    step = args.slice or len(texts)
    slices = [texts[i : i + step] for i in range(0, len(texts), step)]
    rates: dict[str, list[float]] = {"ours": [], "peer": []}
    outputs: dict[str, np.ndarray] = {}
    for r in range(args.rounds):
        seconds = {"ours": 0.0, "peer": 0.0}
        parts: dict[str, list[np.ndarray]] = {"ours": [], "peer": []}
        for k, chunk in enumerate(slices):
            for name in ["ours", "peer"] if (r + k) % 2 == 0 else ["peer", "ours"]:
                out, t = timed(lambda name=name, chunk=chunk: paths[name](chunk))
                seconds[name] += t
                parts[name].append(np.asarray(out))
        for name in rates:
            rates[name].append(len(texts) / seconds[name])
            outputs[name] = np.concatenate(parts[name])
    ours_rate, peer_rate = statistics.median(rates["ours"]), statistics.median(rates["peer"])
    paired = statistics.median(o / p for o, p in zip(rates["ours"], rates["peer"], strict=True))
    ratio = ours_rate / peer_rate
    failures = 0
    print(
        f"timing: {args.rounds} rounds over {len(texts):,} texts in {len(slices)} slice(s) of up to {step:,}, "
        f"paths back to back per slice, order alternating per slice and round"
    )
    print(
        f"peer     SentenceTransformer.encode(texts, batch_size={bs}):  median {peer_rate:8.1f} texts/s  "
        f"(rounds: {', '.join(f'{x:.1f}' for x in rates['peer'])})"
    )
    print(
        f"ours     Embedder(None, batch_size={bs}).encode(texts):        median {ours_rate:8.1f} texts/s  "
        f"(rounds: {', '.join(f'{x:.1f}' for x in rates['ours'])})"
    )
    print(
        f"ratio    ours / peer: {ratio:.3f}x (median of per-round ratios {paired:.3f}x)  "
        f"(target >= {TARGET:.1f}x: {'met' if min(ratio, paired) >= TARGET else 'MISSED'})"
    )
    diff, cos = compare(outputs["ours"], outputs["peer"])
    ok = cos >= MIN_COSINE and outputs["ours"].dtype == np.float32
    failures += not ok
    print(
        f"vectors  {outputs['ours'].shape} {outputs['ours'].dtype} vs {outputs['peer'].shape} {outputs['peer'].dtype}: "
        f"max |diff| {diff:.2e}, min cosine {cos:.7f} (>= {MIN_COSINE}: {'ok' if ok else 'FAIL'})"
    )

    if not args.no_sts:
        left, right, gold = load_sts_dev()
        both = list(dict.fromkeys(left + right))
        where = {t: i for i, t in enumerate(both)}
        li, ri = [where[t] for t in left], [where[t] for t in right]
        spear = {}
        for name, run in paths.items():
            v = np.asarray(run(both))
            spear[name] = sts_spearman(v[li], v[ri], gold)
        gap = abs(spear["ours"] - spear["peer"])
        ok = gap <= SPEARMAN_TOL
        failures += not ok
        print(
            f"sts-b    dev Spearman ({len(gold):,} pairs, {len(both):,} distinct sentences): ours {spear['ours']:.6f}, "
            f"peer {spear['peer']:.6f}, |diff| {gap:.1e} (<= {SPEARMAN_TOL}: {'ok' if ok else 'FAIL'})"
        )

    if args.profile or min(ratio, paired) < TARGET:
        profile(ours, st, texts[: args.profile_n], bs)

    if args.cli_runs > 0:
        failures += run_cli(texts, model_dir, bs, args.cli_runs, outputs["peer"])
    if failures:
        print(f"FAIL: {failures} correctness check(s) failed", file=sys.stderr)
        return 1
    return 0


def platform_cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def profile(ours, st, texts: list[str], bs: int) -> None:
    """Time the stages of both paths on the same texts (one pass each, ours first, then the peer)."""
    import numpy as np
    import torch

    from nlu_toolkit.engine import batching

    tok = ours.loaded.tokenizer
    pad_id = tok.pad_token_id or 0
    stages = dict.fromkeys(("tokenize", "sort+pad", "forward", "other"), 0.0)
    start = time.perf_counter()
    t0 = time.perf_counter()
    features, _, _ = batching.tokenize_windows(tok, texts, limit=ours.limit, all_windows=False)
    stages["tokenize"] = time.perf_counter() - t0
    real_pad = batching.pad_features

    def pad(*a, **k):
        t = time.perf_counter()
        out = real_pad(*a, **k)
        stages["sort+pad"] += time.perf_counter() - t
        return out

    def forward(batch):
        t = time.perf_counter()
        out = ours._forward(batch)
        stages["forward"] += time.perf_counter() - t
        return out

    batching.pad_features = pad
    try:
        rows = batching.run_sorted(features, forward, batch_size=bs, pad_id=pad_id)
    finally:
        batching.pad_features = real_pad
    np.stack(rows)
    total = time.perf_counter() - start
    stages["other"] = total - sum(stages.values())
    tokens = sum(len(f["input_ids"]) for f in features)
    padded = sum(
        max(len(features[i]["input_ids"]) for i in b) * len(b)
        for b in batching.length_sorted_batches([len(f["input_ids"]) for f in features], bs)
    )
    print(f"profile  ours, {len(texts):,} texts, {tokens:,} tokens ({padded:,} after padding), {total:.2f} s:")
    for name, t in stages.items():
        print(f"           {name:9s} {t:7.2f} s  {100 * t / total:5.1f} %")

    peer = dict.fromkeys(("tokenize", "forward", "other"), 0.0)
    start = time.perf_counter()
    order = np.argsort([-len(t) for t in texts])
    sorted_texts = [texts[i] for i in order]
    peer_padded = 0
    with torch.inference_mode():
        for i in range(0, len(sorted_texts), bs):
            t = time.perf_counter()
            features_b = st.preprocess(sorted_texts[i : i + bs])
            peer["tokenize"] += time.perf_counter() - t
            peer_padded += int(features_b["input_ids"].numel())
            t = time.perf_counter()
            st(features_b)["sentence_embedding"].cpu()
            peer["forward"] += time.perf_counter() - t
    total = time.perf_counter() - start
    peer["other"] = total - sum(peer.values())
    print(
        f"profile  peer (ST sorts by characters, tokenizes per batch), {peer_padded:,} tokens after padding, "
        f"{total:.2f} s:"
    )
    for name, t in peer.items():
        print(f"           {name:9s} {t:7.2f} s  {100 * t / total:5.1f} %")


def run_cli(texts: list[str], model_dir: Path, bs: int, runs: int, reference) -> int:
    import numpy as np

    nlu = shutil.which("nlu") or str(Path(sys.executable).with_name("nlu"))
    if not Path(nlu).exists():
        print("FAIL: the nlu command is not installed; run pip install -e . first", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="nlu-bench-embed-"))
    try:
        source, ours_out, peer_out = tmp / "texts.txt", tmp / "ours.npy", tmp / "peer.npy"
        source.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
        extra = [] if bs == 32 else ["--batch-size", str(bs)]
        commands = {
            "ours": [nlu, "embed", "--input", str(source), "-o", str(ours_out), *extra],
            "peer": [sys.executable, "-c", PEER_SCRIPT, str(source), str(peer_out), str(model_dir), str(bs)],
        }
        times: dict[str, list[float]] = {"ours": [], "peer": []}
        for r in range(runs):
            for name in ["ours", "peer"] if r % 2 == 0 else ["peer", "ours"]:
                proc, t = timed(lambda name=name: subprocess.run(commands[name], capture_output=True, text=True))
                if proc.returncode != 0:
                    print(
                        f"FAIL: {name} CLI run exited {proc.returncode}: {proc.stderr.strip()[-2000:]}", file=sys.stderr
                    )
                    return 1
                times[name].append(t)
        a, b = np.load(ours_out), np.load(peer_out)
        diff, cos = compare(a, b)
        _, cos_ref = compare(a, reference)
        ok = a.dtype == np.float32 and a.shape == (len(texts), b.shape[1]) and min(cos, cos_ref) >= MIN_COSINE
        t_ours, t_peer = statistics.median(times["ours"]), statistics.median(times["peer"])
        print(f"cli      {runs} run(s) per side, alternated; wall time includes start-up and model load")
        print(
            f"cli peer python -c '<load SentenceTransformer, encode lines, np.save>': median {t_peer:7.2f} s  "
            f"{len(texts) / t_peer:7.1f} texts/s  (runs: {', '.join(f'{x:.1f}' for x in times['peer'])} s)"
        )
        print(
            f"cli ours nlu embed --input FILE -o OUT.npy{'' if bs == 32 else f' --batch-size {bs}'}: median {t_ours:7.2f} s  "
            f"{len(texts) / t_ours:7.1f} texts/s  (runs: {', '.join(f'{x:.1f}' for x in times['ours'])} s)"
        )
        print(
            f"cli      ratio ours / peer (texts/s): {t_peer / t_ours:.3f}x; out.npy {a.shape} {a.dtype}: max |diff| vs "
            f"peer {diff:.2e}, min cosine {cos:.7f} (vs in-process peer {cos_ref:.7f}): {'ok' if ok else 'FAIL'}"
        )
        return int(not ok)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
