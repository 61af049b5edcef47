"""`reduce_rounds`: the map-reduce that brings a long document's summary under ``max_length`` tokens."""

from __future__ import annotations

from nlu_toolkit.tasks.generation_settings import reduce_rounds


def count(text: str) -> int:
    return len(text.split())


def chunks(text: str) -> list[str]:
    """Pieces of at most 10 words, like an encoder of 10 tokens."""
    words = text.split()
    return [" ".join(words[i : i + 10]) for i in range(0, len(words), 10)]


def halve(pieces: list[str]) -> list[str]:
    """A summarizer whose summary is the first half of each piece's words."""
    return [" ".join(p.split()[: max(1, len(p.split()) // 2)]) for p in pieces]


def test_rounds_until_the_summary_fits():
    calls: list[int] = []

    def run(pieces: list[str]) -> list[str]:
        calls.append(len(pieces))
        return halve(pieces)

    long, short = " ".join(f"w{i}" for i in range(80)), "one two"
    texts, rounds = reduce_rounds([long, short], [True, False], 8, chunks, run, count, 8)
    # 80 words -> 8 pieces of 10 -> 40 -> 4 pieces -> 20 -> 2 pieces -> 10 -> 1 piece -> 5
    assert calls == [8, 4, 2, 1]
    assert rounds == [5, 1] and count(texts[0]) == 5 <= 8 and texts[1] == short


def test_the_rounds_stop_at_the_cap():
    long = " ".join(f"w{i}" for i in range(80))
    texts, rounds = reduce_rounds([long], [True], 8, chunks, halve, count, 3)
    assert rounds == [3] and count(texts[0]) == 20  # over the bound: the cap wins


def test_a_round_that_does_not_shorten_is_the_last():
    long = " ".join(f"w{i}" for i in range(30))
    texts, rounds = reduce_rounds([long], [True], 8, chunks, lambda pieces: pieces, count, 8)
    assert rounds == [2] and count(texts[0]) == 30


def test_nothing_to_reduce():
    long = " ".join(f"w{i}" for i in range(30))
    fail = lambda pieces: (_ for _ in ()).throw(AssertionError("no round expected"))  # noqa: E731
    assert reduce_rounds([long], [True], None, chunks, fail, count, 8) == ([long], [1])  # no bound
    assert reduce_rounds([long], [False], 8, chunks, fail, count, 8) == ([long], [1])  # one chunk: generate's bound
    assert reduce_rounds([long], [True], 30, chunks, fail, count, 8) == ([long], [1])  # fits already
