"""Peak memory of ``nlu classify`` on a 1,000,000-line file against a 100,000-line file.

The CLI streams: records are read, classified and written in windows, so its
peak RSS should not grow with the input (ratio of the two peaks close to 1).

Each run is its own ``nlu classify --input FILE --model TINY --format jsonl -o OUT``
subprocess; its peak RSS is the ``ru_maxrss`` that ``os.wait4`` reports for that
one child. The model is a TINY random BERT (hidden size 32, 2 layers, built by
``nlu_toolkit.models.testing.build_model``) so the 1M-line run takes minutes on 2 CPU
cores; it measures the toolkit's streaming, not a real model's accuracy. The
lines are random word sequences, so no two runs of the tokenizer see one
repeated line. Each output is checked: exactly N lines, ids 0..N-1 in order.

    python benchmarks/bench_memory.py
    python benchmarks/bench_memory.py --small 10000 --large 100000   # a quicker check
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


def write_texts(path: Path, n: int, seed: int) -> None:
    """``n`` lines of 4 to 24 random words (the tiny vocabulary's words, plus random letter strings)."""
    from nlu_toolkit.models.testing import WORDS

    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            words = [
                rng.choice(WORDS) if rng.random() < 0.8 else "".join(rng.choices(letters, k=rng.randint(2, 9)))
                for _ in range(rng.randint(4, 24))
            ]
            f.write(" ".join(words).capitalize() + ".\n")


def run(command: list[str]) -> tuple[int, float, int]:
    """Run ``command``; return (exit code, wall seconds, peak RSS in KiB) of that child alone."""
    start = time.perf_counter()
    pid = os.posix_spawn(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return os.waitstatus_to_exitcode(status), elapsed, peak


def check_output(path: Path, n: int) -> str | None:
    """None when ``path`` holds exactly ``n`` JSON lines with ids 0..n-1 in order, else what is wrong."""
    count = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            got = json.loads(line)["id"]
            if got != count:
                return f"line {count + 1} has id {got!r}, expected {count}"
            count += 1
    if count != n:
        return f"{count:,} lines, expected {n:,}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100_000, help="lines in the small file (default 100,000)")
    parser.add_argument("--large", type=int, default=1_000_000, help="lines in the large file (default 1,000,000)")
    args = parser.parse_args()

    nlu = shutil.which("nlu") or str(Path(sys.executable).with_name("nlu"))
    if not Path(nlu).exists():
        sys.exit("bench_memory: the nlu command is not installed; run pip install -e . first")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    from nlu_toolkit.models.testing import build_model

    hf_logging.disable_progress_bar()

    tmp = Path(tempfile.mkdtemp(prefix="nlu-bench-memory-"))
    failures = 0
    peaks: dict[int, int] = {}
    try:
        model = build_model(tmp / "tiny", "sequence", ["NEGATIVE", "POSITIVE"])
        print(
            "model: TINY random BERT from nlu_toolkit.models.testing.build_model (hidden 32, 2 layers, 64 tokens), "
            "so the 1M-line run finishes in minutes on 2 cores"
        )
        for n in (args.small, args.large):
            source, out = tmp / f"texts-{n}.txt", tmp / f"out-{n}.jsonl"
            write_texts(source, n, seed=n)
            size = source.stat().st_size
            command = [nlu, "classify", "--input", str(source), "--model", str(model)]
            command += ["--format", "jsonl", "-o", str(out)]
            code, elapsed, peak = run(command)
            if code != 0:
                print(f"FAIL: nlu classify on {n:,} lines exited {code}", file=sys.stderr)
                return 1
            problem = check_output(out, n)
            failures += problem is not None
            peaks[n] = peak
            print(
                f"{n:>9,} lines ({size / 1e6:6.1f} MB): peak RSS {peak / 1024:7.1f} MiB, {elapsed:7.1f} s, "
                f"{n / elapsed:8.0f} texts/s end to end; output: {problem or f'{n:,} lines, ids 0..{n - 1} in order'}"
            )
            source.unlink()
            out.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = peaks[args.large] / peaks[args.small]
    print(f"ratio peak RSS {args.large:,} / {args.small:,} lines: {ratio:.3f}x (flat memory: about 1)")
    if failures:
        print("FAIL: an output did not hold the expected lines in input order", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
