"""Unit tests for nlu_toolkit.core.spans: window merging and entity aggregation."""

from __future__ import annotations

import numpy as np
import pytest

from nlu_toolkit.core.spans import STRATEGIES, Token, aggregate, merge_windows

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
ID2LABEL = dict(enumerate(LABELS))
IDX = {label: i for i, label in enumerate(LABELS)}


def probs(label: str, p: float = 0.9, **others: float) -> np.ndarray:
    """A probability vector with ``p`` on ``label``, given extra mass on others, the rest spread evenly."""
    s = np.zeros(len(LABELS))
    s[IDX[label]] = p
    for name, value in others.items():
        s[IDX[name.replace("_", "-")]] = value
    rest = 1.0 - s.sum()
    free = s == 0
    s[free] = rest / free.sum()
    return s


def tok(text: str, piece: str, word_id: int | None, label: str, p: float = 0.9, *, after: int = 0, **others):
    start = text.index(piece, after)
    return Token(start, start + len(piece), word_id, probs(label, p, **others))


TEXT = "Megatron lives in Paris"


def megatron_tokens() -> list[Token]:
    """'Mega' and 'tron' are two tokens of word 0 with different argmax labels."""
    return [
        tok(TEXT, "Mega", 0, "B-PER", 0.6),
        tok(TEXT, "tron", 0, "I-LOC", 0.9),
        tok(TEXT, "lives", 1, "O", 0.95),
        tok(TEXT, "in", 2, "O", 0.97, after=9),
        tok(TEXT, "Paris", 3, "B-LOC", 0.8),
    ]


def word_bounds(tokens):
    starts, ends = set(), set()
    groups: dict[int, list[Token]] = {}
    for t in tokens:
        groups.setdefault(t.word_id, []).append(t)
    for group in groups.values():
        starts.add(group[0].start)
        ends.add(group[-1].end)
    return starts, ends


# --------------------------------------------------------------------------- word-level strategies


@pytest.mark.parametrize("strategy", ["first", "average", "max"])
def test_word_strategies_never_split_a_word(strategy):
    tokens = megatron_tokens()
    entities = aggregate(tokens, TEXT, ID2LABEL, strategy)
    starts, ends = word_bounds(tokens)
    for e in entities:
        assert e["start"] in starts
        assert e["end"] in ends
        assert e["word"] == TEXT[e["start"] : e["end"]]
    words = [e["word"] for e in entities]
    assert words == ["Megatron", "Paris"]
    assert "Mega" not in words and "tron" not in words


def test_first_takes_first_token_label_and_score():
    entities = aggregate(megatron_tokens(), TEXT, ID2LABEL, "first")
    assert entities == [
        {"label": "PER", "score": pytest.approx(0.6), "start": 0, "end": 8, "word": "Megatron"},
        {"label": "LOC", "score": pytest.approx(0.8), "start": 18, "end": 23, "word": "Paris"},
    ]


def test_average_takes_mean_scores():
    tokens = megatron_tokens()
    mean = (tokens[0].scores + tokens[1].scores) / 2
    k = int(np.argmax(mean))
    assert LABELS[k] == "I-LOC"
    entities = aggregate(tokens, TEXT, ID2LABEL, "average")
    assert entities[0] == {"label": "LOC", "score": pytest.approx(mean[k]), "start": 0, "end": 8, "word": "Megatron"}


def test_max_takes_most_confident_token():
    entities = aggregate(megatron_tokens(), TEXT, ID2LABEL, "max")
    assert entities[0] == {"label": "LOC", "score": pytest.approx(0.9), "start": 0, "end": 8, "word": "Megatron"}


def test_first_groups_multi_word_entity_and_score_is_mean_of_words():
    text = "I met John Ronald Smith in New York today"
    tokens = [
        tok(text, "I", 0, "O"),
        tok(text, "met", 1, "O"),
        tok(text, "John", 2, "B-PER", 0.9),
        tok(text, "Ron", 3, "I-PER", 0.8),
        tok(text, "ald", 3, "O", 0.9),  # ignored by "first"
        tok(text, "Smith", 4, "I-PER", 0.7),
        tok(text, "in", 5, "O", after=20),
        tok(text, "New", 6, "B-LOC", 0.6),
        tok(text, "York", 7, "I-LOC", 0.8),
        tok(text, "today", 8, "O"),
    ]
    entities = aggregate(tokens, text, ID2LABEL, "first")
    assert [(e["label"], e["word"]) for e in entities] == [("PER", "John Ronald Smith"), ("LOC", "New York")]
    assert entities[0]["score"] == pytest.approx((0.9 + 0.8 + 0.7) / 3)
    assert entities[1]["score"] == pytest.approx(0.7)


def test_word_strategies_new_b_splits_adjacent_entities():
    text = "Ann Bob"
    tokens = [tok(text, "Ann", 0, "B-PER"), tok(text, "Bob", 1, "B-PER")]
    for strategy in ("first", "average", "max", "simple"):
        entities = aggregate(tokens, text, ID2LABEL, strategy)
        assert [e["word"] for e in entities] == ["Ann", "Bob"], strategy


