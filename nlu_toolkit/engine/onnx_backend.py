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

import contextlib
import json
import logging
import shutil
import warnings
from collections.abc import Iterator
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
    from nlu_toolkit.models.embedded import cache_dir

    return cache_dir() / "onnx"


#: Bumped when the export recipe changes, so caches made by an older recipe are not reused.
RECIPE = "v3"
#: What the exported graph returns, per model head (the wrapper picks it from the model output).
HEADS = ("encoder", "sequence-classification", "token-classification", "question-answering")
#: Architectures whose attention ONNX Runtime's BERT optimizer fuses (the probe check still guards the result).
FUSABLE = ("bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra", "mpnet")


def export_dir(weights_sha256: str, quantize: str | None, head: str = "encoder") -> Path:
    """Where the export of a model (by weights checksum) with these settings lives."""
    return cache_root() / f"{weights_sha256[:16]}-{head}-{quantize or 'fp32'}-{RECIPE}"


def _wrapper(model: Any, input_names: list[str], head: str) -> Any:
    import torch

    class Wrapper(torch.nn.Module):
        """Calls the model with keyword arguments and returns the one tensor ``head`` needs."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *inputs: Any) -> Any:
            out = self.inner(**dict(zip(input_names, inputs, strict=True)))
            if head == "encoder":
                return out.last_hidden_state
            if head == "question-answering":
                return torch.stack([out.start_logits, out.end_logits], dim=-1)
            return out.logits

    return Wrapper()


def export(
    model: Any,
    tokenizer: Any,
    folder: Path,
    quantize: str | None,
    *,
    head: str = "encoder",
    model_name: str = "",
    fuse: bool = True,
) -> Path:
    """Export ``model`` (a transformers encoder, or one with a ``head``) to ``folder/model.onnx``, atomically.

    Steps: export with eager attention (its pattern is the one ONNX Runtime fuses), fuse
    attention, layer norms and GELU with ONNX Runtime's transformer optimizer where the
    architecture is known, then for ``int8`` quantize the weights of every MatMul and fused
    Attention, per channel. Returns the path of the graph.
    """
    require("onnx", extra="onnx")
    if quantize not in QUANTIZE:
        raise UsageError(f"unknown {{=quantize}} {quantize!r}", "use {=quantize} int8, or leave it out for fp32")
    if head not in HEADS:
        raise UsageError(f"no ONNX export for a {head!r} head", f"use one of: {', '.join(HEADS)}")
    from nlu_toolkit.io.writers import staged_folder

    with staged_folder(folder) as tmp, _quiet():
        names, fused = _export_graph(model, tokenizer, tmp / "model-fp32.onnx", head, fuse=fuse)
        final = tmp / "model.onnx"
        if quantize == "int8":
            _quantize(tmp / "model-fp32.onnx", final)
            (tmp / "model-fp32.onnx").unlink()
        else:
            (tmp / "model-fp32.onnx").rename(final)
        meta = {"model": model_name, "inputs": names, "quantize": quantize or "fp32", "head": head, "fused": fused}
        (tmp / "export.json").write_text(json.dumps({**meta, "recipe": RECIPE}), encoding="utf-8")
    drop_older_recipes(folder)
    return folder / "model.onnx"


def drop_older_recipes(folder: Path) -> None:
    """Delete exports of the same model, head and quantization made by an earlier recipe (never used again)."""
    stem = folder.name.rpartition("-")[0]
    for old in folder.parent.glob(f"{stem}-v*"):
        if old.name != folder.name and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's and quantizer's advice (Python warnings, root-logger lines): the library never prints."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _export_graph(model: Any, tokenizer: Any, path: Path, head: str, *, fuse: bool = True) -> tuple[list[str], bool]:
    """Write the fp32 graph (fused where possible); return its input names and whether it was fused."""
    import torch

    sample = tokenizer(["a probe sentence", "another, longer probe sentence for the export"], padding=True)
    accepted = set(_forward_params(model))
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in sample and k in accepted]
    inputs = tuple(torch.tensor(sample[k]) for k in names)
    config = getattr(model, "config", None)
    attention = getattr(config, "_attn_implementation", None)
    was_training = model.training
    try:
        model.eval()
        if attention not in (None, "eager") and hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation("eager")
        raw = path.with_name("raw.onnx")
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                _wrapper(model, names, head),
                inputs,
                str(raw),
                input_names=names,
                output_names=["output"],
                dynamic_axes={**{k: {0: "batch", 1: "sequence"} for k in names}, "output": {0: "batch", 1: "sequence"}},
                opset_version=17,
                dynamo=False,
            )
    finally:
        # torch.onnx.export leaves the module in training mode: dropout would make torch results random.
        if attention not in (None, "eager") and hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation(attention)
        model.train(was_training)
        model.eval()
    # OpenVINO takes the plain graph (fuse=False): it fuses for itself, and NNCF knows only standard ops.
    fused = fuse and _fuse(raw, path, config)
    if fused:
        raw.unlink()
    else:
        raw.rename(path)
    return names, fused


def _fuse(source: Path, target: Path, config: Any) -> bool:
    """Fuse attention, skip-layer-norm and GELU subgraphs into ONNX Runtime's contrib ops.

    On MiniLM this is what makes int8 pay: unfused, each attention is a dozen small ops
    (and int8 only reaches the MatMuls); fused, QAttention runs the whole block in int8.
    Unknown architectures keep the plain graph.
    """
    if getattr(config, "model_type", None) not in FUSABLE:
        return False
    try:
        from onnxruntime.transformers import optimizer

        optimized = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or getattr(config, "dim", 0) or 0),
            opt_level=1,
        )
        optimized.save_model_to_file(str(target))
    except Exception:  # the optimizer is best-effort: an unfused graph is correct, only slower
        target.unlink(missing_ok=True)
        return False
    return True


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8: per-channel int8 weights on the MatMuls and fused Attention, uint8 activations.

    The first layer's feed-forward output projection stays in fp32: its activations carry the
    large outliers BERT-family models are known for, and one shared activation scale per batch
    crushes the rest. Measured on MiniLM (length-sorted batches of 32), against quantizing
    every MatMul / keeping all six FFN outputs in fp32:

    - SST-2 classifier from ``nlu finetune``: dev label agreement with torch 0.9908
      (0.9817 / 0.9908), 1.2x the speed of keeping all six;
    - embeddings: STS-B dev Spearman 0.86579 (fp32 0.86716), least cosine 0.980
      (0.974 / 0.983), 0.95x the speed of quantizing every MatMul.

    Per-tensor weight scales cost up to 0.15 of cosine, so per channel.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    spared = [n.name for n in graph.node if n.op_type == "MatMul" and _is_first_ffn_output(n.name)]
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul", "Attention"],
        nodes_to_exclude=spared,
        # Fused contrib ops defeat shape inference; their outputs are float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _is_first_ffn_output(name: str) -> bool:
    """The first layer's feed-forward output projection: BERT/RoBERTa ``layer.0/output/dense``, DistilBERT ``ffn/lin2``."""
    ffn = ("/output/dense/" in name and "/attention/" not in name) or "/ffn/lin2/" in name
    return ffn and "layer.0/" in name


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
        # Idle intra-op threads would spin after each run and starve the torch pooling that follows.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.path = path

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, feed_for(batch, self.input_names))[0]


def feed_for(batch: dict[str, np.ndarray], input_names: list[str]) -> dict[str, np.ndarray]:
    """The int64 inputs a graph takes, from a padded batch (``token_type_ids`` zero if the batch has none)."""
    feed = {k: np.asarray(batch[k], dtype=np.int64) for k in input_names if k in batch}
    if "token_type_ids" in input_names and "token_type_ids" not in feed:
        feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
    return feed


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two ``(n, d)`` arrays."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)
