"""What the reliability guards cost, measured against the work they guard, in one run.

The guards of issue 13 run on every call: each text passes `check_text` (length and
valid Unicode), every output path is checked before work starts, an index is
verified (file checksums plus the manifest's own checksum) when it loads, and a
save holds the index's lock. This script times each guard next to the work it
protects, on the same data, and prints the overhead as a share of that work:

1. ``check_text`` on SST-2 train sentences vs tokenizing them with the embedded
   MiniLM's fast tokenizer (the cheapest step any peer, sentence-transformers or a
   transformers pipeline, runs on every text).
2. ``iter_records`` over ``sst2/train.tsv`` with the check vs with it replaced by a no-op.
3. ``check_output_file`` / ``check_output_folder`` per call.
4. An index of ``--n`` SST-2 sentences (embedded MiniLM): ``SemanticIndex.load`` with
   ``verify=True`` vs ``verify=False``; ``save(overwrite=True)`` (checks + lock + swap)
   vs writing the same files alone; ``artefact_lock`` acquire/release alone.

The end-to-end ratio against the peer is `bench_embed.py` (ours vs
``SentenceTransformer.encode``), run after these guards landed; see RESULTS.md.

    python benchmarks/bench_guards.py                 # --n 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine import print_machine

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2" / "train.tsv"


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``fn``."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def sentences() -> list[str]:
    from nlu_toolkit.io.readers import iter_records

    return [r["text"] for r in iter_records(str(SST2), fields={"text": "sentence"})]


def bench_text_check(texts: list[str], repeats: int) -> None:
    from transformers import AutoTokenizer

    from nlu_toolkit.io.readers import check_text
    from nlu_toolkit.models.embedded import embedded_path

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_path()))

    def check() -> None:
        for text in texts:
            check_text(text, 100_000)

    t_check = timed(check, repeats)
    t_tok = timed(lambda: tokenizer(texts, truncation=True), repeats)
    chars = sum(map(len, texts))
    print(
        f"1. check_text: {len(texts):,} texts ({chars:,} chars) in {t_check * 1e3:.1f} ms "
        f"({t_check / len(texts) * 1e9:.0f} ns/text); tokenizing them: {t_tok * 1e3:.1f} ms; "
        f"check / tokenize = {t_check / t_tok:.2%}"
    )


def bench_reader(repeats: int) -> None:
    from nlu_toolkit.io import readers

    def read() -> int:
        return sum(1 for _ in readers.iter_records(str(SST2), fields={"text": "sentence"}))

    t_with = timed(read, repeats)
    original = readers.check_text
    readers.check_text = lambda *a, **k: None  # the same reader with the guard removed
    try:
        t_without = timed(read, repeats)
    finally:
        readers.check_text = original
    print(
        f"2. iter_records(sst2/train.tsv): with check {t_with * 1e3:.1f} ms, without {t_without * 1e3:.1f} ms; "
        f"overhead {t_with / t_without - 1:+.1%}"
    )


def bench_output_checks(repeats: int) -> None:
    from nlu_toolkit.io.guard import check_output_file, check_output_folder

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        n = 1_000
        t_file = timed(lambda: [check_output_file(out, [SST2]) for _ in range(n)], repeats) / n
        t_folder = (
            timed(
                lambda: [
                    check_output_folder(Path(tmp) / "idx", kind="index", is_kind=lambda p: False, inputs=[SST2])
                    for _ in range(n)
                ],
                repeats,
            )
            / n
        )
    print(f"3. check_output_file {t_file * 1e6:.1f} us/call, check_output_folder {t_folder * 1e6:.1f} us/call")


def bench_index(texts: list[str], n: int, repeats: int) -> None:
    from nlu_toolkit.io.lock import artefact_lock
    from nlu_toolkit.search.index import SemanticIndex

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sst2.idx"
        start = time.perf_counter()
        with SemanticIndex.build(texts[:n], None) as index:
            built = time.perf_counter() - start
            index.save(folder)
            t_save = timed(lambda: index.save(folder, overwrite=True), repeats)

            def write_alone() -> None:
                with tempfile.TemporaryDirectory(dir=tmp) as raw:
                    index._write(Path(raw))

            t_write = timed(write_alone, repeats)

        def load(verify: bool) -> None:
            with SemanticIndex.load(folder, verify=verify):
                pass

        load(True)  # warm the model cache: both sides then time only the index
        t_verified = timed(lambda: load(True), repeats)
        t_plain = timed(lambda: load(False), repeats)

        def lock_once() -> None:
            with artefact_lock(folder, timeout=1):
                pass

        t_lock = timed(lambda: [lock_once() for _ in range(100)], repeats) / 100
        size = sum(f.stat().st_size for f in folder.iterdir())
    print(f"4. index of {n:,} texts (built in {built:.1f} s, {size / 1e6:.2f} MB on disk):")
    print(
        f"   load verify=True {t_verified * 1e3:.1f} ms vs verify=False {t_plain * 1e3:.1f} ms "
        f"(+{t_verified - t_plain:.4f} s, {t_verified / t_plain - 1:+.1%})"
    )
    print(
        f"   save(overwrite=True) with checks, lock and swap {t_save * 1e3:.1f} ms vs writing the files alone "
        f"{t_write * 1e3:.1f} ms ({t_save / t_write - 1:+.1%}); lock acquire+release {t_lock * 1e6:.0f} us"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000, help="documents in the index (default 2,000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement, median kept")
    args = parser.parse_args()
    if not SST2.is_file():
        print(f"skipped: {SST2} is absent", file=sys.stderr)
        return 0
    print_machine()
    texts = sentences()
    bench_text_check(texts, args.repeats)
    bench_reader(args.repeats)
    bench_output_checks(args.repeats)
    bench_index(texts, args.n, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
