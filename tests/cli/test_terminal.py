"""What a person sees: commands run in a real pseudo-terminal, the screen read back through a VT100 emulator.

``pexpect`` gives the command a pty of a chosen size (so rich draws its progress bar and tables as
on a terminal), ``pyte`` replays the bytes into a screen, and the tests assert on its lines: the
bar never shares a line with the table, the table's columns, how much text fits, the help's extras.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")
pyte = pytest.importorskip("pyte")

ROWS = 60
BOX = "┏┃┡│└"  # the first characters of a table's lines
LONG_TEXT = "review {i}: the film starts slowly, then the plot thickens and the ending surprises everybody in the room"


def run_in_terminal(args: list[str], cols: int, lines: int = 500, timeout: float = 180) -> tuple[list[str], list[str]]:
    """Run ``nlu ARGS`` on a ``cols``-wide pty; return the final screen and every line a progress bar drew."""
    screen = pyte.Screen(cols, lines)
    stream = pyte.ByteStream(screen)
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(lines)}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable, ["-m", "nlu_toolkit", *args], dimensions=(lines, cols), env=env, timeout=timeout
    )
    bars: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stream.feed(child.read_nonblocking(65536, timeout=5))
        except pexpect.TIMEOUT:
            continue
        except pexpect.EOF:
            break
        bars += [line.rstrip() for line in screen.display if "━" in line and line[:1] not in BOX]
    child.close()
    assert child.exitstatus == 0, "\n".join(screen.display)
    return [line.rstrip() for line in screen.display if line.strip()], bars


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV of long texts with two passthrough columns (source, lang)."""
    path = tmp_path_factory.mktemp("terminal") / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "source", "lang"])
        for i in range(ROWS):
            writer.writerow([f"r{i}", LONG_TEXT.format(i=i), "imdb", "en"])
    return path


def table_lines(screen: list[str]) -> list[str]:
    return [line for line in screen if line[:1] in BOX]


@pytest.mark.parametrize("cols", [80, 160])
def test_classify_bar_and_table_never_share_a_line(reviews: Path, cls_model: str, cols: int) -> None:
    screen, bars = run_in_terminal(["classify", "--input", str(reviews), "--model", cls_model], cols)
    top = next(line for line in screen if "┏" in line)
    assert top.startswith("┏"), f"the table's top border shares a line: {top!r}"
    assert not any("━" in line and "classifying" in line for line in screen), "the bar was left on the screen"
    assert bars, "no progress bar was drawn on the terminal"
    assert all("classifying" in b and "rows" in b for b in bars), bars
    header = next(line for line in screen if line.startswith("┃"))
    for column in ("id", "text", "label", "score", "source", "lang"):
        assert f" {column} " in header, (column, header)
    body = [line for line in table_lines(screen) if line.startswith("│ r")]
    assert len(body) == ROWS, "every record has its row"
    assert all(len(line) <= cols for line in screen)


def test_wide_terminal_shows_more_text(reviews: Path, cls_model: str) -> None:
    narrow, _ = run_in_terminal(["classify", "--input", str(reviews), "--model", cls_model], 100)
    wide, _ = run_in_terminal(["classify", "--input", str(reviews), "--model", cls_model], 200)

    def shown(screen: list[str]) -> str:
        row = next(line for line in screen if line.startswith("│ r0 "))
        return row.split("│")[2].strip()

    assert LONG_TEXT.format(i=0).startswith(shown(wide).rstrip("…")), shown(wide)
    assert len(shown(wide)) > len(shown(narrow)) and len(shown(wide)) > 60, (shown(narrow), shown(wide))


def test_ner_bar_and_table_apart(reviews: Path, ner_model: str) -> None:
    screen, bars = run_in_terminal(["ner", "--input", str(reviews), "--model", ner_model], 160)
    assert all("tagging" in b for b in bars)
    assert not any("tagging" in line for line in screen)
    assert next(line for line in screen if "┏" in line).startswith("┏")
    header = next(line for line in screen if line.startswith("┃"))
    assert " source " in header and " lang " in header, header


@pytest.mark.parametrize("cols", [80, 160])
def test_help_shows_the_install_extras(cols: int) -> None:
    screen, _ = run_in_terminal(["classify", "--help"], cols)
    flat = "".join(line.strip("│ ").replace(" ", "") for line in screen)
    assert "nlu-toolkit[onnx]" in flat and "nlu-toolkit[openvino]" in flat, flat


def test_progress_bar_shows_count_rate_percent_and_eta() -> None:
    """The bar's columns, drawn on a recorded console: 50% read, 250 rows, a rate and the time left."""
    from rich.console import Console
    from rich.progress import Progress

    from nlu_toolkit.cli import render

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    progress = Progress(console=console)
    bar = render._Bar(progress, progress.add_task("classifying", total=None))
    progress.columns = render._bar_columns(bar)
    progress.start_task(bar.task)
    start = time.monotonic()
    for done in range(0, 501, 50):
        bar(done, 1000)
        time.sleep(0.12)
    bar.rows = 250
    while time.monotonic() - start < 1.5:  # the rate is shown after a second
        time.sleep(0.05)
    console.print(progress.make_tasks_table(progress.tasks))
    text = console.file.getvalue()
    assert "classifying" in text and "50%" in text and "250 rows" in text, text
    assert "/s" in text and "eta 0:00:" in text, text


def test_verbose_model_line_is_printed_above_the_bar(reviews: Path, cls_model: str) -> None:
    """``-v`` prints the model line while the bar is drawn: it must get a line of its own."""
    screen, _ = run_in_terminal(["classify", "--input", str(reviews), "--model", cls_model, "-v"], 200)
    model_lines = [line for line in screen if "backend:" in line]
    assert model_lines and all(line.startswith("model: ") for line in model_lines), screen[:5]
