"""Peak memory of ``nlu index build``: it should grow with the vectors, not with the texts.

``SemanticIndex.add`` streams its input: records are read, encoded and their
documents written to ``docs.jsonl`` window by window, so only the vectors (and
their byte offsets) stay in memory. This script checks that claim from outside,
with one ``nlu index build FILE --out DIR --model TINY`` subprocess per file:

    base       2,048 lines of ~40 words                  the fixed cost: interpreter, torch, model, two windows
    small      LINES / 10 lines of ~40 words             1/10 of the texts, 1/10 of the vectors
    large      LINES lines of ~40 words (~48 MB at 200k) the texts and the vectors
    base-long  2,048 lines of ~160 words                 the fixed cost with 4x longer texts
    long       LINES / 4 lines of ~160 words             as many text bytes as large, 1/4 of its vectors

Each child's peak RSS is the ``ru_maxrss`` that ``os.wait4`` reports for that one
child (``getrusage(RUSAGE_CHILDREN)`` keeps only the largest child so far, so it
cannot be split per run). The growth of a run is its peak over the base run of
the same text length (longer texts cost more per window: the tokenizer holds
every token of a 1,024-text window at once), and is set against the file size
and the vectors' size (n * dim * 4 bytes, float32). Streaming means: ``long``
grows about a quarter as much as ``large`` (it follows the vectors; were the
texts held, it would grow as much), and the growth per extra line from small to
large is a small multiple of the vector and offset bytes of a line.

The model is a TINY random sentence-transformers BERT (hidden size 32, so 128
bytes a vector; 64 tokens; ``nlu_toolkit.models.testing.build_model(folder, "sentence")``)
so a 200k-line build takes minutes on 2 cores; it measures the toolkit's
streaming, not a real model. Every index is checked: manifest count, vectors
shape (n, 32), and ``docs.jsonl`` holding the source lines in order with ids
0..n-1; a failed check exits non-zero.

    python benchmarks/bench_index_memory.py                      # --lines 200000
    python benchmarks/bench_index_memory.py --lines 50000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024


def write_texts(path: Path, n: int, words: tuple[int, int], seed: int) -> None:
    """``n`` lines of ``words`` (min, max) random words: the tiny vocabulary's words and random letter strings."""
    from nlu_toolkit.models.testing import WORDS

    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            line = [
                rng.choice(WORDS) if rng.random() < 0.7 else "".join(rng.choices(letters, k=rng.randint(3, 10)))
                for _ in range(rng.randint(*words))
            ]
            f.write(" ".join(line).capitalize() + ".\n")


def run(command: list[str]) -> tuple[int, float, int, str]:
    """Run ``command``; return (exit code, wall seconds, peak RSS in bytes, stderr tail) of that child alone."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        pid = os.posix_spawn(command[0], command, os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - start
        err.seek(0)
        tail = err.read()[-2000:].decode("utf-8", "replace")
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    return os.waitstatus_to_exitcode(status), elapsed, peak, tail


def check_index(folder: Path, source: Path, n: int, dim: int) -> str | None:
    """None when the index holds ``n`` vectors of ``dim`` and ``source``'s lines in order, else what is wrong."""
    from safetensors import safe_open

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    if manifest["count"] != n:
        return f"manifest count {manifest['count']:,}, expected {n:,}"
    with safe_open(str(folder / "vectors.safetensors"), framework="numpy") as f:
        shape = tuple(f.get_slice("embeddings").get_shape())
    if shape != (n, dim):
        return f"embeddings shape {shape}, expected {(n, dim)}"
    count = 0
    with open(folder / "docs.jsonl", encoding="utf-8") as docs, open(source, encoding="utf-8") as lines:
        for doc_line, text in zip(docs, lines, strict=False):
            doc = json.loads(doc_line)
            if doc["id"] != count or doc["text"] != text.rstrip("\n"):
                return f"docs.jsonl line {count + 1} is {doc_line[:80]!r}, expected id {count} and the source line"
            count += 1
    if count != n:
        return f"docs.jsonl holds {count:,} documents, expected {n:,}"
    return None


