"""The ONNX Runtime backend of `Embedder` on the tiny sentence-transformers model: export, cache, probe check."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from nlu_toolkit import onnx_backend
from nlu_toolkit.errors import UsageError
from nlu_toolkit.tasks.embed import Embedder

TEXTS = ["the river bank", "money in the bank", "who wrote the story in paris", "a b c d e f g h i j k"]


def test_fp32_export_matches_torch_and_is_cached(st_model):
    torch_vectors, _ = Embedder(st_model, device="cpu").encode(TEXTS)
    onnx = Embedder(st_model, device="cpu", backend="onnx")
    assert onnx.backend == "onnx" and onnx.backend_warning is None
    vectors, _ = onnx.encode(TEXTS)
    assert vectors.shape == torch_vectors.shape
    assert onnx_backend.cosines(torch_vectors, vectors).min() >= 0.9999
    exported = onnx._onnx.path
    stamp = exported.stat().st_mtime_ns
    again = Embedder(st_model, device="cpu", backend="onnx")
    assert again._onnx.path == exported and exported.stat().st_mtime_ns == stamp  # reused, not re-exported
    assert any(row["folder"] == str(exported.parent) for row in onnx_backend.list_exports())


def test_int8_runs_or_falls_back_with_a_reason(st_model):
    embedder = Embedder(st_model, device="cpu", backend="onnx", quantize="int8")
    vectors, _ = embedder.encode(TEXTS)
    assert vectors.shape[0] == len(TEXTS)
    if embedder.backend == "onnx-int8":
        reference, _ = Embedder(st_model, device="cpu").encode(onnx_backend.PROBE_TEXTS)
        probe, _ = embedder.encode(onnx_backend.PROBE_TEXTS)
        assert onnx_backend.cosines(reference, probe).min() >= onnx_backend.MIN_COSINE
    else:
        assert embedder.backend == "torch" and "disagrees with torch" in embedder.backend_warning


def test_a_graph_that_fails_the_probe_falls_back_to_torch(st_model, monkeypatch):
    monkeypatch.setattr(onnx_backend, "MIN_COSINE", 1.01)  # nothing can pass
    embedder = Embedder(st_model, device="cpu", backend="onnx")
    assert embedder.backend == "torch" and embedder._onnx is None
    assert "probe cosine" in embedder.backend_warning
    torch_vectors, _ = Embedder(st_model, device="cpu").encode(TEXTS)
    vectors, _ = embedder.encode(TEXTS)
    assert (vectors == torch_vectors).all()


def test_backend_options_are_checked(st_model):
    with pytest.raises(UsageError, match="--backend onnx"):
        Embedder(st_model, quantize="int8")
    with pytest.raises(UsageError, match="unknown --backend"):
        Embedder(st_model, backend="tensorrt")
    with pytest.raises(UsageError, match="--quantize"):
        Embedder(st_model, backend="onnx", quantize="int4")
