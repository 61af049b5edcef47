"""`finetune(task="fewshot")` and a head on a static model, end to end on tiny models (issue 18).

The folder each writes is an encoder plus a linear head; it must load in `Classifier`, `evaluate`, the
ONNX backend and `Embedder`, and score there exactly as the run scored it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nlu_toolkit import Classifier, Embedder, evaluate, finetune
from nlu_toolkit.errors import TrainingDataError, UnsafeModel, UsageError

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "finetune"
TRAIN, DEV = SAMPLES / "sentiment_train.csv", SAMPLES / "sentiment_dev.csv"


def fewshot(out: Path, model: str, **kwargs):
    settings = {"eval": DEV, "seed": 0, "sample_per_class": 6, "num_iterations": 2, **kwargs}
    return finetune("fewshot", TRAIN, out, model=model, **settings)


@pytest.fixture(scope="module")
def fewshot_dir(st_model: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("fewshot") / "fs"
    return out, fewshot(out, st_model)


def test_fewshot_folder_is_an_encoder_with_a_safetensors_head(fewshot_dir):
    out, result = fewshot_dir
    names = {p.name for p in out.iterdir()}
    assert {"head.safetensors", "head.json", "model.safetensors", "modules.json", "README.md", "metrics.json"} <= names
    assert not [p for p in out.rglob("*") if p.suffix in (".pkl", ".bin", ".pt")]
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    settings = metrics["settings"]
    assert settings["head"] == "logreg" and settings["num_iterations"] == 2
    assert settings["pairs"] == 2 * 2 * 12  # 12 examples, 2 positive and 2 negative pairs each
    assert settings["epochs"] == 1.0 and settings["learning_rate"] == 2e-5  # SetFit's defaults
    assert result.task == "fewshot" and result.labels == ["negative", "positive"] and result.steps == 3
    assert "accuracy" in result.metrics and "nlu classify --model DIR" in (out / "README.md").read_text()


def test_classify_and_evaluate_score_the_folder_as_the_run_did(fewshot_dir):
    out, result = fewshot_dir
    classifier = Classifier(str(out))
    assert classifier.labels == ["negative", "positive"] and classifier.multi_label is False
    scored = evaluate("classification", str(out), DEV)
    assert scored.metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    records = list(classifier.predict(["A lovely meal.", "Cold and bland."]))
    assert all(r.label in ("negative", "positive") for r in records)
    assert all(abs(sum(x.score for x in r.labels) - 1.0) < 1e-5 for r in records)  # a softmax over the labels


def test_fewshot_folder_still_embeds_and_runs_on_onnx(fewshot_dir):
    pytest.importorskip("onnxruntime")
    out, _ = fewshot_dir
    vectors, _ = Embedder(str(out)).encode(["a sentence"])
    assert vectors.shape[0] == 1 and abs(np.linalg.norm(vectors[0]) - 1.0) < 1e-4
    texts = [line.split(",")[0] for line in DEV.read_text(encoding="utf-8").splitlines()[1:]]
    torch_scores, _ = Classifier(str(out)).score(texts)
    onnx = Classifier(str(out), backend="onnx")
    assert onnx.runtime.startswith("onnx")
    onnx_scores, _ = onnx.score(texts)
    assert np.abs(torch_scores - onnx_scores).max() < 1e-3


def test_a_labels_request_on_the_folder_is_embedding_zero_shot(fewshot_dir):
    out, _ = fewshot_dir
    record = next(Classifier(str(out), labels="food,weather").predict(["The soup was good."]))
    assert {x.label for x in record.labels} == {"food", "weather"}


def test_multi_label_fewshot_with_a_torch_head(st_model, tmp_path):
    out = tmp_path / "ml"
    result = finetune(
        "fewshot",
        SAMPLES / "tickets_train.jsonl",
        out,
        model=st_model,
        eval=SAMPLES / "tickets_dev.jsonl",
        multi_label=True,
        head="torch",
        num_iterations=1,
        seed=0,
    )
    assert result.metric == "micro_f1" and "micro_f1" in result.metrics
    head = json.loads((out / "head.json").read_text(encoding="utf-8"))
    assert head["multi_label"] is True and head["kind"] == "torch"
    classifier = Classifier(str(out))
    assert classifier.multi_label and set(classifier.labels) >= {"billing", "technical"}
    scored = evaluate("multilabel", str(out), SAMPLES / "tickets_dev.jsonl")
    assert scored.metrics["micro_f1"] == pytest.approx(result.metrics["micro_f1"])


def test_a_head_on_a_static_model(st_model, tmp_path):
    pytest.importorskip("model2vec.distill")
    from nlu_toolkit.train.distill import distill

    static = tmp_path / "static"
    distill(static, st_model, dims=8)
    out = tmp_path / "fast"
    result = finetune("classification", TRAIN, out, model=str(static), eval=DEV, seed=0)
    assert (out / "head.safetensors").is_file() and json.loads((out / "config.json").read_text())["model_type"]
    settings = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["settings"]
    assert settings["head"] == "logreg" and "epochs" not in settings
    assert evaluate("classification", str(out), DEV).metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert Embedder(str(out)).encode(["x"])[0].shape == (1, 8)
    with pytest.raises(UsageError, match="static"):
        finetune("fewshot", TRAIN, tmp_path / "no", model=str(static))
    with pytest.raises(UsageError, match="static"):
        finetune("embedding", SAMPLES / "sts_train.csv", tmp_path / "no", model=str(static))


@pytest.mark.parametrize(
    ("task", "options", "named"),
    [
        ("classification", {"head": "torch"}, "head"),
        ("classification", {"num_iterations": 2}, "num_iterations"),
        ("classification", {"multi_label": True}, "multi_label"),
        ("fewshot", {"num_iterations": 2, "pairs_per_example": 4}, "pairs_per_example"),
        ("fewshot", {"head": "svm"}, "head"),
        ("fewshot", {"patience": 2, "eval": DEV}, "patience"),
        ("fewshot", {"num_iterations": 0}, "num_iterations"),
    ],
)
def test_options_that_do_not_fit_are_refused_before_training(st_model, tmp_path, task, options, named):
    with pytest.raises(UsageError) as caught:
        finetune(task, TRAIN, tmp_path / "m", model=st_model, **options)
    assert f"{{={named}}}" in caught.value.template
    assert not (tmp_path / "m").exists()


def test_one_class_of_examples_is_refused(st_model, tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("text,label\ngood,pos\nfine,pos\nnice,pos\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match="two labels"):
        finetune("fewshot", one, tmp_path / "m", model=st_model)
    same = tmp_path / "same.jsonl"
    same.write_text("".join(f'{{"text": "t{i}", "labels": ["a", "b"]}}\n' for i in range(4)), encoding="utf-8")
    with pytest.raises(TrainingDataError, match="label"):
        finetune("fewshot", same, tmp_path / "m", model=st_model, multi_label=True)
    assert not (tmp_path / "m").exists()


def test_a_setfit_folder_with_a_pickled_head_is_refused(fewshot_dir, tmp_path):
    out, _ = fewshot_dir
    setfit_like = tmp_path / "setfit"
    shutil.copytree(out, setfit_like)
    (setfit_like / "head.json").unlink()
    (setfit_like / "head.safetensors").unlink()
    (setfit_like / "model_head.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UnsafeModel, match="pickle"):
        Classifier(str(setfit_like))