def test_special_tokens_without_word_id_stand_alone():
    text = "Paris"
    tokens = [
        Token(0, 0, None, probs("O")),
        Token(0, 3, 0, probs("B-LOC", 0.8)),
        Token(3, 5, 0, probs("I-LOC", 0.6)),
        Token(5, 5, None, probs("O")),
    ]
    for strategy in ("first", "average", "max"):
        entities = aggregate(tokens, text, ID2LABEL, strategy)
        assert [(e["label"], e["word"]) for e in entities] == [("LOC", "Paris")], strategy


# --------------------------------------------------------------------------- none / simple (like transformers)


def test_none_keeps_raw_tags_and_drops_o():
    entities = aggregate(megatron_tokens(), TEXT, ID2LABEL, "none")
    assert entities == [
        {"label": "B-PER", "score": pytest.approx(0.6), "start": 0, "end": 4, "word": "Mega"},
        {"label": "I-LOC", "score": pytest.approx(0.9), "start": 4, "end": 8, "word": "tron"},
        {"label": "B-LOC", "score": pytest.approx(0.8), "start": 18, "end": 23, "word": "Paris"},
    ]


def test_simple_works_per_token_so_a_word_may_split():
    entities = aggregate(megatron_tokens(), TEXT, ID2LABEL, "simple")
    assert [(e["label"], e["word"], e["start"], e["end"]) for e in entities] == [
        ("PER", "Mega", 0, 4),
        ("LOC", "tron", 4, 8),
        ("LOC", "Paris", 18, 23),
    ]


def test_simple_groups_b_i_and_splits_on_new_b():
    text = "Ann Lee met Bob Ray at Acme Corp"
    tokens = [
        tok(text, "Ann", 0, "B-PER", 0.9),
        tok(text, "Lee", 1, "I-PER", 0.7),
        tok(text, "met", 2, "O"),
        tok(text, "Bob", 3, "B-PER", 0.8),
        tok(text, "Ray", 4, "B-PER", 0.6),  # a new B- starts a new entity
        tok(text, "at", 5, "O"),
        tok(text, "Acme", 6, "B-ORG", 0.5),
        tok(text, "Corp", 7, "I-ORG", 0.7),
    ]
    entities = aggregate(tokens, text, ID2LABEL, "simple")
    assert [(e["label"], e["word"]) for e in entities] == [
        ("PER", "Ann Lee"),
        ("PER", "Bob"),
        ("PER", "Ray"),
        ("ORG", "Acme Corp"),
    ]
    assert [e["score"] for e in entities] == pytest.approx([0.8, 0.8, 0.6, 0.6])


def test_simple_i_without_b_starts_entity_and_type_change_splits():
    text = "Paris Hilton Acme"
    tokens = [
        tok(text, "Paris", 0, "I-LOC", 0.7),
        tok(text, "Hilton", 1, "I-PER", 0.9),
        tok(text, "Acme", 2, "I-PER", 0.5),
    ]
    entities = aggregate(tokens, text, ID2LABEL, "simple")
    assert [(e["label"], e["word"]) for e in entities] == [("LOC", "Paris"), ("PER", "Hilton Acme")]
    assert entities[1]["score"] == pytest.approx(0.7)


def test_simple_subwords_of_one_entity_merge():
    text = "Megatron"
    tokens = [Token(0, 4, 0, probs("B-PER", 0.8)), Token(4, 8, 0, probs("I-PER", 0.6))]
    assert aggregate(tokens, text, ID2LABEL, "simple") == [
        {"label": "PER", "score": pytest.approx(0.7), "start": 0, "end": 8, "word": "Megatron"}
    ]


def test_plain_labels_without_prefix():
    id2label = {0: "O", 1: "PER", 2: "LOC"}
    text = "Ann Lee in Rome"
    tokens = [
        Token(0, 3, 0, np.array([0.1, 0.9, 0.0])),
        Token(4, 7, 1, np.array([0.2, 0.7, 0.1])),
        Token(8, 10, 2, np.array([0.9, 0.05, 0.05])),
        Token(11, 15, 3, np.array([0.1, 0.1, 0.8])),
    ]
    entities = aggregate(tokens, text, id2label, "simple")
    assert [(e["label"], e["word"]) for e in entities] == [("PER", "Ann Lee"), ("LOC", "Rome")]
    assert [e["label"] for e in aggregate(tokens, text, id2label, "none")] == ["PER", "PER", "LOC"]


@pytest.mark.parametrize("strategy", ["simple", "first"])
def test_bioes_single_tags_are_separate_entities(strategy):
    id2label = {0: "O", 1: "S-PER", 2: "B-PER", 3: "E-PER"}
    text = "Ann Bob"
    tokens = [Token(0, 3, 0, np.array([0.05, 0.9, 0.03, 0.02])), Token(4, 7, 1, np.array([0.05, 0.9, 0.03, 0.02]))]
    assert [e["word"] for e in aggregate(tokens, text, id2label, strategy)] == ["Ann", "Bob"]


# --------------------------------------------------------------------------- common properties


