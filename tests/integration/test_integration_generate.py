"""`summarize`, `translate`, `generate` on tiny random BART/T5/Marian/GPT-2 models."""

from __future__ import annotations

import pytest

from nlu_toolkit import Generator, Summarizer, Translator, generate, summarize, translate
from nlu_toolkit.errors import InputError, ModelNotAvailable, UsageError

LONG = "The river bank was flooded. Who wrote the story in Paris? Money was kept in the bank. " * 10


def test_long_documents_are_summarized_in_chunks_not_cut(bart_model):
    summarizer = Summarizer(bart_model, batch_size=2)
    tok = summarizer.loaded.tokenizer
    assert len(tok(LONG)["input_ids"]) > summarizer.limit  # longer than the encoder takes
    result = next(iter(summarizer.predict([LONG])))
    assert result.chunks > 1
    assert isinstance(result.output, str) and result.output
    # Every chunk fits the encoder, and together they hold every sentence of the document.
    pieces = summarizer._chunks(LONG)
    assert len(pieces) == result.chunks
    assert all(len(tok(p)["input_ids"]) <= summarizer.limit for p in pieces)
    assert " ".join(pieces).split() == LONG.split()


def test_max_length_below_the_models_min_is_not_an_error(bart_model):
    # The tiny BART ships min_length 12 / max_length 20 (like distilbart's 56 / 142).
    summarizer = Summarizer(bart_model, max_length=8)
    assert (summarizer.min_length, summarizer.max_length) == (8, 8)
    out = next(iter(summarizer.predict(["the river bank"])))
    assert len(summarizer.loaded.tokenizer(out.output, add_special_tokens=False)["input_ids"]) <= 8


def test_inverted_lengths_are_refused(bart_model):
    with pytest.raises(UsageError, match="greater than"):
        Summarizer(bart_model, min_length=10, max_length=5)


def test_t5_summaries_keep_order_and_ids(t5_model):
    results = summarize([{"id": "b", "text": "who wrote it"}, {"id": "a", "text": "the city bank"}], model=t5_model)
    assert [r.id for r in results] == ["b", "a"]
    assert [r.to_dict("summary")["text"] for r in results] == ["who wrote it", "the city bank"]


def test_translation_splits_long_inputs_at_sentences(marian_model):
    translator = Translator(marian_model, max_input_length=16, max_length=6)
    result = next(iter(translator.predict([LONG[:200]])))
    assert result.chunks > 1
    assert translate(["the city."], model=marian_model, max_length=6)[0].chunks == 1


def test_translation_needs_languages_or_a_model():
    with pytest.raises(UsageError, match="source and target"):
        Translator(source="en")
    with pytest.raises(UsageError, match="language code"):
        Translator(source="english", target="de")


def test_default_translation_model_offline_names_the_remedy(empty_hf_cache):
    with pytest.raises(ModelNotAvailable, match="Helsinki-NLP/opus-mt-en-fr") as info:
        Translator(source="en", target="fr")
    assert "nlu models pull" in info.value.hint


def test_seeded_sampling_repeats(gpt2_model):
    options = {"model": gpt2_model, "max_new_tokens": 12, "do_sample": True, "top_p": 0.95, "seed": 7}
    first = generate(["the river"], num_return_sequences=2, **options)[0]
    again = generate(["the river"], num_return_sequences=2, **options)[0]
    other = generate(["the river"], num_return_sequences=2, **{**options, "seed": 8})[0]
    assert len(first.outputs) == 2 and first.outputs == again.outputs
    assert other.outputs != first.outputs


def test_streamed_pieces_make_the_greedy_continuation(gpt2_model):
    generator = Generator(gpt2_model, max_new_tokens=10)
    streamed = "".join(generator.stream("who wrote"))
    assert streamed == next(iter(generator.predict(["who wrote"]))).output


def test_generation_option_checks(gpt2_model):
    with pytest.raises(UsageError, match="do_sample"):
        Generator(gpt2_model, num_return_sequences=2)
    with pytest.raises(UsageError, match="top_p"):
        Generator(gpt2_model, do_sample=True, top_p=1.5)
    with pytest.raises(InputError, match="exceeds"):
        generate(["the river " * 40], model=gpt2_model, max_new_tokens=30)


def test_run_options_and_keywords_are_the_same(bart_model, gpt2_model):
    from nlu_toolkit import RunOptions

    run = RunOptions(device="cpu", batch_size=3, max_length=16)
    # max_length beside run= is the summary's length; the input limit is run.max_length.
    summarizer = Summarizer(bart_model, run=run, max_length=6)
    assert (summarizer.batch_size, summarizer.limit, summarizer.max_length) == (3, 16, 6)
    assert summarizer.run == run
    same = Summarizer(bart_model, device="cpu", batch_size=3, max_input_length=16, max_length=6)
    assert (same.batch_size, same.limit, same.run) == (3, 16, run)
    # Without run= the seq2seq default batch size stays 8; max_input_length wins over run.max_length.
    assert Summarizer(bart_model).batch_size == 8
    assert Summarizer(bart_model, run=run, max_input_length=12).limit == 12
    generator = Generator(gpt2_model, run=RunOptions(device="cpu", max_length=24), max_new_tokens=4)
    assert generator.limit == 24


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"backend": "onnx"}, "backend"),
        ({"runtime": "openvino"}, "backend"),
        ({"backend": "auto"}, "backend"),
        ({"quantize": "int8"}, "quantize"),
        ({"max_input_length": 4}, "max_input_length"),
    ],
)
def test_seq2seq_refuses_run_options_it_cannot_honour(bart_model, options, param):
    # Generation calls model.generate on torch: an exported backend would be silently ignored.
    with pytest.raises(UsageError, match=param) as info:
        Summarizer(bart_model, **options)
    assert param in info.value.params
    with pytest.raises(UsageError, match="unknown keyword 'max_lenght'"):
        Summarizer(bart_model, max_lenght=16)


def test_generator_refuses_batch_size_and_exported_backends(gpt2_model):
    from nlu_toolkit import RunOptions

    with pytest.raises(UsageError, match="batch_size 4 does not apply"):
        Generator(gpt2_model, batch_size=4)
    with pytest.raises(UsageError, match="torch only, not backend 'onnx'"):
        Generator(gpt2_model, run=RunOptions(backend="onnx"))
    with pytest.raises(UsageError, match="quantize 'int8' needs an exported graph"):
        Generator(gpt2_model, quantize="int8")


def test_a_classifier_is_not_a_generator(cls_model):
    with pytest.raises(UsageError, match="causal language-model"):
        Generator(cls_model)


def test_a_saved_source_prefix_is_applied(bart_model, tmp_path):
    import shutil

    from transformers import AutoConfig

    folder = tmp_path / "prefixed"
    shutil.copytree(bart_model, folder)
    config = AutoConfig.from_pretrained(folder)
    config.prefix = "summarize: "
    config.save_pretrained(folder)
    summarizer = Summarizer(str(folder), max_length=6)
    plain = Summarizer(bart_model, max_length=6)
    assert summarizer.prefix == "summarize: " and plain.prefix == ""
    # The prefix takes room from every chunk, so the same text needs at least as many chunks.
    assert len(summarizer._chunks(LONG)) >= len(plain._chunks(LONG))
    assert (
        next(iter(summarizer.predict(["the city"]))).output == next(iter(plain.predict(["summarize: the city"]))).output
    )
