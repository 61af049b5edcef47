"""``nlu_tokens_total`` counts the served cross-encoder's tokens: ``/rerank`` (``CrossEncoder.predict``, counted
from its own tokenization) and ``/predict`` (our tokenizer call), on the rerank and on the classify model; and
a meter around search's rerank scorer counts the same pairs."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from test_serve_metrics import moved, running, scrape

from nlu_toolkit.serve import ServeConfig

QUERY = "What is Deep Learning?"
TEXTS = ["Deep Learning is not...", "Deep learning is a kind of machine learning with many layers"]


def pair_tokens(model: str, pairs: list[tuple[str, ...]]) -> int:
    """What the model's tokenizer counts for ``pairs`` (texts or text pairs): ``input_ids`` with special tokens."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    return sum(len(tok(*p, truncation=True)["input_ids"]) for p in pairs)


def test_rerank_and_predict_count_their_tokens(cross_encoder_model, cls_model):
    config = ServeConfig(
        tasks=("classify", "rerank"), models={"classify": cls_model, "rerank": cross_encoder_model}, max_wait_ms=2
    )
    with running(config) as (api, _):
        before = scrape(api)
        assert api.post("/rerank", json={"query": QUERY, "texts": TEXTS}).status_code == 200
        after = scrape(api)
        assert moved(before, after, "nlu_tokens_total", task="rerank") == pair_tokens(
            cross_encoder_model, [(QUERY, t) for t in TEXTS]
        )
        before = scrape(api)
        assert api.post("/predict", json={"inputs": [[QUERY, TEXTS[0]], [TEXTS[1]]]}).status_code == 200
        after = scrape(api)
        # /predict runs the served classify model: its tokens are counted under classify.
        want = pair_tokens(cls_model, [(QUERY, TEXTS[0]), (TEXTS[1],)])
        assert moved(before, after, "nlu_tokens_total", task="classify") == want
        assert moved(before, after, "nlu_tokens_total", task="rerank") == 0


def test_predict_on_a_reranker_counts_under_rerank(cross_encoder_model):
    with running(ServeConfig(tasks=("rerank",), models={"rerank": cross_encoder_model}, max_wait_ms=2)) as (api, _):
        before = scrape(api)
        assert api.post("/predict", json={"inputs": [QUERY, TEXTS[1]]}).status_code == 200
        after = scrape(api)
    assert moved(before, after, "nlu_tokens_total", task="rerank") == pair_tokens(
        cross_encoder_model, [(QUERY, TEXTS[1])]
    )


def test_a_meter_counts_search_rerank_once_per_pair_however_often_the_model_is_used(cross_encoder_model):
    from nlu_toolkit.engine.meter import token_meter
    from nlu_toolkit.search.rerank import cross_encoder_scores, load_cross_encoder

    model = load_cross_encoder(cross_encoder_model, device="cpu").model
    pairs = [(QUERY, t) for t in TEXTS]
    cross_encoder_scores(model, pairs)  # the hook is added once, not per call
    with token_meter() as meter:
        cross_encoder_scores(model, pairs, batch_size=1)
        cross_encoder_scores(model, pairs, raw=True)
    assert meter.tokens == 2 * pair_tokens(cross_encoder_model, pairs)
    cross_encoder_scores(model, pairs)  # no meter open: nothing counted, nothing raised
