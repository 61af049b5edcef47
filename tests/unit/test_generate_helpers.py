"""Pure helpers of `nlu_toolkit.tasks.generate`: length checks, sentence splitting and packing."""

from __future__ import annotations

import pytest

from nlu_toolkit.errors import UsageError
from nlu_toolkit.tasks.generate import pack_sentences, split_sentences
from nlu_toolkit.tasks.generation_settings import resolve_lengths

DISTILBART = {"min_length": 56, "max_length": 142}


def test_both_lengths_from_the_user_must_be_ordered():
    with pytest.raises(UsageError, match="min_length 56 is greater than max_length 45"):
        resolve_lengths(56, 45, DISTILBART)


def test_lone_max_below_the_models_min_lowers_the_min():
    # The seed notebook's crash: "min_length=56 must be inferior than your max_length=45".
    assert resolve_lengths(None, 45, DISTILBART) == (45, 45)


def test_lone_min_above_the_models_max_raises_the_max():
    assert resolve_lengths(200, None, DISTILBART) == (200, 200)


def test_defaults_and_user_values_pass_through():
    assert resolve_lengths(None, None, DISTILBART) == (56, 142)
    assert resolve_lengths(10, 60, DISTILBART) == (10, 60)
    assert resolve_lengths(None, None, {}) == (None, None)
    with pytest.raises(UsageError):
        resolve_lengths(-1, None, {})


def test_split_sentences_keeps_every_word():
    text = 'He left. "Why?" she asked! It rained (a lot.) Then nothing'
    parts = split_sentences(text)
    assert parts == ["He left.", '"Why?"', "she asked!", "It rained (a lot.)", "Then nothing"]
    assert " ".join(parts).split() == text.split()


def test_pack_sentences_respects_the_limit_and_order():
    assert pack_sentences(["a", "b", "c", "d"], [3, 3, 3, 9], 6) == [[0, 1], [2], [3]]
    groups = pack_sentences(list("abcdef"), [2, 2, 2, 2, 2, 2], 5)
    assert [i for g in groups for i in g] == list(range(6))
    assert all(len(g) * 2 <= 5 for g in groups)
