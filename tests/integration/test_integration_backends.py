"""`--backend onnx|auto` on classify, ner, qa and cluster, and `nlu bench`, on the tiny models.

Equality is asserted within tolerances; timings never are.
"""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from typer.testing import CliRunner

from nlu_toolkit import bench
from nlu_toolkit.cli.app import app
from nlu_toolkit.engine import choice, runtime
from nlu_toolkit.tasks.classify import Classifier
from nlu_toolkit.tasks.ner import EntityRecognizer
from nlu_toolkit.tasks.qa import QuestionAnswerer

TEXTS = ["the river bank", "money in the bank", "who wrote the story in paris", "a b c d e f g h i j k"] * 3


def scores(classifier, texts):
    return np.array([[x.score for x in sorted(r.labels, key=lambda x: x.label)] for r in classifier.predict(texts)])


def test_classify_fp32_onnx_equals_torch(cls_model):
    torch_clf = Classifier(cls_model, device="cpu")
    onnx_clf = Classifier(cls_model, device="cpu", runtime="onnx")
    assert onnx_clf.runtime == "onnx" and onnx_clf.runtime_warning is None
    np.testing.assert_allclose(scores(onnx_clf, TEXTS), scores(torch_clf, TEXTS), atol=1e-4)


def test_classify_int8_runs_with_agreeing_labels_or_falls_back(cls_model):
    torch_labels = [r.label for r in Classifier(cls_model, device="cpu").predict(TEXTS)]
    clf = Classifier(cls_model, device="cpu", runtime="onnx", quantize="int8")
    labels = [r.label for r in clf.predict(TEXTS)]
    if clf.runtime == "onnx-int8":
        assert np.mean([a == b for a, b in zip(labels, torch_labels, strict=True)]) >= 0.9
    else:
        assert "disagrees with torch" in clf.runtime_warning and labels == torch_labels


def test_nli_zero_shot_on_onnx_equals_torch(nli_model):
    a = Classifier(nli_model, labels="sports,politics", device="cpu")
    b = Classifier(nli_model, labels="sports,politics", device="cpu", runtime="onnx")
    assert b.runtime == "onnx"
    np.testing.assert_allclose(scores(b, TEXTS), scores(a, TEXTS), atol=1e-4)


def test_embedding_zero_shot_passes_the_backend_to_the_embedder(st_model):
    clf = Classifier(st_model, labels="river,money", device="cpu", runtime="onnx")
    assert clf.runtime == "onnx"
    ref = Classifier(st_model, labels="river,money", device="cpu")
    np.testing.assert_allclose(scores(clf, TEXTS), scores(ref, TEXTS), atol=1e-4)


def test_ner_fp32_onnx_finds_the_same_entities(ner_model):
    def spans(recognizer):
        return [[(e.start, e.end, e.label) for e in r.entities] for r in recognizer.predict(TEXTS)]

    onnx = EntityRecognizer(ner_model, device="cpu", runtime="onnx", aggregation="none")
    assert onnx.runtime == "onnx"
    assert spans(onnx) == spans(EntityRecognizer(ner_model, device="cpu", aggregation="none"))


def test_qa_fp32_onnx_gives_the_same_answers(qa_model):
    rows = [{"question": "who wrote the story", "context": "the story was written in paris by a man " * 3}] * 2
    onnx = QuestionAnswerer(qa_model, device="cpu", runtime="onnx", top_k=2)
    assert onnx.runtime == "onnx"
    want = [
        [(a.start, a.end) for a in r.answers] for r in QuestionAnswerer(qa_model, device="cpu", top_k=2).predict(rows)
    ]
    assert [[(a.start, a.end) for a in r.answers] for r in onnx.predict(rows)] == want


def test_a_disagreeing_graph_falls_back_to_torch_with_a_reason(cls_model, monkeypatch):
    monkeypatch.setattr(runtime, "MIN_AGREEMENT", 1.01)  # nothing can pass
    clf = Classifier(cls_model, device="cpu", runtime="onnx")
    assert clf.runtime == "torch"
    assert "probe labels agree" in clf.runtime_warning and clf.runtime_warning.endswith("using torch")


def test_onnx_on_an_accelerator_keeps_torch(cls_model):
    from nlu_toolkit.models.resolver import load_model
    from nlu_toolkit.tasks.common import torch_forward

    real = load_model(cls_model, "text-classification", device="cpu")
    # Pretend the model sits on a GPU (a copy: loaded models are cached); ONNX Runtime here is CPU-only.
    loaded = SimpleNamespace(model=real.model, tokenizer=real.tokenizer, info=replace(real.info, device="cuda"))
    forward = torch_forward(real.model, "cpu", lambda out: out.logits)
    chosen = runtime.select_forward(loaded, "sequence-classification", forward, task="classify", backend="onnx")
    assert chosen.name == "torch" and chosen.forward is forward and "runs on the CPU" in chosen.warning