def test_all_o_gives_no_entities():
    tokens = [Token(0, 5, 0, probs("O")), Token(6, 11, 1, probs("O"))]
    for strategy in STRATEGIES:
        assert aggregate(tokens, "hello world", ID2LABEL, strategy) == []


def test_no_tokens_gives_no_entities():
    for strategy in STRATEGIES:
        assert aggregate([], "", ID2LABEL, strategy) == []


def test_unknown_strategy():
    with pytest.raises(ValueError, match="bogus"):
        aggregate(megatron_tokens(), TEXT, ID2LABEL, "bogus")


def test_entity_types_are_plain_python():
    for strategy in STRATEGIES:
        for e in aggregate(megatron_tokens(), TEXT, ID2LABEL, strategy):
            assert type(e["score"]) is float
            assert type(e["start"]) is int and type(e["end"]) is int
            assert isinstance(e["label"], str) and isinstance(e["word"], str)
            assert 0.0 <= e["score"] <= 1.0


def random_tokens(rng):
    """Random words split into 1-3 sub-tokens with random label distributions."""
    words = ["".join(rng.choice(list("abcdefgh"), size=rng.integers(1, 7))) for _ in range(rng.integers(1, 12))]
    text = " ".join(words)
    tokens, pos = [], 0
    for w_id, word in enumerate(words):
        cuts = sorted(set(rng.integers(1, len(word) + 1, size=rng.integers(0, 3)).tolist()) | {len(word)})
        prev = 0
        for cut in cuts:
            logits = rng.normal(size=len(LABELS)) * 3
            p = np.exp(logits) / np.exp(logits).sum()
            tokens.append(Token(pos + prev, pos + cut, w_id, p))
            prev = cut
        pos += len(word) + 1
    return text, tokens


@pytest.mark.parametrize("seed", range(30))
def test_random_invariants(seed):
    rng = np.random.default_rng(seed)
    text, tokens = random_tokens(rng)
    starts, ends = word_bounds(tokens)
    for strategy in STRATEGIES:
        entities = aggregate(tokens, text, ID2LABEL, strategy)
        last_end = -1
        for e in entities:
            assert e["word"] == text[e["start"] : e["end"]]
            assert e["start"] < e["end"]
            assert e["start"] >= last_end, "entities are ordered and do not overlap"
            last_end = e["end"]
            assert 0.0 <= e["score"] <= 1.0
            if strategy == "none":
                assert e["label"] in LABELS and e["label"] != "O"
            else:
                assert e["label"] in {"PER", "LOC", "ORG"}
            if strategy in ("first", "average", "max"):
                assert e["start"] in starts and e["end"] in ends


# --------------------------------------------------------------------------- merge_windows


def test_merge_windows_keeps_copy_with_more_context_and_orders_by_offset():
    a = [Token(0, 3, 0, probs("O"), 0), Token(4, 7, 1, probs("B-PER"), 1), Token(8, 11, 2, probs("O"), 0)]
    b = [Token(4, 7, 1, probs("B-LOC"), 0), Token(8, 11, 2, probs("B-ORG"), 1), Token(12, 15, 3, probs("O"), 0)]
    merged = merge_windows([b, a])  # windows given out of order
    assert [(t.start, t.end) for t in merged] == [(0, 3), (4, 7), (8, 11), (12, 15)]
    assert merged[1] is a[1]  # context 1 beats 0
    assert merged[2] is b[1]


def test_merge_windows_tie_keeps_first_seen():
    first = Token(0, 3, 0, probs("B-PER"), 2)
    second = Token(0, 3, 0, probs("B-LOC"), 2)
    assert merge_windows([[first], [second]]) == [first]
    assert merge_windows([[first], [second]])[0] is first


def test_merge_windows_three_overlapping_windows():
    def window(lo, hi, tag):
        ids = list(range(lo, hi))
        return [Token(i * 2, i * 2 + 1, i, probs(tag), min(i - lo, hi - 1 - i)) for i in ids]

    w1, w2, w3 = window(0, 6, "B-PER"), window(3, 9, "B-LOC"), window(6, 12, "B-ORG")
    merged = merge_windows([w1, w2, w3])
    assert [t.word_id for t in merged] == list(range(12))
    for t in merged:
        copies = [c for w in (w1, w2, w3) for c in w if c.start == t.start]
        assert t.context == max(c.context for c in copies)


def test_merge_windows_empty():
    assert merge_windows([]) == []
    assert merge_windows([[], []]) == []


def test_merge_then_aggregate_keeps_word_whole():
    text = "Megatron"
    w1 = [Token(0, 4, 0, probs("B-PER", 0.9), 1), Token(4, 8, 0, probs("I-PER", 0.8), 0)]
    w2 = [Token(4, 8, 0, probs("I-PER", 0.7), 2)]
    merged = merge_windows([w1, w2])
    assert len(merged) == 2
    assert merged[1] is w2[0]
    entities = aggregate(merged, text, ID2LABEL, "average")
    assert [(e["label"], e["word"]) for e in entities] == [("PER", "Megatron")]
