"""CLI plumbing shared by the commands: inputs, progress, and rendering results.

Results go to stdout (or ``--output``); progress, logs and the model note go to stderr.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from nlu_toolkit.errors import UsageError

Column = tuple[str, Callable[[dict[str, Any]], str]]


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def configure_runtime(verbose: bool) -> None:
    """Keep library chatter (load bars, advisory warnings) off stderr unless --verbose."""
    if verbose:
        return
    from nlu_toolkit.models.quiet import silence_libraries

    silence_libraries()


def note_model(info: Any, verbose: bool, backend: str | None = None) -> None:
    """With ``-v``: the model that ran, where it came from and, when known, the backend that ran it."""
    if verbose:
        ran = f" [dim]backend:[/] {backend}" if backend else ""
        # soft_wrap: one line whatever the width (a log file or pipe gets no hard breaks at 80 columns)
        stderr_console().print(
            f"[dim]model:[/] {info.describe()} [dim]{info.path}[/]{ran}", highlight=False, soft_wrap=True
        )


def warn_runtime(embedder: Any) -> None:
    """Say on stderr when the asked-for runtime (ONNX) failed its check against torch and torch runs instead."""
    warning = getattr(embedder, "runtime_warning", None)
    if warning:
        print(f"nlu: warning: {warning}", file=sys.stderr)


def read_inputs(
    texts: Sequence[str] | None,
    input_file: str | None,
    *,
    fields: dict[str, str],
    id_column: str | None,
    input_format: str | None,
    encoding: str,
    max_chars: int,
    progress: Callable[[int, int | None], None] | None,
) -> Iterator[dict[str, Any]]:
    """Records from ``--input FILE``, from stdin (``-``), or from the arguments."""
    from nlu_toolkit.io.readers import iter_records, records_from_texts

    texts = list(texts or [])
    if input_file is not None and texts:
        raise UsageError("give texts as arguments or --input FILE, not both", "drop one of them")
    source = input_file if input_file is not None else ("-" if texts == ["-"] else None)
    if source is not None:
        return iter_records(
            source,
            fields=fields,
            id_column=id_column,
            fmt=input_format,
            encoding=encoding,
            max_chars=max_chars,
            progress=progress,
        )
    if not texts:
        raise UsageError("no input", "pass texts as arguments, '-' to read stdin, or --input FILE")
    return records_from_texts(texts, field=next(iter(fields)), max_chars=max_chars)


@contextlib.contextmanager
def progress_bar(enabled: bool, label: str = "reading") -> Iterator[Callable[[int, int | None], None] | None]:
    """A rich progress bar on stderr, driven by the reader's (done, total) callbacks."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def emit(
    records: Iterable[dict[str, Any]],
    *,
    fmt: str | None,
    output: str | None,
    columns: Sequence[Column],
    title: str | None = None,
) -> int:
    """Write ``records`` in the chosen format; return how many were written."""
    from nlu_toolkit.io.writers import format_for_output, write_records

    chosen = format_for_output(output, fmt, isatty=sys.stdout.isatty())
    if chosen != "table":
        return write_records(records, chosen, output)
    from rich.console import Console
    from rich.table import Table

    table = Table(*(name for name, _ in columns), caption=title, caption_justify="left", highlight=False)
    n = 0
    for record in records:
        table.add_row(*(get(record) for _, get in columns))
        n += 1
    Console().print(table)
    return n


def short(text: Any, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def num(value: Any) -> str:
    return "" if value is None else f"{value:.3f}"


def print_summary(
    summary: dict[str, Any],
    *,
    fmt: str | None,
    title: str,
    rows: Sequence[dict[str, Any]] = (),
    output: str | None = None,
) -> None:
    """One result record: a key/value table (plus a table of ``rows``) on a terminal, else one JSON/CSV record."""
    from nlu_toolkit.io.numbers import show_value
    from nlu_toolkit.io.writers import format_for_output, write_records

    chosen = format_for_output(output, fmt, isatty=sys.stdout.isatty())
    if chosen == "json":  # one object, not an array of one
        from nlu_toolkit.io.writers import atomic_output, dumps

        if output in (None, "-"):
            sys.stdout.write(dumps(summary) + "\n")
        else:
            with atomic_output(output, "w", encoding="utf-8") as f:
                f.write(dumps(summary) + "\n")
        return
    if chosen != "table":
        write_records([summary], chosen, output)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("", "", title=title, show_header=False, highlight=False)
    for key, value in summary.items():
        if not isinstance(value, (dict, list)):
            table.add_row(key, show_value(value, key))
    console = Console()
    console.print(table)
    if rows:
        keys = list(dict.fromkeys(k for row in rows for k in row if not isinstance(row[k], (dict, list))))
        detail = Table(*keys, highlight=False)
        for row in rows:
            detail.add_row(*(show_value(row.get(k), k) for k in keys))
        console.print(detail)
