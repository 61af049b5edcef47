"""Device selection: one place that turns ``auto|cpu|cuda|mps`` into a usable device."""

from __future__ import annotations

from nlu_toolkit.errors import UsageError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str | None = "auto") -> str:
    """Return a concrete torch device string for ``device``.

    ``auto`` picks CUDA, then Apple MPS, then the CPU. Asking for an accelerator
    that is not present is a usage error rather than a silent fallback, so a job
    meant for a GPU never crawls along on the CPU unnoticed.
    """
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError("{=device} cuda was asked for, but no CUDA GPU is visible", "use {=device} auto or cpu")
        return device
    if device == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise UsageError("{=device} mps was asked for, but Apple MPS is not available", "use {=device} auto or cpu")
        return "mps"
    raise UsageError(f"unknown device {device!r}", f"use one of: {', '.join(DEVICES)}, or cuda:N")


DTYPES = ("float32", "float16", "bfloat16")


def inference_dtype(device: str) -> str:
    """The dtype models run in for inference on ``device``.

    On CUDA: bfloat16 where the GPU supports it (Ampere and later: fp32's range, so no
    overflow in long sums), else float16; tensor cores make either about twice as fast as
    float32 for the same outputs within ~1e-2. On the CPU and MPS: float32. Set
    ``NLU_INFERENCE_DTYPE=float32|float16|bfloat16`` to override (training never casts).
    """
    import os

    forced = os.environ.get("NLU_INFERENCE_DTYPE", "").strip().lower()
    if forced and forced != "auto":
        if forced not in DTYPES:
            raise UsageError(f"unknown NLU_INFERENCE_DTYPE {forced!r}", f"use one of: {', '.join(DTYPES)} or auto")
        return forced
    if not device.startswith("cuda"):
        return "float32"
    import torch

    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def cast_for_inference(model: object, device: str) -> None:
    """Cast ``model`` (a torch module) in place to `inference_dtype` for ``device``, when that is not float32."""
    dtype = inference_dtype(device)
    if dtype != "float32":
        import torch

        model.to(getattr(torch, dtype))  # type: ignore[attr-defined]
