"""``nlu bench``: time each inference backend on this machine, recommend one, remember it for ``--backend auto``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import OutputOptions, output_options, run_options
from nlu_toolkit.cli.render import stderr_console
from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import UsageError

bench_opt = o.panel("Benchmark")


Task = o.choices("Task", "embed", "classify", "ner")


def _ints(value: str, name: str) -> list[int]:
    try:
        items = [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        items = []
    if not items or min(items) < 1:
        raise UsageError(f"{name} takes positive integers separated by commas, got {value!r}", f"e.g. {name} 1,8,32")
    return items


# Only --threads: bench runs on the CPU and times each backend and batch size itself.
@output_options("fmt", "verbose", "quiet")
@run_options("threads")
def bench_cli(
    task: Annotated[Task, bench_opt("--task", "-t", help="What to time.")] = Task.embed,
    model: o.ModelOpt = None,
    texts: Annotated[
        str | None,
        bench_opt(
            "--texts",
            help="Texts to time: a .txt (one per line), .jsonl, .csv or .parquet file, or - for stdin "
            "(default: 256 built-in sentences).",
        ),
    ] = None,
    text_column: o.TextColumnOpt = "text",
    limit: Annotated[int, bench_opt("--limit", min=1, help="Time at most this many texts.")] = 1000,
    labels: Annotated[
        str | None, bench_opt("--labels", help="classify: zero-shot labels (runs on embeddings).")
    ] = None,
    backends: Annotated[
        str | None,
        bench_opt(
            "--backends",
            help="Backends to compare: torch, onnx, onnx-int8, openvino, openvino-int8 (default: all installed).",
        ),
    ] = None,
    batch_sizes: Annotated[str, bench_opt("--batch-sizes", help="Batch sizes to time each backend at.")] = "1,8,32",
    repeats: Annotated[int, bench_opt("--repeats", min=2, help="Timed passes per backend and batch size.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the built-in texts and the bootstrap.")] = 0,
    save: Annotated[bool, bench_opt("--save/--no-save", help="Remember the recommendation for --backend auto.")] = True,
    json_path: Annotated[
        str | None, o.output_opt("--json", help="Also write every figure as JSON to this file.")
    ] = None,
    *,
    out: OutputOptions,
    run: RunOptions,
) -> None:
    """Time torch, ONNX and ONNX int8 on this machine (texts/s, tokens/s, 95% bootstrap interval) and recommend one.

    The recommendation is saved per machine, task and model; --backend auto then uses it.

    Examples:
      nlu bench
      nlu bench --task classify --model ./sst2-model --texts reviews.txt --json bench.json
      nlu bench --task ner --model ./my-ner --batch-sizes 8,32 --repeats 3
    """
    out.start(texts, outputs={"--json": json_path})  # before the minutes of timing
    from nlu_toolkit import bench as bench_lib

    sizes = _ints(batch_sizes, "--batch-sizes")
    chosen = [b.strip() for b in backends.split(",") if b.strip()] if backends else None
    items = None
    if texts is not None:
        from itertools import islice

        from nlu_toolkit.io.readers import iter_records

        records = iter_records(texts, fields={"text": text_column}, id_column=None, fmt=None, encoding="utf-8")
        items = [r["text"] for r in islice(records, limit)]
    console = stderr_console()
    status = console.status("benchmarking") if not out.quiet and console.is_terminal else None

    def step(what: str) -> None:
        if status is not None:
            status.update(f"benchmarking: {what}")

    if status is not None:
        status.start()
    try:
        result = bench_lib.bench(
            task.value,
            model,
            items,
            backends=chosen,
            batch_sizes=sizes,
            repeats=repeats,
            threads=run.threads,
            labels=labels,
            seed=seed,
            on_step=step,
        )
    finally:
        if status is not None:
            status.stop()
    if out.verbose:
        print(f"nlu: model {result.model} (sha256 {result.model_sha256[:12]})", file=sys.stderr)
    for m in result.measurements:
        if m.warning and m.batch_size == sizes[0]:
            print(f"nlu: warning: {m.backend}: {m.warning}", file=sys.stderr)
    torch_rate = {m.batch_size: m.texts_per_s for m in result.measurements if m.backend == "torch"}
    rows = [
        {**m.__dict__, "vs_torch": m.texts_per_s / torch_rate[m.batch_size] if m.batch_size in torch_rate else None}
        for m in result.measurements
    ]
    out.emit(
        rows,
        [
            ("backend", lambda r: r["backend"] + ("" if r["ran"] == r["backend"] else f" (ran {r['ran']})")),
            ("batch", lambda r: str(r["batch_size"])),
            ("texts/s", lambda r: f"{r['texts_per_s']:.1f}"),
            ("95% interval", lambda r: f"{r['ci_low']:.1f}-{r['ci_high']:.1f}"),
            ("tokens/s", lambda r: f"{r['tokens_per_s']:.0f}"),
            ("vs torch", lambda r: "" if r["vs_torch"] is None else f"{r['vs_torch']:.2f}x"),
            ("agreement", lambda r: "" if r["agreement"] is None else f"{r['agreement']:.4f}"),
        ],
        title=f"{result.task}: {result.texts} texts, {result.tokens} tokens, {result.repeats} passes each; "
        f"{result.machine['cpu']} ({result.machine['cores']} cores)",
    )
    where = sys.stdout if sys.stdout.isatty() and out.fmt in (None, "table") else sys.stderr
    print(f"recommended: --backend {_flag(result.recommended)} ({result.reason})", file=where)
    if json_path:
        import json

        from nlu_toolkit.io.writers import atomic_output

        with atomic_output(json_path, encoding="utf-8") as f:
            json.dump(result.to_dict(), f, indent=2)
    if save:
        path = bench_lib.save(result)
        if not out.quiet:
            print(f"nlu: saved for --backend auto: {path}", file=sys.stderr)


def _flag(backend: str) -> str:
    name, _, quantize = backend.partition("-")
    return f"{name} --quantize {quantize}" if quantize else name
