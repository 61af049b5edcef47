"""`nlu serve` with a few-shot folder (an encoder plus a linear head) as its classify model (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from test_serve import running

from nlu_toolkit import Classifier, finetune
from nlu_toolkit.serve import ServeConfig

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "finetune"
TEXTS = ["The pasta was wonderful.", "Cold soup, rude staff."]


@pytest.fixture(scope="module")
def fewshot_model(st_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("fewshot") / "fs"
    finetune("fewshot", SAMPLES / "sentiment_train.csv", out, model=st_model, sample_per_class=4, num_iterations=1)
    return str(out)


def test_classify_serves_the_head_and_zero_shot_on_its_encoder(fewshot_model: str):
    expected = list(Classifier(fewshot_model).predict(TEXTS))
    with running(ServeConfig(tasks=("classify",), models={"classify": fewshot_model})) as client:
        got = client.post("/classify", json={"texts": TEXTS})
        assert got.status_code == 200, got.text
        body = got.json()
        assert [r["label"] for r in body] == [r.label for r in expected]
        assert [r["score"] for r in body] == pytest.approx([r.score for r in expected], abs=1e-5)
        predicted = client.post("/predict", json={"inputs": TEXTS[0]})
        assert predicted.status_code == 200, predicted.text
        by_label = {x["label"]: x["score"] for x in predicted.json()}
        assert by_label == pytest.approx({x.label: x.score for x in expected[0].labels}, abs=1e-5)
        pair = client.post("/predict", json={"inputs": [[TEXTS[0], TEXTS[1]]]})
        assert 400 <= pair.status_code < 500 and "pair" in pair.text
        zero_shot = client.post("/classify", json={"texts": TEXTS, "labels": "food,weather"})
        assert zero_shot.status_code == 200, zero_shot.text
        assert {x["label"] for x in zero_shot.json()[0]["labels"]} == {"food", "weather"}
