"""Property tests (hypothesis) for `nlu_toolkit.core.spans`: window merging and entity aggregation.

Invariants (the module's docstrings): ``word == text[start:end]``; entities are sorted,
do not overlap and lie within the text; scores are probabilities; ``O`` never appears;
``none`` gives one entity per non-O token; merging overlapping windows gives back each
token once, in offset order, the copy with the most context.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu_toolkit.core.spans import STRATEGIES, Token, aggregate, merge_windows

PROPS = settings(max_examples=100, deadline=None)

SCHEMES = {
    "iob2": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    "bioes": ["O", "B-ORG", "I-ORG", "E-ORG", "S-ORG", "S-LOC"],
    "bilou": ["O", "B-PER", "I-PER", "L-PER", "U-PER"],
    "io": ["O", "PER", "LOC"],
}


@st.composite
def scored_text(draw: st.DrawFn) -> tuple[str, list[Token], dict[int, str]]:
    """A text cut into tokens (gaps between some), grouped into words, with random probabilities."""
    labels = SCHEMES[draw(st.sampled_from(sorted(SCHEMES)))]
    pieces = draw(st.lists(st.tuples(st.text(min_size=1, max_size=6), st.booleans(), st.booleans()), max_size=20))
    text, tokens, word = "", [], -1
    for piece, gap, new_word in pieces:
        if gap:
            text += " "
        if new_word or gap or word < 0:
            word += 1
        raw = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=len(labels), max_size=len(labels))))
        raw = raw + 1e-6  # never all zero
        word_id = None if draw(st.integers(0, 9)) == 0 else word  # special tokens have no word
        tokens.append(Token(len(text), len(text) + len(piece), word_id, raw / raw.sum()))
        text += piece
    text += draw(st.text(max_size=3))
    return text, tokens, dict(enumerate(labels))


@PROPS
@given(case=scored_text(), strategy=st.sampled_from(STRATEGIES))
def test_entities_are_sorted_disjoint_in_bounds_with_word_equal_to_the_text_span(case, strategy):
    text, tokens, id2label = case
    entities = aggregate(tokens, text, id2label, strategy)
    previous_end = 0
    for e in entities:
        assert 0 <= e["start"] < e["end"] <= len(text)
        assert e["start"] >= previous_end  # sorted and not overlapping
        previous_end = e["end"]
        assert e["word"] == text[e["start"] : e["end"]]
        assert 0.0 <= e["score"] <= 1.0
        assert e["label"] != "O"
        if strategy != "none":  # grouped entities carry the bare type
            assert e["label"] in {lab[2:] if lab[1:2] == "-" else lab for lab in id2label.values()}
    if strategy == "none":
        tags = [id2label[int(np.argmax(t.scores))] for t in tokens]
        assert len(entities) == sum(tag != "O" for tag in tags)
    # Entities begin and end on token edges; with word-level strategies, on word edges.
    if strategy in ("none", "simple"):
        starts, ends = {t.start for t in tokens}, {t.end for t in tokens}
    else:
        firsts = [i for i, t in enumerate(tokens) if i == 0 or t.word_id is None or t.word_id != tokens[i - 1].word_id]
        starts = {tokens[i].start for i in firsts}
        ends = {tokens[i - 1].end for i in [*firsts[1:], len(tokens)] if i > 0}
    assert {e["start"] for e in entities} <= starts
    assert {e["end"] for e in entities} <= ends


@PROPS
@given(case=scored_text())
def test_with_every_token_outside_there_is_no_entity(case):
    text, tokens, id2label = case
    outside = [Token(t.start, t.end, t.word_id, np.eye(len(id2label))[0]) for t in tokens]
    for strategy in STRATEGIES:
        assert aggregate(outside, text, id2label, strategy) == []


@PROPS
@given(case=scored_text(), size=st.integers(1, 8), stride=st.integers(1, 8))
def test_merging_overlapping_windows_gives_each_token_once_with_the_most_context(case, size, stride):
    _, tokens, _ = case
    stride = min(stride, size)  # windows that overlap or touch cover every token
    windows = []
    for a in range(0, max(len(tokens), 1), stride):
        window = tokens[a : a + size]
        # context: distance to the nearer window edge, as the NER reader sets it
        windows.append(
            [Token(t.start, t.end, t.word_id, t.scores, min(i, len(window) - 1 - i)) for i, t in enumerate(window)]
        )
    merged = merge_windows(windows)
    assert [(t.start, t.end) for t in merged] == [(t.start, t.end) for t in tokens]
    for t in merged:
        best = max(
            (w for window in windows for w in window if (w.start, w.end) == (t.start, t.end)), key=lambda w: w.context
        )
        assert t.context == best.context
