"""`nlu serve` with a distilled static (Model2Vec) model as its embedding model: every embedding route works."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("model2vec.distill")

from test_serve import running

from nlu_toolkit.serve import ServeConfig
from nlu_toolkit.tasks.embed import embed
from nlu_toolkit.train.distill import distill

TEXTS = ["the cat sat on the mat", "stock markets fell sharply today"]


@pytest.fixture(scope="module")
def static_model(st_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("distill") / "static"
    distill(out, st_model, dims=8)
    return str(out)


def test_every_embedding_route_serves_a_static_model(static_model: str):
    _, expected = embed(TEXTS, static_model, normalize=True)
    with running(ServeConfig(tasks=("embed",), models={"embed": static_model})) as client:
        native = client.post("/embed", json={"texts": TEXTS, "normalize": True})
        assert native.status_code == 200, native.text
        np.testing.assert_allclose([r["embedding"] for r in native.json()], expected, atol=1e-5)

        tei = client.post("/embed", json={"inputs": TEXTS})
        assert tei.status_code == 200, tei.text
        np.testing.assert_allclose(tei.json(), expected, atol=1e-5)

        model_id = client.get("/v1/models").json()["data"][0]["id"]
        openai = client.post("/v1/embeddings", json={"model": model_id, "input": TEXTS, "encoding_format": "float"})
        assert openai.status_code == 200, openai.text
        body = openai.json()
        np.testing.assert_allclose([d["embedding"] for d in body["data"]], expected, atol=1e-5)
        assert body["usage"]["prompt_tokens"] > 0

        info = client.get("/info")
        assert info.status_code == 200, info.text
        assert info.json()["max_input_length"] > 0
        tokens = client.post("/tokenize", json={"inputs": TEXTS[0]})
        assert tokens.status_code == 200, tokens.text
        assert [t["text"] for t in tokens.json()[0] if not t["special"]]
