"""`device.inference_dtype`: half precision on CUDA (bf16 where supported), float32 elsewhere, an override."""

from __future__ import annotations

import pytest

from nlu_toolkit.core.device import cast_for_inference, inference_dtype
from nlu_toolkit.errors import UsageError


def test_cpu_and_mps_stay_float32(monkeypatch):
    monkeypatch.delenv("NLU_INFERENCE_DTYPE", raising=False)
    assert inference_dtype("cpu") == "float32"
    assert inference_dtype("mps") == "float32"


@pytest.mark.parametrize(("bf16", "want"), [(True, "bfloat16"), (False, "float16")])
def test_cuda_prefers_bf16_where_supported(monkeypatch, bf16, want):
    import torch

    monkeypatch.delenv("NLU_INFERENCE_DTYPE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert inference_dtype("cuda") == want
    assert inference_dtype("cuda:1") == want


def test_the_environment_overrides(monkeypatch):
    monkeypatch.setenv("NLU_INFERENCE_DTYPE", "float32")
    assert inference_dtype("cuda") == "float32"
    monkeypatch.setenv("NLU_INFERENCE_DTYPE", "bfloat16")
    assert inference_dtype("cpu") == "bfloat16"
    monkeypatch.setenv("NLU_INFERENCE_DTYPE", "int4")
    with pytest.raises(UsageError, match="NLU_INFERENCE_DTYPE"):
        inference_dtype("cpu")


def test_cast_changes_the_module_dtype_only_when_asked(monkeypatch):
    import torch

    layer = torch.nn.Linear(4, 2)
    monkeypatch.delenv("NLU_INFERENCE_DTYPE", raising=False)
    cast_for_inference(layer, "cpu")
    assert layer.weight.dtype == torch.float32
    monkeypatch.setenv("NLU_INFERENCE_DTYPE", "bfloat16")
    cast_for_inference(layer, "cpu")
    assert layer.weight.dtype == torch.bfloat16


def test_a_bf16_classifier_still_returns_float_scores(cls_model, monkeypatch):
    """The task paths cast outputs back to float32, so half-precision models work end to end."""
    from nlu_toolkit.models.resolver import clear_cache
    from nlu_toolkit.tasks.classify import classify

    monkeypatch.setenv("NLU_INFERENCE_DTYPE", "bfloat16")
    clear_cache()
    try:
        half = classify(["the river bank", "money"], cls_model, device="cpu")
    finally:
        monkeypatch.delenv("NLU_INFERENCE_DTYPE")
        clear_cache()
    full = classify(["the river bank", "money"], cls_model, device="cpu")
    assert [r.label for r in half] == [r.label for r in full]
    assert all(isinstance(r.score, float) and abs(r.score - f.score) < 0.02 for r, f in zip(half, full, strict=True))
