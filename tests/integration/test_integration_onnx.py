"""The ONNX Runtime backend of `Embedder` on the tiny sentence-transformers model: export, cache, probe check."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from nlu_toolkit.engine import onnx_backend
from nlu_toolkit.errors import UsageError
from nlu_toolkit.models.exports import list_exports
from nlu_toolkit.tasks.embed import Embedder

TEXTS = ["the river bank", "money in the bank", "who wrote the story in paris", "a b c d e f g h i j k"]


def test_fp32_export_matches_torch_and_is_cached(st_model):
    torch_vectors, _ = Embedder(st_model, device="cpu").encode(TEXTS)
    onnx = Embedder(st_model, device="cpu", runtime="onnx")
    assert onnx.runtime == "onnx" and onnx.runtime_warning is None
    vectors, _ = onnx.encode(TEXTS)
    assert vectors.shape == torch_vectors.shape
    assert onnx_backend.cosines(torch_vectors, vectors).min() >= 0.9999
    exported = onnx._onnx.path
    stamp = exported.stat().st_mtime_ns
    again = Embedder(st_model, device="cpu", runtime="onnx")
    assert again._onnx.path == exported and exported.stat().st_mtime_ns == stamp  # reused, not re-exported
    assert any(row["folder"] == str(exported.parent) for row in list_exports("onnx"))


def test_int8_runs_or_falls_back_with_a_reason(st_model):
    embedder = Embedder(st_model, device="cpu", runtime="onnx", quantize="int8")
    vectors, _ = embedder.encode(TEXTS)
    assert vectors.shape[0] == len(TEXTS)
    if embedder.runtime == "onnx-int8":
        reference, _ = Embedder(st_model, device="cpu").encode(onnx_backend.PROBE_TEXTS)
        probe, _ = embedder.encode(onnx_backend.PROBE_TEXTS)
        assert onnx_backend.cosines(reference, probe).min() >= onnx_backend.MIN_COSINE
    else:
        assert embedder.runtime == "torch" and "disagrees with torch" in embedder.runtime_warning


def test_a_graph_that_fails_the_probe_falls_back_to_torch(st_model, monkeypatch):
    monkeypatch.setattr(onnx_backend, "MIN_COSINE", 1.01)  # nothing can pass
    embedder = Embedder(st_model, device="cpu", runtime="onnx")
    assert embedder.runtime == "torch" and embedder._onnx is None
    assert "probe cosine" in embedder.runtime_warning
    torch_vectors, _ = Embedder(st_model, device="cpu").encode(TEXTS)
    vectors, _ = embedder.encode(TEXTS)
    assert (vectors == torch_vectors).all()


def test_backend_options_are_checked(st_model):
    with pytest.raises(UsageError, match="needs backend onnx"):
        Embedder(st_model, quantize="int8")
    with pytest.raises(UsageError, match="unknown backend"):
        Embedder(st_model, backend="tensorrt")
    with pytest.raises(UsageError, match="unknown quantize"):
        Embedder(st_model, backend="onnx", quantize="int4")


def test_cli_embed_runtime_onnx_matches_torch(st_model, tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    runner = CliRunner()
    outputs = {}
    for runtime in ("torch", "onnx"):
        out = tmp_path / f"{runtime}.npy"
        result = runner.invoke(app, ["embed", *TEXTS, "--model", st_model, "--runtime", runtime, "-o", str(out)])
        assert result.exit_code == 0, result.stderr
        assert "warning" not in result.stderr
        outputs[runtime] = np.load(out)
    assert onnx_backend.cosines(outputs["torch"], outputs["onnx"]).min() >= 0.9999
    bad = runner.invoke(app, ["embed", "x", "--model", st_model, "--quantize", "int8"])
    assert bad.exit_code == 2 and "--backend onnx" in bad.stderr


def test_cli_warns_when_onnx_falls_back(st_model, monkeypatch):
    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    monkeypatch.setattr(onnx_backend, "MIN_COSINE", 1.01)
    result = CliRunner().invoke(app, ["embed", "--search", "bank", "--corpus", "-", "--model", st_model,
                                      "--runtime", "onnx", "-f", "jsonl"], input="river bank\nmoney\n")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("nlu: warning: the ONNX fp32 graph disagrees with torch")
    assert '"hits"' in result.stdout


def test_cli_index_build_and_add_with_onnx(st_model, tmp_path):
    import json

    from typer.testing import CliRunner

    from nlu_toolkit.cli.app import app

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the river bank\nmoney in the bank\n", encoding="utf-8")
    more = tmp_path / "more.txt"
    more.write_text("who wrote the story\n", encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "idx"
    built = runner.invoke(
        app, ["index", "build", str(corpus), "--out", str(out), "--model", st_model, "--runtime", "onnx"]
    )
    assert built.exit_code == 0, built.stderr
    added = runner.invoke(app, ["index", "add", str(out), str(more), "--runtime", "onnx", "--quantize", "int8"])
    assert added.exit_code == 0, added.stderr
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["count"] == 3
    hits = runner.invoke(app, ["embed", "--search", "river", "--index", str(out), "--runtime", "onnx", "-f", "json"])
    assert hits.exit_code == 0, hits.stderr
    found = {h["text"] for h in json.loads(hits.stdout)[0]["hits"]}
    assert found == {"the river bank", "money in the bank", "who wrote the story"}  # all three, build + add


def test_models_list_shows_cached_exports(st_model):
    from nlu_toolkit.models.manage import list_models

    embedder = Embedder(st_model, device="cpu", runtime="onnx")
    rows = [r for r in list_models() if r["source"] == "export"]
    mine = [r for r in rows if r["path"] == str(embedder._onnx.path.parent)]
    assert len(mine) == 1
    assert mine[0]["model"] == embedder.model_info.name and mine[0]["used_by"] == "--backend onnx"
    assert mine[0]["task"].startswith("onnx export (fp32")
