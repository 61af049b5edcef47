"""`nlu_toolkit.search.passages`: the splitter on a real fast tokenizer (the tiny ``st_model``'s).

Properties over varied texts (unicode, runs of spaces, newlines, tabs, no punctuation): every passage is
``text[start:end]`` with no white space at its edges, holds at most ``tokens`` tokens, moves forward, shares
at most ``overlap`` tokens with the one before, and together they cover every token. Then the sentence
rules, the records a parent gives, the settings checks and the per-document collapsing.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu_toolkit.errors import IndexCorrupted, InputError, UsageError
from nlu_toolkit.search.passages import (
    PassageSettings,
    check_passages,
    collapse_hits,
    passage_records,
    per_document_results,
    settings_of,
    split_text,
    token_offsets,
)

PROPS = settings(max_examples=150, deadline=None)
WORDS = ["the", "river", "Zürich", "naïve", "東京", "café", "🎉", "x", "bank", "money", "a-b", "don't", "3.5"]
GAPS = [" ", "  ", "   ", "\n", "\n\n", "\t", "\u00a0", " \n "]
ENDS = ["", ".", "!", "?", "…", "。", '."', ".)"]


@pytest.fixture(scope="module")
def tok(st_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(st_model)


@st.composite
def texts(draw: st.DrawFn) -> str:
    sentences = []
    for _ in range(draw(st.integers(1, 12))):
        words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=15))
        gaps = draw(st.lists(st.sampled_from(GAPS), min_size=len(words), max_size=len(words)))
        body = "".join(w + g for w, g in zip(words, gaps, strict=True)).rstrip()
        sentences.append(body + draw(st.sampled_from(ENDS)))
    joints = draw(st.lists(st.sampled_from(GAPS), min_size=len(sentences), max_size=len(sentences)))
    lead = draw(st.sampled_from(["", " ", "\n"]))
    return lead + "".join(s + j for s, j in zip(sentences, joints, strict=True))


def _tokens_in(offsets, start: int, end: int) -> set[int]:
    return {i for i, (s, e) in enumerate(offsets) if s >= start and e <= end}


@PROPS
@given(text=texts(), size=st.integers(1, 40), overlap_share=st.floats(0, 0.99))
def test_passages_are_exact_slices_within_the_window_covering_every_token(tok, text, size, overlap_share):
    chosen = PassageSettings(size, min(int(size * overlap_share), size - 1))
    offsets = token_offsets(tok, [text])[0]
    spans = split_text(text, chosen, offsets)
    assert spans
    covered: set[int] = set()
    previous: set[int] | None = None
    for (start, end), following in zip(spans, [*spans[1:], None], strict=True):
        passage = text[start:end]
        assert 0 <= start <= end <= len(text)
        assert passage == passage.strip() and (passage or not offsets)
        inside = _tokens_in(offsets, start, end)
        assert len(inside) <= chosen.tokens
        if previous is not None:
            assert len(previous & inside) <= chosen.overlap
        if following is not None:
            assert following[0] > start and following[1] > end  # every passage moves on
        covered |= inside
        previous = inside
    assert covered == set(range(len(offsets)))


def test_a_short_document_is_one_passage_and_an_empty_one_keeps_its_text(tok):
    text = "  Two words.  "
    assert split_text(text, PassageSettings(50, 10), token_offsets(tok, [text])[0]) == [(2, 12)]
    assert split_text(" ", PassageSettings(5, 1), []) == [(0, 1)]


def test_passages_end_at_sentence_ends_when_a_sentence_fits(tok):
    text = "a b c. d e f. g h i j k l m n o p."
    spans = split_text(text, PassageSettings(9, 0), token_offsets(tok, [text])[0])
    # "a b c." and "d e f." are 4 tokens each: both fit in 9, the third sentence does not
    assert text[spans[0][0] : spans[0][1]] == "a b c. d e f."
    assert text[spans[1][0] :].startswith("g h i")


def test_the_overlap_repeats_whole_sentences_that_fit(tok):
    text = "a b c d e f. g h. i j k l m n o."
    spans = split_text(text, PassageSettings(10, 3), token_offsets(tok, [text])[0])
    # the first passage ends after "g h." (9 tokens); "g h." (3 tokens) fits in the overlap: repeated whole
    assert text[spans[0][0] : spans[0][1]] == "a b c d e f. g h."
    assert text[spans[1][0] : spans[1][1]].startswith("g h. i j")


def test_a_sentence_longer_than_the_window_is_cut_between_tokens_with_the_exact_overlap(tok):
    text = " ".join("abcdefghijklmnopqrstuvwxyz")  # one sentence of 26 tokens
    offsets = token_offsets(tok, [text])[0]
    assert len(offsets) == 26
    spans = split_text(text, PassageSettings(10, 4), offsets)
    assert [text[s:e].replace(" ", "") for s, e in spans] == ["abcdefghij", "ghijklmnop", "mnopqrstuv", "stuvwxyz"]


def test_after_a_sentence_end_with_no_sentence_in_the_overlap_the_next_passage_starts_at_the_next_sentence(tok):
    text = "a b c d. e f g h i j k l"
    spans = split_text(text, PassageSettings(6, 2), token_offsets(tok, [text])[0])
    # "a b c d." ends a sentence (5 tokens) and is longer than the overlap: no half sentence repeated;
    # "e ... l" (8 tokens) is cut inside: the next passage starts exactly 2 tokens back
    assert [text[s:e] for s, e in spans] == ["a b c d.", "e f g h i j", "i j k l"]


def test_line_breaks_end_sentences(tok):
    text = "a b c\nd e f\ng h i j k"
    spans = split_text(text, PassageSettings(7, 0), token_offsets(tok, [text])[0])
    assert [text[s:e] for s, e in spans] == ["a b c\nd e f", "g h i j k"]


def test_unicode_runs_of_spaces_and_newlines_keep_exact_offsets(tok):
    text = "Zürich  ist   schön.\n\n東京 は 大きい！  Café\u00a0crème… ok 🎉🎉.\tEnd"
    records = list(passage_records([{"id": "u", "text": text}], tok, PassageSettings(6, 2)))
    assert len(records) > 2
    for r in records:
        assert text[r["start"] : r["end"]] == r["text"] and r["text"] == r["text"].strip()


def test_records_carry_parent_id_offsets_and_passthrough(tok):
    parents = [{"id": 7, "text": "a b c. d e f. g h", "topic": "t"}, {"id": "b", "text": "x"}]
    seen = []
    rows = list(passage_records(parents, tok, PassageSettings(4, 1), seen=lambda k, ids: seen.append((k, ids))))
    assert rows[0] == {"id": "7#0", "text": "a b c.", "parent_id": 7, "start": 0, "end": 6, "topic": "t"}
    assert [r["text"] for r in rows[:-1]] == ["a b c.", "d e f.", "g h"]
    assert [r["id"] for r in rows if r["parent_id"] == 7] == [f"7#{k}" for k in range(len(rows) - 1)]
    assert rows[-1] == {"id": "b#0", "text": "x", "parent_id": "b", "start": 0, "end": 1}
    assert seen == [("7", [r["id"] for r in rows[:-1]]), ("b", ["b#0"])]
    keyed = next(passage_records(parents, tok, PassageSettings(4, 1), parent_key=True))
    assert keyed["parent_id"] == "7"


def test_a_record_with_a_passage_column_of_its_own_is_refused(tok):
    with pytest.raises(InputError, match="'start'"):
        list(passage_records([{"id": 1, "text": "a", "start": 3}], tok, PassageSettings(4, 1)))


def test_a_slow_tokenizer_is_refused():
    with pytest.raises(UsageError, match="fast tokenizer"):
        list(passage_records([{"id": 1, "text": "a"}], SimpleNamespace(is_fast=False), PassageSettings(4, 1)))


@pytest.mark.parametrize(
    ("passages", "overlap", "words"),
    [
        (200, 200, "overlap (200) must be smaller than passages (200)"),
        (20, 40, "must be smaller"),
        (0, None, "passages must be a whole number of tokens, at least 1"),
        (10, -1, "overlap must be a whole number of tokens, at least 0"),
        (None, 5, "overlap applies to passages"),
        (600, 40, "longer than the model embeds (510 tokens)"),
    ],
)
def test_bad_settings_are_usage_errors_naming_the_parameters(passages, overlap, words):
    with pytest.raises(UsageError) as caught:
        check_passages(passages, overlap, limit=510)
    assert words in str(caught.value)


def test_good_settings():
    assert check_passages(None, None) is None and check_passages(None, 0) is None
    assert check_passages(200, 40, limit=510) == PassageSettings(200, 40)
    assert check_passages(5, None) == PassageSettings(5, 0)


def test_settings_from_a_manifest():
    assert settings_of({}, "idx") is None
    assert settings_of({"passages": {"tokens": 9, "overlap": 2}}, "idx") == PassageSettings(9, 2)
    for bad in ({"tokens": 9, "overlap": 9}, {"tokens": "9", "overlap": 0}, [9, 2], {"tokens": 9}):
        with pytest.raises(IndexCorrupted):
            settings_of({"passages": bad}, "idx")


def _hit(parent: str, k: int) -> SimpleNamespace:
    return SimpleNamespace(doc={"id": f"{parent}#{k}", "parent_id": parent})


def test_collapsing_keeps_the_best_passage_per_parent_and_fetches_more_until_enough_parents():
    ranked = [_hit("a", k) for k in range(50)] + [_hit("b", 0), _hit("a", 50), _hit("c", 3), _hit("c", 1)]
    asked = []

    def fetch(k):
        asked.append(k)
        return [ranked[:k]]

    [hits] = collapse_hits(fetch, 3)
    assert [h.doc["id"] for h in hits] == ["a#0", "b#0", "c#3"]
    assert asked == [20, 80]  # 20 candidates held one parent: four times more
    [two] = collapse_hits(lambda k: [ranked[:k]], 2, start=60)
    assert [h.doc["id"] for h in two] == ["a#0", "b#0"]


def test_collapsing_stops_when_the_hits_run_out_and_without_parents_each_row_is_its_own():
    rows = [SimpleNamespace(doc={"id": i}) for i in (1, 2, 2, 3)]
    [hits] = collapse_hits(lambda k: [rows[:k]], 10)
    assert [h.doc["id"] for h in hits] == [1, 2, 3]
    results = per_document_results(lambda k: [SimpleNamespace(hits=rows[:k])], 2)
    assert [h.doc["id"] for h in results[0].hits] == [1, 2]
