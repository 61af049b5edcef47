"""Result tables on a terminal: every column on one line per row, text cut to the width left.

A record's fields become cells through the command's columns; `Clip` cells (from
`render.short`) share the width the other columns leave, so a wide terminal shows more of
the text and an 80-column one still gets a readable row. Passthrough fields of the input
get columns of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

#: Width a cut column keeps even on a narrow terminal (below it, rich wraps the other columns).
MIN_CLIP = 12
#: Share of the terminal's width kept for the cut columns when the others would take it all.
CLIP_SHARE = 0.4


def table_cells(
    records: Iterable[dict[str, Any]],
    columns: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]],
    passthrough: Collection[str] | None,
) -> tuple[list[str], list[list[Any]]]:
    """Headers and cells: the ``columns``, then (when ``passthrough`` is not None) the other scalar fields.

    Columns empty in every row are left out.
    """
    headers = [name for name, _ in columns]
    rows: list[tuple[list[Any], dict[str, Any]]] = []
    extra: dict[str, None] = {}
    skip = set(headers) | set(passthrough or ())
    for record in records:
        rows.append(([get(record) for _, get in columns], record))
        if passthrough is not None:
            extra.update(dict.fromkeys(k for k, v in record.items() if k not in skip and _scalar(v)))
    from nlu_toolkit.cli.render import short

    cells = [row + [short("" if r.get(k) is None else r[k]) for k in extra] for row, r in rows]
    headers += list(extra)
    # A column empty in every row (no text truncated, a passthrough column never filled) says nothing.
    keep = [i for i in range(len(headers)) if not cells or any(str(row[i]) for row in cells)]
    return [headers[i] for i in keep], [[row[i] for i in keep] for row in cells]


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def fit_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], width: int, caption: str | None = None) -> Any:
    """A rich Table whose cut columns (`Clip` cells) fill the ``width`` the others leave, one line per row."""
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    from nlu_toolkit.cli.render import Clip

    clip = [bool(rows) and all(isinstance(row[i], Clip) for row in rows) for i in range(len(headers))]
    texts = [[(c.full if isinstance(c, Clip) else str(c)) for c in row] for row in rows]
    natural = [
        # terminal cells, not characters: a CJK character or an emoji takes two
        max([cell_len(h)] + [max(map(cell_len, t[i].split("\n")), default=0) for t in texts])
        for i, h in enumerate(headers)
    ]
    # Each column costs its text plus 3 (a space either side, one border); the table one more border.
    room = width - 3 * len(headers) - 1
    wanted = [n for n, c in zip(natural, clip, strict=True) if c]
    weights = [rows[0][i].width for i, c in enumerate(clip) if c]
    fixed = sum(n for n, c in zip(natural, clip, strict=True) if not c)
    # Cut columns get what the others leave, but never less than CLIP_SHARE of the room between them:
    # past that, the other columns wrap (rich narrows them) so the text stays readable.
    limits = _share(max(room - fixed, min(sum(wanted), int(room * CLIP_SHARE))), wanted, weights)
    table = Table(caption=caption, caption_justify="left", highlight=False)
    shares = iter(limits)
    for header, is_clip in zip(headers, clip, strict=True):
        if is_clip:
            table.add_column(header, no_wrap=True, overflow="ellipsis", max_width=next(shares))
        else:
            table.add_column(header)
    for row in texts:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _share(room: int, wanted: list[int], weights: list[int]) -> list[int]:
    """Widths for columns that want ``wanted``: what they want if it fits, else shares of ``room`` by weight."""
    limits = [0] * len(wanted)
    left, order = room, sorted(range(len(wanted)), key=lambda i: wanted[i] / weights[i])
    for n, i in enumerate(order):
        fair = left * weights[i] // max(1, sum(weights[j] for j in order[n:]))
        limits[i] = min(wanted[i], max(MIN_CLIP, fair))
        left -= limits[i]
    return limits
