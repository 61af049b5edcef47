"""CLI plumbing shared by the commands: inputs, progress, and rendering results.

Results go to stdout (or ``--output``); progress, logs and the model note go to stderr.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

from nlu_toolkit.errors import UsageError

Column = tuple[str, Callable[[dict[str, Any]], str]]

#: The progress bars on screen; a table is printed only once they are gone (they share the terminal).
_LIVE_BARS: list[Any] = []


def stderr_console():
    """The console for stderr: the live progress bar's while one is drawn, so lines print above it."""
    if _LIVE_BARS:
        return _LIVE_BARS[-1].console
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
        stderr_console().print(f"nlu: warning: {warning}", markup=False, highlight=False, soft_wrap=True)


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
        records = iter_records(
            source,
            fields=fields,
            id_column=id_column,
            fmt=input_format,
            encoding=encoding,
            max_chars=max_chars,
            progress=progress,
        )
        return progress.counted(records) if isinstance(progress, _Bar) else records
    if not texts:
        raise UsageError("no input", "pass texts as arguments, '-' to read stdin, or --input FILE")
    return records_from_texts(texts, field=next(iter(fields)), max_chars=max_chars)


class _Bar:
    """The reader's progress callback ``(done, total)`` plus a count of the records read.

    ``done``/``total`` are bytes for line-based files and rows for Parquet, so they give the
    fraction and the ETA; the record count and rate are what a person reads.
    """

    def __init__(self, progress: Any, task: Any) -> None:
        self.progress, self.task, self.rows = progress, task, 0

    def __call__(self, done: int, total: int | None) -> None:
        self.progress.update(self.task, completed=done, total=total)

    def counted(self, records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            self.rows += 1
            yield record


def _bar_columns(bar: _Bar) -> tuple[Any, ...]:
    """label ━━━━ 42% 12,345 rows · 1,024/s 0:00:12 eta 0:00:16 (the percent and ETA once the size is known)."""
    import datetime

    from rich.progress import BarColumn, ProgressColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class RowsColumn(ProgressColumn):
        """What was read, and how fast."""

        def render(self, task: Any) -> Text:
            elapsed = task.elapsed or 0.0
            per_second = bar.rows / elapsed if elapsed >= 1 else 0.0
            rate = f" · {per_second:,.{1 if per_second < 10 else 0}f}/s" if per_second else ""
            return Text(f"{bar.rows:,} rows{rate}", style="progress.download")

    class EtaColumn(ProgressColumn):
        """The time left, from the share of the input read so far."""

        def render(self, task: Any) -> Text:
            left = task.time_remaining
            if left is None or task.finished:
                return Text("")
            return Text(f"eta {datetime.timedelta(seconds=int(left))}", style="progress.remaining")

    return (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        RowsColumn(),
        TimeElapsedColumn(),
        EtaColumn(),
    )


@contextlib.contextmanager
def progress_bar(enabled: bool, label: str = "reading") -> Iterator[_Bar | None]:
    """A rich progress bar on stderr: percent, records read, their rate, elapsed time and ETA.

    Yields the reader's callback (None when disabled or stderr is no terminal). It is transient:
    it leaves the screen when the work ends, or earlier when `emit` prints a table.
    """
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    progress = Progress(console=stderr_console(), transient=True)
    bar = _Bar(progress, progress.add_task(label, total=None))
    progress.columns = _bar_columns(bar)
    _LIVE_BARS.append(progress)
    try:
        with progress:
            yield bar
    finally:
        _LIVE_BARS.remove(progress)


def clear_progress() -> None:
    """Take every progress bar off the screen now (before a table is printed below it)."""
    for progress in list(_LIVE_BARS):
        progress.stop()


class Clip(str):
    """A table cell cut to ``width`` characters that keeps its ``full`` text.

    `emit` shows the full text on one line, cut with an ellipsis to the width the terminal
    leaves once the other columns are laid out; elsewhere it is the cut string.
    """

    full: str
    width: int


def short(text: Any, width: int = 60) -> Clip:
    """``text`` on one line (whitespace collapsed), cut to ``width`` characters with an ellipsis.

    In a table, ``width`` is the column's weight when the cut columns share the terminal's width.
    """
    full = " ".join(str(text).split())
    cell = Clip(full if len(full) <= width else full[: width - 1] + "…")
    cell.full, cell.width = full, width
    return cell


def short_lines(texts: Iterable[Any], width: int = 60) -> Clip:
    """One cut line per text, in one cell (a query's hits beside their ranks and scores)."""
    cells = [short(t, width) for t in texts]
    cell = Clip("\n".join(cells))
    cell.full, cell.width = "\n".join(c.full for c in cells), width
    return cell


def emit(
    records: Iterable[dict[str, Any]],
    *,
    fmt: str | None,
    output: str | None,
    columns: Sequence[Column],
    title: str | None = None,
    passthrough: Collection[str] | None = None,
) -> int:
    """Write ``records`` in the chosen format; return how many were written.

    ``passthrough``: when given, the table also shows every scalar field a record has beyond
    ``columns`` and this collection (the result's own fields left out on purpose): the input's
    passthrough columns. Other formats always carry every field.
    """
    from nlu_toolkit.io.writers import format_for_output, write_records

    chosen = format_for_output(output, fmt, isatty=sys.stdout.isatty())
    if chosen != "table":
        return write_records(records, chosen, output)
    from rich.console import Console

    from nlu_toolkit.cli.table import fit_table, table_cells

    headers, rows = table_cells(records, columns, passthrough)
    clear_progress()  # the rows are read: the bar goes before the table is drawn where it stood
    console = Console()
    console.print(fit_table(headers, rows, console.width, caption=title))
    return len(rows)


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
