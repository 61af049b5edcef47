"""Result tables: passthrough columns, columns left out when empty, cut text sharing the width, hit lists."""

from __future__ import annotations

import json
from pathlib import Path

from cli_checks import check_ok
from rich.console import Console

from nlu_toolkit.cli.render import short, short_lines
from nlu_toolkit.cli.table import fit_table, table_cells

COLUMNS = [("id", lambda r: str(r["id"])), ("text", lambda r: short(r["text"])), ("flag", lambda r: r["flag"])]


def draw(headers, rows, width: int) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(fit_table(headers, rows, width))
    return console.export_text().splitlines()


def test_passthrough_fields_become_columns_and_empty_columns_go() -> None:
    records = [{"id": 1, "text": "a", "flag": "", "source": "web", "vec": [1, 2]}, {"id": 2, "text": "b", "flag": ""}]
    headers, rows = table_cells(records, COLUMNS, passthrough=())
    assert headers == ["id", "text", "source"]  # flag is empty everywhere; lists are not cells
    assert [str(c) for c in rows[1]] == ["2", "b", ""]
    headers, _ = table_cells(records, COLUMNS, passthrough=("source",))
    assert headers == ["id", "text"]
    headers, _ = table_cells(records, COLUMNS, passthrough=None)
    assert headers == ["id", "text"]


def test_cut_text_fills_the_width_one_line_per_row() -> None:
    text = "word " * 60
    for width in (80, 160):
        lines = draw(["id", "text"], [["1", short(text)], ["2", short(text)]], width)
        assert len(lines) == 6, lines  # borders, header, two rows: nothing wraps
        assert width - 2 <= len(lines[3]) <= width and lines[3].rstrip().endswith("… │")


def test_cut_columns_share_by_weight() -> None:
    lines = draw(["text", "labels"], [[short("t" * 200, 60), short("l" * 200, 30)]], 100)
    row = lines[3].split("│")
    assert len(row[1].strip()) > len(row[2].strip()) > 12, row


def test_search_hits_stay_beside_their_ranks(nlu, st_model: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    long = "the quick brown fox jumps over the lazy dog and keeps running through the forest all day " * 2
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": f"{i} {long}"}) + "\n" for i in range(3)))
    result = nlu("embed", "--search", "fox", "--corpus", corpus, "--top-k", "3", "--model", st_model, "-f", "table")
    check_ok(result)
    body = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert len(body) == 3, result.stdout  # one line per hit: a wrapped text would push the next hit down
    assert sorted(line.split("│")[4].strip() for line in body) == ["d0", "d1", "d2"], result.stdout


def test_short_lines_keeps_one_line_per_text() -> None:
    cell = short_lines(["a  b", "c\nd"])
    assert cell.full == "a b\nc d" and str(cell) == "a b\nc d"


def test_wide_characters_are_measured_in_terminal_cells() -> None:
    """A CJK text that fits in the terminal's cells is shown whole, not cut at half its width."""
    text = "日本語のテキスト" * 2  # 16 characters, 32 cells
    lines = draw(["id", "text"], [["1", short(text)]], 60)
    assert text in lines[3], lines
