"""`ner` / `EntityRecognizer` on the tiny token classifier: aggregations, offsets, long texts."""

from __future__ import annotations

import pytest

from nlu_toolkit import EntityRecognizer, ner
from nlu_toolkit.errors import UsageError

TEXT = "John lives in Paris and works for Acme Corp with Megatron and Zenbus in London."
BASE = "John lives in Paris and works for Acme Corp with Megatron and Zenbus in London. "
#: About 280 tokens: over four times the tiny model's 64-token limit.
LONG = BASE * 12
WORD_LEVEL = ("first", "average", "max")


def _is_word_char(c: str) -> bool:
    return c.isalnum()


def inside_a_word(text: str, start: int, end: int) -> bool:
    """True when the span starts or ends between two letters of one word."""
    starts_inside = start > 0 and _is_word_char(text[start - 1]) and _is_word_char(text[start])
    ends_inside = end < len(text) and _is_word_char(text[end - 1]) and _is_word_char(text[end])
    return starts_inside or ends_inside


def test_the_tiny_vocabulary_splits_megatron_into_subwords(ner_model):
    from transformers import AutoTokenizer

    pieces = AutoTokenizer.from_pretrained(ner_model).tokenize("Megatron")
    assert pieces[:3] == ["Mega", "##t", "##r"]


@pytest.mark.parametrize("aggregation", ["none", "simple", "first", "average", "max"])
def test_offsets_and_words(ner_model, aggregation):
    (result,) = ner(TEXT, model=ner_model, aggregation=aggregation)
    assert result.text == TEXT and result.id == 0 and result.truncated is False
    assert result.entities
    for e in result.entities:
        assert e.word == TEXT[e.start : e.end]
        assert 0 <= e.start < e.end <= len(TEXT)
        assert 0.0 < e.score <= 1.0
        assert e.word == e.word.strip()
    starts = [e.start for e in result.entities]
    assert starts == sorted(starts)
    if aggregation != "none":
        for a, b in zip(result.entities, result.entities[1:], strict=False):
            assert a.end <= b.start  # no overlaps


def test_none_gives_raw_tags_and_others_entity_types(ner_model):
    from nlu_toolkit.models.testing import CONLL_LABELS

    raw = ner(TEXT, model=ner_model, aggregation="none")[0].entities
    assert {e.label for e in raw} <= set(CONLL_LABELS) - {"O"}
    for aggregation in ("simple", *WORD_LEVEL):
        grouped = ner(TEXT, model=ner_model, aggregation=aggregation)[0].entities
        assert {e.label for e in grouped} <= {"PER", "ORG", "LOC", "MISC"}


@pytest.mark.parametrize("aggregation", WORD_LEVEL)
def test_word_level_aggregations_never_split_a_word(ner_model, aggregation):
    texts = [TEXT, "Megatron Zenbus Megatronic Busboy", "Zenbuses of Megatron-Acme went to Londonderry"]
    for result in ner(texts, model=ner_model, aggregation=aggregation):
        for e in result.entities:
            assert not inside_a_word(result.text, e.start, e.end), (e, result.text)


def test_subword_level_aggregations_may_split_words(ner_model):
    """The contrast that makes the word-level test meaningful: `none` tags subword pieces."""
    texts = [TEXT, "Megatron Zenbus Megatronic Busboy"]
    raw = [e for r in ner(texts, model=ner_model, aggregation="none") for e in r.entities]
    assert any(inside_a_word(t, e.start, e.end) for t in texts for e in raw if t[e.start : e.end] == e.word)


