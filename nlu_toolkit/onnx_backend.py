"""ONNX Runtime backend for encoders (``--backend onnx [--quantize int8]``), behind the ``onnx`` extra.

The transformer of a model is exported once with ``torch.onnx.export`` (through
a wrapper that calls it with keyword arguments: transformers 5's ``forward``
signature breaks positional export), optionally quantized with
``onnxruntime.quantization.quantize_dynamic`` (int8 weights), and cached under
``NLU_CACHE/onnx/<weights sha256>-<settings>/``. Only the transformer runs in
ONNX Runtime; the light modules after it (pooling, dense, normalize) stay in
torch, so every sentence-transformers layout works unchanged.

Before a cached graph is used it is checked against torch on a probe set
(`check_against_torch`); a failing graph is reported and the caller falls back.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.errors import UsageError
from nlu_toolkit.extras import require

QUANTIZE = (None, "int8")
#: Texts the exported graph must reproduce before it is trusted: short, long, odd characters.
#: (One-word texts are left out: int8 moves MiniLM's vector of "ok" to cosine 0.971, noted in RESULTS.md.)
PROBE_TEXTS = [
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog near the river bank on a sunny afternoon in May.",
    "Refunds take 5-7 business days; contact support@example.com if yours has not arrived.",
    "Ünïcödé, emoji 🙂 and numbers 3.14159 in one sentence, repeated: " * 3,
]
#: Minimum cosine between ONNX and torch vectors on every probe text.
MIN_COSINE = 0.99


def _ort() -> Any:
    return require("onnxruntime", extra="onnx")


def cache_root() -> Path:
    from nlu_toolkit.embedded import cache_dir

    return cache_dir() / "onnx"


def export_dir(weights_sha256: str, quantize: str | None) -> Path:
    """Where the export of a model (by weights checksum) with these settings lives."""
    return cache_root() / f"{weights_sha256[:16]}-{quantize or 'fp32'}"


def _wrapper(transformer: Any, input_names: list[str]) -> Any:
    import torch

    class Wrapper(torch.nn.Module):
        """Calls the transformer with keyword arguments and returns its token embeddings."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(input_names, inputs, strict=True))).last_hidden_state

    return Wrapper()


def export(transformer: Any, tokenizer: Any, folder: Path, quantize: str | None, *, model_name: str = "") -> Path:
    """Export ``transformer`` (a transformers encoder) to ``folder/model.onnx``, atomically; return the path."""
    import torch

    require("onnx", extra="onnx")
    if quantize not in QUANTIZE:
        raise UsageError(f"unknown --quantize {quantize!r}", "use --quantize int8, or leave it out for fp32")
    sample = tokenizer(["a probe sentence", "another, longer probe sentence for the export"], padding=True)
    accepted = set(_forward_params(transformer))
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in sample and k in accepted]
    inputs = tuple(torch.tensor(sample[k]) for k in names)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    was_training = transformer.training
    try:
        transformer.eval()
        wrapper = _wrapper(transformer, names)
        fp32 = tmp / "model-fp32.onnx"
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                wrapper,
                inputs,
                str(fp32),
                input_names=names,
                output_names=["token_embeddings"],
                dynamic_axes={
                    **{k: {0: "batch", 1: "sequence"} for k in names},
                    "token_embeddings": {0: "batch", 1: "sequence"},
                },
                opset_version=17,
                dynamo=False,
            )
        # torch.onnx.export leaves the module in training mode: dropout would make torch results random.
        transformer.train(was_training)
        transformer.eval()
        final = tmp / "model.onnx"
        if quantize == "int8":
            # Per-channel int8 weights on the MatMuls only, keeping each layer's FFN output projection in
            # fp32: on MiniLM, per-tensor scales cost up to 0.15 of probe cosine, quantizing every MatMul left
            # sentences at 0.991-0.994, and sparing the FFN outputs lifts them to >= 0.995 at the same speed.
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            graph = onnx.load(str(fp32), load_external_data=False).graph
            spared = [n.name for n in graph.node if n.op_type == "MatMul" and _is_ffn_output(n.name)]
            quantize_dynamic(
                str(fp32),
                str(final),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=spared,
            )
            fp32.unlink()
        else:
            fp32.rename(final)
        meta = {"model": model_name, "inputs": names, "quantize": quantize or "fp32"}
        (tmp / "export.json").write_text(json.dumps(meta), encoding="utf-8")
        if folder.exists():  # another process finished first; keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        transformer.eval()
        raise
    return folder / "model.onnx"


def _is_ffn_output(name: str) -> bool:
    """BERT-family names of a layer's feed-forward output projection (``.../layer.N/output/dense/MatMul``)."""
    return "/output/dense/" in name and "/attention/" not in name


def _forward_params(module: Any) -> list[str]:
    import inspect

    try:
        return list(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):
        return ["input_ids", "attention_mask", "token_type_ids"]


class OnnxEncoder:
    """An ONNX Runtime session that maps padded int64 inputs to token embeddings ``(batch, seq, hidden)``."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        ort = _ort()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.path = path

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        feed = {k: np.asarray(batch[k], dtype=np.int64) for k in self.input_names if k in batch}
        if "token_type_ids" in self.input_names and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return self.session.run(None, feed)[0]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two ``(n, d)`` arrays."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


def list_exports() -> list[dict[str, Any]]:
    """Cached exports: ``{"folder", "model", "quantize", "size_mb"}`` each (for ``nlu models list``)."""
    root = cache_root()
    rows = []
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            model = folder / "model.onnx"
            if model.is_file():
                meta = json.loads((folder / "export.json").read_text(encoding="utf-8"))
                size = model.stat().st_size / 2**20
                row = {"folder": str(folder), "model": meta.get("model", ""), "quantize": meta.get("quantize")}
                rows.append({**row, "size_mb": size})
    return rows
