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
            raise UsageError("--device cuda was asked for, but no CUDA GPU is visible", "use --device auto or cpu")
        return device
    if device == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise UsageError("--device mps was asked for, but Apple MPS is not available", "use --device auto or cpu")
        return "mps"
    raise UsageError(f"unknown device {device!r}", f"use one of: {', '.join(DEVICES)}, or cuda:N")