def test_exports_are_cached_per_head(cls_model, ner_model):
    from nlu_toolkit.models.exports import list_exports

    Classifier(cls_model, device="cpu", runtime="onnx")
    EntityRecognizer(ner_model, device="cpu", runtime="onnx")
    heads = {row["head"] for row in list_exports("onnx")}
    assert {"sequence-classification", "token-classification"} <= heads


runner = CliRunner()


@pytest.mark.parametrize("command", ["classify", "ner"])
def test_cli_backend_onnx_matches_torch(command, cls_model, ner_model):
    model = cls_model if command == "classify" else ner_model
    outs = {}
    for backend in ("torch", "onnx"):
        result = runner.invoke(app, [command, *TEXTS[:4], "--model", model, "--backend", backend, "-f", "json"])
        assert result.exit_code == 0, result.stderr
        assert "warning" not in result.stderr
        outs[backend] = json.loads(result.stdout)
    if command == "classify":
        assert [r["label"] for r in outs["onnx"]] == [r["label"] for r in outs["torch"]]
        np.testing.assert_allclose([r["score"] for r in outs["onnx"]], [r["score"] for r in outs["torch"]], atol=1e-4)
    else:

        def spans(rows):
            return [[(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in rows]

        assert spans(outs["onnx"]) == spans(outs["torch"]) and any(spans(outs["torch"]))
        got = [e["score"] for r in outs["onnx"] for e in r["entities"]]
        np.testing.assert_allclose(got, [e["score"] for r in outs["torch"] for e in r["entities"]], atol=1e-4)


def test_cli_qa_and_cluster_take_the_backend(qa_model, st_model):
    qa = runner.invoke(app, ["qa", "-Q", "who wrote it", "--context", "it was written by ada in paris", "--model",
                             qa_model, "--backend", "onnx", "-f", "json"])  # fmt: skip
    assert qa.exit_code == 0, qa.stderr
    assert json.loads(qa.stdout)[0]["question"] == "who wrote it"
    clustered = runner.invoke(app, ["cluster", *TEXTS, "--model", st_model, "--k", "2", "--backend", "onnx",
                                    "--quantize", "int8", "-f", "json"])  # fmt: skip
    assert clustered.exit_code == 0, clustered.stderr
    assert len(json.loads(clustered.stdout)) == len(TEXTS)


def test_cli_warns_on_fallback_and_refuses_bad_backends(cls_model, monkeypatch):
    monkeypatch.setattr(runtime, "MIN_AGREEMENT", 1.01)
    result = runner.invoke(app, ["classify", "x", "--model", cls_model, "--backend", "onnx", "-f", "json"])
    assert result.exit_code == 0
    assert result.stderr.startswith("nlu: warning: the ONNX fp32 graph disagrees with torch")
    bad = runner.invoke(app, ["ner", "x", "--backend", "tensorrt"])
    assert bad.exit_code == 2 and "is not one of: torch, onnx, openvino, auto" in bad.stderr
    quant = runner.invoke(app, ["classify", "x", "--model", cls_model, "--quantize", "int8"])
    assert quant.exit_code == 2 and "--backend onnx" in quant.stderr


def test_bench_measures_each_backend_and_agrees(st_model):
    result = bench.bench("embed", st_model, TEXTS, batch_sizes=[1, 4], repeats=2)
    assert [(m.backend, m.batch_size) for m in result.measurements] == [
        (b, s) for s in (1, 4) for b in bench.default_backends()
    ]
    for m in result.measurements:
        assert m.texts_per_s > 0 and m.ci_low <= m.texts_per_s <= m.ci_high
        assert m.tokens_per_s > m.texts_per_s  # every text has several tokens
    fp32 = next(m for m in result.measurements if m.backend == "onnx")
    assert fp32.ran == "onnx" and fp32.least_cosine >= 0.9999
    assert result.recommended in ("torch", "onnx", "onnx-int8") and result.reason
    assert result.tokens > len(TEXTS) and result.machine["cores"] >= 1


def test_bench_classify_and_ner_report_agreement(cls_model, ner_model):
    for task, model in (("classify", cls_model), ("ner", ner_model)):
        result = bench.bench(task, model, TEXTS, backends=["torch", "onnx"], batch_sizes=[4], repeats=2)
        agreement = {m.backend: m.agreement for m in result.measurements}
        assert agreement == {"torch": 1.0, "onnx": 1.0}


def test_cli_bench_writes_json_saves_and_auto_uses_it(st_model, tmp_path, monkeypatch):
    monkeypatch.setattr(choice, "results_path", lambda: tmp_path / "bench.json")
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS), encoding="utf-8")
    out = tmp_path / "figures.json"
    result = runner.invoke(app, ["bench", "--model", st_model, "--texts", str(texts), "--batch-sizes", "2,4",
                                 "--repeats", "2", "--json", str(out), "-f", "jsonl"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    every = bench.default_backends()
    assert len(rows) == 2 * len(every) and {r["backend"] for r in rows} == set(every)
    assert all(r["vs_torch"] == 1.0 for r in rows if r["backend"] == "torch")
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["texts"] == len(TEXTS) and len(figures["measurements"]) == 2 * len(every)
    assert "recommended: --backend" in result.stderr and "saved for --backend auto" in result.stderr
    # --backend auto now runs what the bench recommended.
    from nlu_toolkit.tasks.embed import Embedder

    auto = Embedder(st_model, device="cpu", runtime="auto")
    assert auto.runtime == figures["recommended"]


def test_cli_bench_rejects_bad_lists():
    result = runner.invoke(app, ["bench", "--batch-sizes", "1,x"])
    assert result.exit_code == 2 and "--batch-sizes" in result.stderr


def test_openvino_fp32_equals_torch_and_is_cached(st_model, cls_model):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from nlu_toolkit.engine.onnx_backend import cosines
    from nlu_toolkit.models.manage import list_models
    from nlu_toolkit.tasks.embed import Embedder

    ov = Embedder(st_model, device="cpu", runtime="openvino")
    assert ov.runtime == "openvino" and ov.runtime_warning is None
    want, _ = Embedder(st_model, device="cpu").encode(TEXTS)
    got, _ = ov.encode(TEXTS)
    assert cosines(want, got).min() >= 0.9999
    exports = [r for r in list_models() if r["source"] == "export" and r["task"].startswith("openvino export")]
    assert any(r["path"] == str(ov._onnx.path.parent) and r["used_by"] == "--backend openvino" for r in exports)
    clf = Classifier(cls_model, device="cpu", runtime="openvino")
    assert clf.runtime == "openvino"
    np.testing.assert_allclose(scores(clf, TEXTS), scores(Classifier(cls_model, device="cpu"), TEXTS), atol=1e-4)


def test_openvino_int8_runs_or_falls_back_with_a_reason(st_model, capfd):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from nlu_toolkit.tasks.embed import Embedder

    embedder = Embedder(st_model, device="cpu", backend="openvino", quantize="int8")
    # NNCF's calibration bars once went to stdout, into the command's results: the library prints nothing.
    printed = capfd.readouterr()
    assert printed.out == "" and "Smooth Quant" not in printed.err
    vectors, _ = embedder.encode(TEXTS)
    assert vectors.shape[0] == len(TEXTS)
    assert embedder.runtime == "openvino-int8" or "OpenVINO int8 graph disagrees" in embedder.runtime_warning


def test_cli_backend_openvino_and_bench_lists_it(st_model, tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    result = runner.invoke(app, ["embed", *TEXTS[:4], "--model", st_model, "--backend", "openvino", "-f", "jsonl"])
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 4
    assert "openvino-int8" in bench.default_backends()
    assert runtime.split_choice("openvino-int8") == ("openvino", "int8")
    assert runtime.backend_name("openvino", None) == "openvino"


def test_missing_openvino_names_the_extra(st_model, monkeypatch):
    import sys

    from nlu_toolkit.errors import MissingExtra
    from nlu_toolkit.tasks.embed import Embedder

    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MissingExtra, match=r"nlu-toolkit\[openvino\]"):
        Embedder(st_model, device="cpu", runtime="openvino")


def test_a_new_recipe_replaces_the_older_export(cls_model, monkeypatch):
    from nlu_toolkit.engine import onnx_backend

    first = Classifier(cls_model, device="cpu", runtime="onnx")
    old_folder = first._scorer.forward.path.parent
    monkeypatch.setattr(onnx_backend, "RECIPE", "v99")
    runtime._SESSIONS.clear()
    second = Classifier(cls_model, device="cpu", runtime="onnx")
    new_folder = second._scorer.forward.path.parent
    assert new_folder.name.endswith("-v99") and new_folder.is_dir()
    assert not old_folder.exists()  # the older recipe's export is gone


def test_an_export_failure_falls_back_to_torch_with_a_reason(st_model, cls_model, monkeypatch):
    from nlu_toolkit.tasks.embed import Embedder

    def broken(*args, **kwargs):
        raise RuntimeError("converter says no\nsecond line")

    monkeypatch.setattr(runtime, "onnx_session", broken)
    embedder = Embedder(st_model, device="cpu", runtime="onnx", quantize="int8")
    assert embedder.runtime == "torch"
    assert embedder.runtime_warning == (
        "cannot run this model on ONNX Runtime int8 (RuntimeError: converter says no); using torch"
    )
    clf = Classifier(cls_model, device="cpu", runtime="openvino")
    assert clf.runtime == "torch" and clf.runtime_warning.startswith("cannot run this model on OpenVINO fp32")
    assert [r.label for r in clf.predict(TEXTS)] == [
        r.label for r in Classifier(cls_model, device="cpu").predict(TEXTS)
    ]
