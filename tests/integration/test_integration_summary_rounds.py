"""Long documents on the tiny BART: chunk summaries are summarized again until they fit ``max_length``."""

from __future__ import annotations

from nlu_toolkit import Summarizer, summarize
from nlu_toolkit.tasks.generate import MAX_ROUNDS

LONG = "The river bank was flooded. Who wrote the story in Paris? Money was kept in the bank. " * 6


def tokens(summarizer: Summarizer, text: str) -> int:
    return len(summarizer.loaded.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_a_long_summary_is_reduced_under_max_length(bart_model):
    summarizer = Summarizer(bart_model, max_length=8)
    long, short = summarizer.predict([LONG, "The river bank was flooded."])
    assert long.chunks > 1
    assert tokens(summarizer, long.output) <= 8
    # The rounds the record reports are the ones it takes by hand: summarize the chunks, join, repeat.
    joined, rounds = " ".join(summarizer._run(summarizer._chunks(LONG))), 1
    while tokens(summarizer, joined) > 8:
        joined, rounds = " ".join(summarizer._run(summarizer._chunks(joined))), rounds + 1
    assert 2 <= long.rounds == rounds <= MAX_ROUNDS
    assert long.output == joined
    assert (short.chunks, short.rounds) == (1, 1)
    assert long.to_dict("summary")["rounds"] == rounds


def test_the_models_own_max_length_is_the_bound_too(bart_model):
    (result,) = summarize([LONG], model=bart_model)  # the tiny BART's default max_length is 20
    assert result.chunks > 1 and result.rounds >= 2
    assert tokens(Summarizer(bart_model), result.output) <= 20


def test_translations_have_no_rounds(marian_model):
    from nlu_toolkit import translate

    (result,) = translate(["the city. " * 40], model=marian_model, max_length=6)
    assert result.chunks > 1 and result.rounds is None and "rounds" not in result.to_dict("translation")
