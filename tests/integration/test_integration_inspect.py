"""`Inspector` and `inspect_text` on the tiny sentence-transformers BERT, and their pure helpers.

References: sentence-transformers itself (``encode(output_value="token_embeddings")`` for the token
vectors, `nlu_toolkit.similarity` for the mean-pooled sentence cosine) and plain numpy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nlu_toolkit import Inspector, inspect_text
from nlu_toolkit.errors import InputError, ModelNotAvailable, UsageError
from nlu_toolkit.tasks.inspect import (
    check_index,
    cosine,
    find_word,
    group_words,
    head_matrix,
    mean_pool,
    token_spans,
    tokens_in_span,
)

RIVER = "I sat on the bank of the river"
MONEY = "I put money in the bank"


@pytest.fixture(scope="module")
def inspector(st_model) -> Inspector:
    return Inspector(st_model, device="cpu")


# --- pure helpers, no model --------------------------------------------------------------------------


def test_group_words_follows_word_ids_and_skips_special_tokens():
    text = "The Megatron bank."
    # [CLS] The Mega ##tron bank . [SEP]
    offsets = [(0, 0), (0, 3), (4, 8), (8, 12), (13, 17), (17, 18), (0, 0)]
    special = [True, False, False, False, False, False, True]
    word_ids = [None, 0, 1, 1, 2, 3, None]
    words = group_words(text, offsets, special, word_ids)
    assert [w["word"] for w in words] == ["The", "Megatron", "bank", "."]
    assert [w["tokens"] for w in words] == [[1], [2, 3], [4], [5]]
    assert all(text[w["start"] : w["end"]] == w["word"] for w in words)


def test_group_words_without_word_ids_groups_by_whitespace_chunk():
    text = "The Megatron bank."
    offsets = [(0, 0), (0, 3), (4, 8), (8, 12), (13, 17), (17, 18), (0, 0)]
    special = [True, False, False, False, False, False, True]
    words = group_words(text, offsets, special)
    assert [w["word"] for w in words] == ["The", "Megatron", "bank."]
    assert [w["tokens"] for w in words] == [[1], [2, 3], [4, 5]]


def test_token_spans_trim_a_leading_space():
    # SentencePiece-style offsets may include the space before a word.
    spans = token_spans(" a bank", [(0, 2), (2, 7), (0, 0)], [False, False, True])
    assert spans == [(1, 2), (3, 7), None]


def test_find_word_is_whole_word_and_case_insensitive():
    assert find_word("The Bank of England", "bank") == (4, 8)
    assert find_word("banking on a riverbank", "bank") is None
    assert find_word("we sat on the  river  bank", "river bank") == (15, 26)
    assert find_word("anything", "  ") is None


def test_tokens_in_span_picks_overlapping_tokens_only():
    spans = [None, (0, 3), (4, 8), (8, 12), (13, 17), None]
    assert tokens_in_span(spans, 4, 12) == [2, 3]
    assert tokens_in_span(spans, 13, 17) == [4]
    assert tokens_in_span(spans, 20, 25) == []


def test_mean_pool_and_cosine():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]])
    assert mean_pool(vectors, [0, 1]).tolist() == [0.5, 0.5]
    assert cosine(np.array([1.0, 0.0]), np.array([0.0, 2.0])) == 0.0
    assert cosine(np.array([1.0, 1.0]), np.array([2.0, 2.0])) == pytest.approx(1.0)
    assert cosine(np.zeros(2), np.ones(2)) == 0.0
    with pytest.raises(ValueError):
        mean_pool(vectors, [])


def test_check_index_counts_from_the_end_and_names_the_range():
    assert check_index(None, 6, "layer") == 5
    assert check_index(-1, 6, "layer") == 5
    assert check_index(-6, 6, "layer") == 0
    assert check_index(2, 6, "layer") == 2
    for bad in (6, -7):
        with pytest.raises(UsageError, match="6 layers") as e:
            check_index(bad, 6, "layer")
        assert "0 to 5" in str(e.value)


def test_head_matrix_averages_heads_or_picks_one():
    attention = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3)
    assert np.array_equal(head_matrix(attention), attention.mean(axis=0))
    assert np.array_equal(head_matrix(attention, 1), attention[1])
    assert np.array_equal(head_matrix(attention, -2), attention[0])
    with pytest.raises(UsageError, match="2 heads"):
        head_matrix(attention, 2)


# --- on the tiny model -------------------------------------------------------------------------------


def test_tokens_record_maps_tokens_to_words_and_offsets(inspector):
    text = "The Megatron bank, of the river."
    record = inspector.tokens(text)
    assert record["text"] == text and record["truncated"] is False
    tokens, words = record["tokens"], record["words"]
    assert [t["index"] for t in tokens] == list(range(len(tokens)))
    assert tokens[0]["token"] == "[CLS]" and tokens[-1]["token"] == "[SEP]"
    assert [t["special"] for t in tokens] == [True] + [False] * (len(tokens) - 2) + [True]
    assert tokens[0]["word"] is None and tokens[0]["start"] is None
    for t in tokens[1:-1]:
        assert text[t["start"] : t["end"]] == t["token"].removeprefix("##")
        assert words[t["word_index"]]["word"] == t["word"]
        assert t["index"] in words[t["word_index"]]["tokens"]
    megatron = next(w for w in words if w["word"] == "Megatron")
    assert len(megatron["tokens"]) > 1  # split into sub-tokens by the tiny vocabulary
    assert [w["word"] for w in words] == ["The", "Megatron", "bank", ",", "of", "the", "river", "."]
    assert all(text[w["start"] : w["end"]] == w["word"] for w in words)
    ids = inspector.tokenizer(text)["input_ids"]
    assert [t["id"] for t in tokens] == ids


def test_vectors_equal_sentence_transformers_token_embeddings(inspector, st_model):
    from sentence_transformers import SentenceTransformer

    text = "The Megatron bank of the river"
    tokens, vectors = inspector.vectors(text)
    reference = SentenceTransformer(st_model, device="cpu").encode([text], output_value="token_embeddings")[0]
    assert vectors.shape == (len(tokens), 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, np.asarray(reference), atol=1e-5)
    _, first = inspector.vectors(text, layer=0)
    assert first.shape == vectors.shape and not np.allclose(first, vectors)
    np.testing.assert_array_equal(inspector.vectors(text, layer=-2)[1], first)


def test_attention_rows_are_distributions_and_heads_average(inspector):
    text = "The bank of the river"
    tokens, mean = inspector.attention(text)
    n = len(tokens)
    assert mean.shape == (n, n)
    np.testing.assert_allclose(mean.sum(axis=1), np.ones(n), atol=1e-5)
    heads = [inspector.attention(text, head=h)[1] for h in range(inspector.n_heads)]
    assert inspector.n_heads == 2
    np.testing.assert_allclose(mean, np.mean(heads, axis=0), atol=1e-6)
    assert not np.allclose(heads[0], heads[1])
    np.testing.assert_array_equal(inspector.attention(text, layer=-2)[1], inspector.attention(text, layer=0)[1])
    assert not np.allclose(inspector.attention(text, layer=0)[1], mean)


def test_bad_layer_and_head_name_the_valid_range(inspector):
    with pytest.raises(UsageError, match="2 layers") as e:
        inspector.attention("the bank", layer=2)
    assert "0 to 1" in str(e.value)
    with pytest.raises(UsageError, match="2 heads"):
        inspector.attention("the bank", head=5)
    with pytest.raises(UsageError, match="layer"):
        inspector.vectors("the bank", layer=-3)


def test_word_similarity_of_bank_in_two_contexts(inspector, st_model):
    from nlu_toolkit import similarity

    result = inspector.word_similarity(RIVER, MONEY, "bank")
    assert result["word"] == "bank" and result["a"] == RIVER and result["b"] == MONEY
    assert result["a_tokens"] == ["bank"] == result["b_tokens"]
    assert RIVER[slice(*result["a_span"])] == "bank" and MONEY[slice(*result["b_span"])] == "bank"
    assert result["layer"] == 1 and result["model"] == inspector.model_info.name
    # Reference: the two bank vectors and the two mean vectors, by hand.
    tokens_a, va = inspector.vectors(RIVER)
    tokens_b, vb = inspector.vectors(MONEY)
    expected = cosine(va[tokens_a.index("bank")], vb[tokens_b.index("bank")])
    assert result["score"] == pytest.approx(expected)
    assert -1.0 <= result["score"] < 1.0
    # Mean pooling over every token is what sentence-transformers does: equal to `nlu similarity`.
    (pair,) = similarity(RIVER, MONEY, st_model, device="cpu")
    assert result["sentence_score"] == pytest.approx(pair["score"], abs=1e-5)


def test_word_of_several_tokens_is_mean_pooled(inspector):
    a, b = "The Megatron bank", "a megatron in the city"
    result = inspector.word_similarity(a, b, "Megatron")
    assert result["a_tokens"][0] == "Mega" and len(result["a_tokens"]) > 1
    record = inspector.tokens(a)
    picked = next(w for w in record["words"] if w["word"] == "Megatron")["tokens"]
    _, va = inspector.vectors(a)
    record_b = inspector.tokens(b)
    picked_b = next(w for w in record_b["words"] if w["word"] == "megatron")["tokens"]
    _, vb = inspector.vectors(b)
    assert result["score"] == pytest.approx(cosine(va[picked].mean(axis=0), vb[picked_b].mean(axis=0)))


def test_missing_word_is_an_input_error_naming_the_text(inspector):
    with pytest.raises(InputError, match="I put money in the bank") as e:
        inspector.word_similarity(RIVER, MONEY, "river")
    assert "'river'" in str(e.value)


def test_long_text_is_truncated_and_a_word_past_the_limit_is_an_input_error(st_model):
    inspector = Inspector(st_model, device="cpu", max_length=8)
    long = "the film was good and the actors were great but the plot at the bank"
    record = inspector.tokens(long)
    assert record["truncated"] is True and len(record["tokens"]) == 8
    assert record["tokens"][-1]["special"] is True
    with pytest.raises(InputError, match="limit of 8 tokens"):
        inspector.word_similarity(long, MONEY, "bank")


def test_plot_attention_writes_a_png_atomically(inspector, tmp_path):
    path = inspector.plot_attention("The bank of the river", tmp_path / "attn.png", layer=0, head=1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attn.png"]
    with pytest.raises(UsageError, match=r"\.png"):
        inspector.plot_attention("The bank", tmp_path / "attn.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attn.png"]


def test_inspect_text_records(st_model, tmp_path):
    records = inspect_text(["The bank", "the river"], st_model, vectors=True, device="cpu")
    assert [r["id"] for r in records] == [0, 1]
    assert [r["text"] for r in records] == ["The bank", "the river"]
    for r in records:
        assert r["layer"] == 1
        assert all(len(t["vector"]) == 32 and t["norm"] > 0 for t in r["tokens"])
    (one,) = inspect_text(
        "The bank", st_model, attention=tmp_path / "a.png", vectors_out=tmp_path / "v.npy", layer=0, device="cpu"
    )
    assert one["attention"] == {"path": str(tmp_path / "a.png"), "layer": 0, "head": None, "heads": 2}
    saved = np.load(tmp_path / "v.npy")
    assert saved.shape == (len(one["tokens"]), 32) == tuple(one["vectors_shape"])
    assert "vector" not in one["tokens"][0]  # only with vectors=True
    (sim,) = inspect_text([RIVER, MONEY], st_model, similarity="bank", device="cpu")
    assert math.isfinite(sim["score"]) and math.isfinite(sim["sentence_score"])


@pytest.mark.parametrize(
    ("texts", "options", "message"),
    [
        (["a", "b"], {"attention": "a.png"}, "attention works on one text"),
        (["a", "b"], {"vectors_out": "v.npy"}, "vectors_out works on one text"),
        (["a"], {"similarity": "a"}, "exactly two texts"),
        (["a", "b", "c"], {"similarity": "a"}, "exactly two texts"),
        (["a", "b"], {"similarity": "a", "vectors": True}, "cannot be combined"),
        (["a"], {"head": 1}, "head applies to attention"),
        (["a"], {"layer": 1}, "layer applies to"),
        (["a"], {"attention": "a.jpg"}, "cannot draw a heatmap"),
    ],
)
def test_option_combinations_are_checked_before_the_model_loads(texts, options, message, empty_hf_cache):
    # The model does not exist: a UsageError (not ModelNotAvailable) shows the check came first.
    with pytest.raises(UsageError, match=message):
        inspect_text(texts, "org/not-cached", **options)


def test_model_not_available_offline(empty_hf_cache):
    with pytest.raises(ModelNotAvailable, match="org/not-cached"):
        Inspector("org/not-cached")


def test_folder_without_a_model_is_not_available(tmp_path):
    with pytest.raises(ModelNotAvailable, match="not a model folder"):
        Inspector(str(tmp_path))


@pytest.mark.slow
def test_river_bank_on_the_embedded_minilm():
    inspector = Inspector(device="cpu")
    assert inspector.model_info.source == "embedded"
    record = inspector.tokens("The bank of the river")
    assert [t["token"] for t in record["tokens"]] == ["[CLS]", "the", "bank", "of", "the", "river", "[SEP]"]
    assert inspector.n_layers == 6 and inspector.n_heads == 12
    tokens, matrix = inspector.attention("The bank of the river", layer=-1, head=3)
    assert matrix.shape == (len(tokens), len(tokens))
    result = inspector.word_similarity(RIVER, MONEY, "bank")
    assert math.isfinite(result["score"]) and result["score"] < 1.0
    assert math.isfinite(result["sentence_score"]) and -1.0 <= result["sentence_score"] <= 1.0
    assert result["a_tokens"] == ["bank"] == result["b_tokens"]


def test_run_options_reach_the_inspector(st_model):
    from nlu_toolkit import RunOptions

    inspector = Inspector(st_model, run=RunOptions(device="cpu", max_length=8))
    assert inspector.limit == 8
    (record,) = inspect_text(["the bank of the river " * 4], st_model, run=RunOptions(device="cpu"), max_length=8)
    assert record["truncated"] and len(record["tokens"]) == 8


@pytest.mark.parametrize(
    ("options", "name"),
    [({"backend": "onnx"}, "backend"), ({"threads": 2}, "threads"), ({"batch_size": 8}, "batch_size")],
)
def test_run_options_inspection_cannot_honour_are_refused(options, name, empty_hf_cache):
    # Refused before the (missing) model loads, naming the parameter.
    with pytest.raises(UsageError, match=f"inspection does not take {name}"):
        Inspector("org/not-cached", **options)
    with pytest.raises(UsageError, match=name):
        inspect_text(["a"], "org/not-cached", **options)