def _first_window_end(ner_model: str, text: str) -> int:
    """The character offset where the tokenizer's first 64-token window ends."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ner_model)
    enc = tok(text, truncation=True, max_length=64, return_offsets_mapping=True)
    return max(end for _, end in enc["offset_mapping"])


@pytest.mark.parametrize("aggregation", ["simple", "first", "average", "max"])
def test_long_text_is_tagged_to_the_end(ner_model, aggregation):
    from transformers import AutoTokenizer

    assert len(AutoTokenizer.from_pretrained(ner_model)(LONG)["input_ids"]) > 4 * 64
    (result,) = ner(LONG, model=ner_model, aggregation=aggregation)
    assert result.truncated is False
    first_end = _first_window_end(ner_model, LONG)
    late = [e for e in result.entities if e.start >= first_end]
    assert late, "no entity beyond the first window"
    assert max(e.end for e in result.entities) > len(LONG) - len(BASE)  # the last repetition is tagged too
    for e in result.entities:
        assert e.word == LONG[e.start : e.end]
        if aggregation in WORD_LEVEL:
            assert not inside_a_word(LONG, e.start, e.end)
    for a, b in zip(result.entities, result.entities[1:], strict=False):
        assert a.end <= b.start


def test_stride_and_max_length_options(ner_model):
    for stride in (0, 4, 10):
        (result,) = ner(LONG, model=ner_model, max_length=24, stride=stride)
        assert result.entities and all(e.word == LONG[e.start : e.end] for e in result.entities)
    with pytest.raises(UsageError, match="stride must be between"):
        EntityRecognizer(ner_model, max_length=24, stride=22)


def test_records_keep_order_ids_and_passthrough(ner_model):
    records = [{"id": f"n{i}", "text": BASE * (1 + i % 4), "lang": "en", "n": i} for i in range(9)]
    results = list(EntityRecognizer(ner_model, batch_size=2).predict(iter(records)))
    assert [r.id for r in results] == [r["id"] for r in records]
    assert [r.extra for r in results] == [{"lang": "en", "n": r["n"]} for r in records]
    assert results[0].to_dict()["lang"] == "en"
    for r in results:
        assert all(e.word == r.text[e.start : e.end] for e in r.entities)


def test_a_text_alone_and_in_a_batch_agree(ner_model):
    batch = ner(["Mary met John", TEXT, "Paris"], model=ner_model)
    alone = ner(TEXT, model=ner_model)[0]
    assert [(e.label, e.start, e.end, e.word) for e in alone.entities] == [
        (e.label, e.start, e.end, e.word) for e in batch[1].entities
    ]
    assert [e.score for e in alone.entities] == pytest.approx([e.score for e in batch[1].entities], abs=1e-5)


def test_bad_aggregation(ner_model):
    with pytest.raises(UsageError, match="aggregation"):
        EntityRecognizer(ner_model, aggregation="longest")


def test_ner_on_a_classifier_is_a_usage_error(cls_model):
    with pytest.raises(UsageError, match="token-classification"):
        EntityRecognizer(cls_model)


@pytest.mark.parametrize("aggregation", ["none", "simple", "first", "average", "max"])
def test_unicode_and_whitespace_offsets(ner_model, aggregation):
    texts = ["Zoë 🙂 lives in Paris with José 北京 and Megatron", "", "   ", "a\u00a0b  John\n\nParis\tLondon"]
    results = ner(texts, model=ner_model, aggregation=aggregation)
    assert [r.entities for r in results[1:3]] == [[], []]
    for r in results:
        for e in r.entities:
            assert e.word == r.text[e.start : e.end] and e.word == e.word.strip() and e.word


def test_run_options_and_keywords_run_the_same(ner_model):
    from nlu_toolkit import RunOptions

    by_run = EntityRecognizer(ner_model, run=RunOptions(device="cpu", batch_size=2, max_length=24))
    assert (by_run.batch_size, by_run.limit) == (2, 24)
    by_keywords = EntityRecognizer(ner_model, device="cpu", batch_size=2, max_length=24)
    assert [r.to_dict() for r in by_run.predict([LONG])] == [r.to_dict() for r in by_keywords.predict([LONG])]
    # A keyword beside run= replaces that field.
    assert EntityRecognizer(ner_model, run=RunOptions(batch_size=2), batch_size=4).batch_size == 4
    with pytest.raises(UsageError, match="batch_size"):
        EntityRecognizer(ner_model, batch_size=0)