def machine() -> str:
    import platform

    import torch
    import transformers

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (
        f"python {sys.version.split()[0]}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"cpus {os.cpu_count()} ({cpu}), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000, help="lines in the large file (default 200,000)")
    parser.add_argument("--words", type=int, default=40, help="average words per line (default 40)")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the children (default 0: unset)")
    args = parser.parse_args()

    nlu = shutil.which("nlu") or str(Path(sys.executable).with_name("nlu"))
    if not Path(nlu).exists():
        sys.exit("bench_index_memory: the nlu command is not installed; run pip install -e . first")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if args.threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from transformers.utils import logging as hf_logging

    from nlu_toolkit.engine.batching import WINDOW
    from nlu_toolkit.models.testing import build_model

    hf_logging.disable_progress_bar()
    print(machine())

    spread = max(1, args.words // 4)
    short = (args.words - spread, args.words + spread)
    long_words = (4 * short[0], 4 * short[1])
    base_lines = 2 * WINDOW
    runs = {  # name: (lines, (min, max) words a line, the base run it is measured against)
        "base": (base_lines, short, "base"),
        "small": (max(1, args.lines // 10), short, "base"),
        "large": (args.lines, short, "base"),
        "base-long": (base_lines, long_words, "base-long"),
        "long": (max(1, args.lines // 4), long_words, "base-long"),
    }
    tmp = Path(tempfile.mkdtemp(prefix="nlu-bench-index-memory-"))
    failures = 0
    rows: dict[str, dict[str, float]] = {}
    try:
        model = build_model(tmp / "tiny", "sentence")
        dim = 32
        print(
            f"model: TINY random sentence-transformers BERT from nlu_toolkit.models.testing.build_model (dimension {dim}, "
            f"{dim * 4} bytes a float32 vector, 64 tokens)"
        )
        print(
            f"{'run':9s} {'lines':>9s} {'words/line':>10s} {'file MB':>8s} {'vectors MB':>10s} {'peak RSS MiB':>12s} "
            f"{'growth MiB':>10s} {'growth/vec':>10s} {'growth/file':>11s} {'wall s':>7s}  check"
        )
        for name, (n, words, base) in runs.items():
            source, out = tmp / f"{name}.txt", tmp / f"{name}.idx"
            write_texts(source, n, words, seed=n + words[0])
            size = source.stat().st_size
            command = [nlu, "index", "build", str(source), "--out", str(out), "--model", str(model), "--quiet"]
            code, elapsed, peak, err = run(command)
            if code != 0:
                print(f"FAIL: nlu index build on {name} ({n:,} lines) exited {code}: {err.strip()}", file=sys.stderr)
                return 1
            problem = check_index(out, source, n, dim)
            failures += problem is not None
            vectors = n * dim * 4
            growth = peak - rows[base]["peak"] if base in rows else 0.0
            rows[name] = {"n": n, "size": size, "vectors": vectors, "peak": peak, "growth": growth}
            ratios = f"{growth / vectors:10.2f} {growth / size:11.2f}" if name != base else f"{'-':>10s} {'-':>11s}"
            print(
                f"{name:9s} {n:9,} {f'{words[0]}-{words[1]}':>10s} {size / 1e6:8.1f} {vectors / 1e6:10.1f} "
                f"{peak / MiB:12.1f} {growth / MiB:10.1f} {ratios} {elapsed:7.1f}  "
                f"{problem or f'ok ({n:,} docs in order, vectors ({n:,}, {dim}))'}"
            )
            source.unlink()
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    small, large, long = rows["small"], rows["large"], rows["long"]
    per_line = (large["growth"] - small["growth"]) / (large["n"] - small["n"])
    text_line = (large["size"] - small["size"]) / (large["n"] - small["n"])
    print(
        f"slope    small -> large: {per_line:.0f} bytes of peak RSS per extra line, against {dim * 4} bytes of vector "
        f"(+8 of offset) and {text_line:.0f} bytes of text per line ({per_line / (dim * 4 + 8):.2f}x vector+offset)"
    )
    same_text = long["growth"] / large["growth"] if large["growth"] > 0 else float("nan")
    print(
        f"texts    long vs large: {long['size'] / large['size']:.2f}x the text bytes, "
        f"{long['vectors'] / large['vectors']:.2f}x the vectors -> {same_text:.2f}x the peak growth "
        f"(follows the vectors: ~{long['vectors'] / large['vectors']:.2f}; follows the texts: ~"
        f"{long['size'] / large['size']:.2f})"
    )
    if large["growth"] < 16 * MiB:
        verdict = "inconclusive: the large run grew under 16 MiB, within noise; raise --lines"
    elif same_text < 0.5:
        verdict = "streams: peak RSS grows with the vectors, not with the texts"
    else:
        verdict = "DOES NOT STREAM: peak RSS grows with the texts"
    print(f"verdict  {verdict}")
    if failures:
        print("FAIL: an index did not hold the expected documents and vectors", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
