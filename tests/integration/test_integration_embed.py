"""`embed` / `Embedder` / `quantize` / `similarity` on the tiny sentence-transformers model.

The reference everywhere is sentence-transformers itself: the same folder loaded with
`SentenceTransformer` and encoded with `.encode`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlu_toolkit.errors import UsageError
from nlu_toolkit.tasks.embed import Embedder, embed, quantize, similarity

#: About 140 tokens: over the tiny model's 64-token limit.
LONG_TEXT = "the movie was good and the actors were great but the plot was boring " * 10
SHORT_TEXTS = ["I loved this film", "Dull and far too long", "the plot was boring", "a river bank in paris"]


def corpus(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def reference(st_model):
    """``encode(texts)`` with sentence-transformers' own model loading and batching."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(st_model, device="cpu")
    return lambda texts, **kw: model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False, **kw)


def test_embed_equals_sentence_transformers_encode(st_model, reference, data_dir):
    texts = [*SHORT_TEXTS, LONG_TEXT, *(r["text"] for r in corpus(data_dir))]
    records, vectors = embed(texts, st_model)
    expected = reference(texts)
    assert vectors.dtype == np.float32
    assert vectors.shape == expected.shape == (len(texts), 32)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert [r["id"] for r in records] == list(range(len(texts)))
    assert [r["text"] for r in records] == texts
    assert records[len(SHORT_TEXTS)]["truncated"] is True
    assert not any(r["truncated"] for r in records[: len(SHORT_TEXTS)])


def test_embed_keeps_ids_order_and_passthrough_columns(st_model, reference, data_dir):
    rows = corpus(data_dir)
    records, vectors = embed(rows, st_model, batch_size=4)  # several batches, sorted by length inside
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    assert [r["topic"] for r in records] == [r["topic"] for r in rows]
    np.testing.assert_allclose(vectors, reference([r["text"] for r in rows]), atol=1e-5)


def test_single_string_and_empty_input(st_model):
    records, vectors = embed("good film", st_model)
    assert len(records) == 1 and vectors.shape == (1, 32)
    embedder = Embedder(st_model)
    empty, flags = embedder.encode([])
    assert empty.shape == (0, 32) and empty.dtype == np.float32 and flags == []


def test_embedder_streams_windows_in_input_order(st_model, reference):
    texts = [f"text number {i} " + "good " * (i % 7) for i in range(50)]
    embedder = Embedder(st_model, batch_size=8)
    windows = list(embedder.embed(texts))
    records = [r for window, _, _ in windows for r in window]
    vectors = np.concatenate([v for _, v, _ in windows])
    assert [r["text"] for r in records] == texts
    np.testing.assert_allclose(vectors, reference(texts), atol=1e-5)


def test_normalize_gives_unit_vectors(st_model_unnormalized):
    texts = [*SHORT_TEXTS, LONG_TEXT]
    _, raw = embed(texts, st_model_unnormalized)
    _, unit = embed(texts, st_model_unnormalized, normalize=True)
    norms = np.linalg.norm(raw, axis=1)
    assert not np.allclose(norms, 1.0, atol=1e-3)  # the model itself does not normalise
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit, raw / norms[:, None], atol=1e-5)


def test_long_truncate_flags_and_chunk_pools_windows(st_model, reference):
    texts = [*SHORT_TEXTS, LONG_TEXT]
    cut, cut_flags = Embedder(st_model, long="truncate").encode(texts)
    pooled, pooled_flags = Embedder(st_model, long="chunk").encode(texts)
    assert cut_flags == [False] * len(SHORT_TEXTS) + [True]
    assert pooled_flags == [False] * len(texts)
    # Short texts are one window either way; the long one is pooled over several windows.
    np.testing.assert_allclose(pooled[:-1], cut[:-1], atol=1e-5)
    assert np.abs(pooled[-1] - cut[-1]).max() > 1e-3
    np.testing.assert_allclose(cut, reference(texts), atol=1e-5)  # truncation is what ST does


def test_max_length_lowers_the_limit(st_model):
    text = "the movie was good and the actors were great"
    (_, flags_default) = Embedder(st_model).encode([text])
    (_, flags_short) = Embedder(st_model, max_length=8).encode([text])
    assert flags_default == [False] and flags_short == [True]
    with pytest.raises(UsageError):
        Embedder(st_model, max_length=4)


def test_precision_int8_and_ubinary(st_model, data_dir):
    texts = [r["text"] for r in corpus(data_dir)]
    _, floats = embed(texts, st_model)
    _, int8 = embed(texts, st_model, precision="int8")
    _, ubinary = embed(texts, st_model, precision="ubinary")
    assert int8.dtype == np.int8 and int8.shape == floats.shape
    assert ubinary.dtype == np.uint8 and ubinary.shape == (len(texts), 32 // 8)
    np.testing.assert_array_equal(ubinary, np.packbits(floats > 0, axis=1))
    # int8 buckets are calibrated per dimension on the vectors themselves, as sentence-transformers does it.
    from sentence_transformers.quantization import quantize_embeddings

    np.testing.assert_array_equal(int8, quantize_embeddings(floats, precision="int8"))
    assert (int8.min(axis=0) == -128).all()


def test_quantize_float32_is_identity_and_unknown_precision_is_an_error():
    x = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    assert quantize(x, "float32") is x
    with pytest.raises(UsageError):
        quantize(x, "int4")


@pytest.mark.parametrize(
    ("options", "match"),
    [({"precision": "float16"}, "precision"), ({"long": "sliding"}, "long"), ({"batch_size": 0}, "batch")],
)
def test_bad_options_are_usage_errors(st_model, options, match):
    with pytest.raises(UsageError, match=match):
        embed(["good film"], st_model, **options)


def test_similarity_pairs(st_model, reference):
    a = ["good film", "the river bank", "good film"]
    b = ["good film", "money in the bank", "awful plot"]
    scored = similarity(a, b, st_model)
    assert [(r["a"], r["b"]) for r in scored] == list(zip(a, b, strict=True))
    assert scored[0]["score"] == pytest.approx(1.0, abs=1e-5)
    va, vb = reference(a, normalize_embeddings=True), reference(b, normalize_embeddings=True)
    expected = (va * vb).sum(axis=1)
    assert [r["score"] for r in scored] == pytest.approx(expected.tolist(), abs=1e-5)
    (single,) = similarity("good film", "awful plot", st_model)
    assert single["score"] == pytest.approx(scored[2]["score"], abs=1e-6)


def test_similarity_needs_aligned_pairs(st_model):
    with pytest.raises(UsageError):
        similarity(["a", "b"], ["c"], st_model)
    with pytest.raises(UsageError):
        similarity([], [], st_model)


def test_int8_of_a_single_text_is_a_usage_error(st_model):
    with pytest.raises(UsageError, match="int8"):
        embed(["good film"], st_model, precision="int8")


def test_embed_and_similarity_take_run_options(st_model):
    from nlu_toolkit import RunOptions

    run = RunOptions(device="cpu", batch_size=1)
    _, by_run = embed(["good film", "bad film"], st_model, run=run)
    _, by_keywords = embed(["good film", "bad film"], st_model, device="cpu", batch_size=1)
    np.testing.assert_array_equal(by_run, by_keywords)
    pair = ("good film", "bad film")
    assert similarity(*pair, st_model, run=run) == similarity(*pair, st_model, batch_size=1)
    with pytest.raises(UsageError, match=r"^unknown precision 'float16'"):  # the parameter, not --precision
        quantize(np.zeros((2, 4), np.float32), "float16")
