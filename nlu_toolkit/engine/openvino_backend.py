"""OpenVINO backend (``--backend openvino [--quantize int8]``), behind the ``openvino`` extra.

Starts from a plain (unfused) fp32 ONNX export made by `onnx_backend`, converts
it once and caches the IR under
``NLU_CACHE/openvino/<weights sha256>-<head>-<settings>/``. ``int8`` is static
post-training quantization with NNCF (SmoothQuant for transformers), calibrated
on the toolkit's built-in sentences, and runs with bf16 for the ops left in
floating point where the CPU has bf16 instructions. The caller checks the graph
against torch on probe inputs before using it, as for ONNX Runtime.

Measured on MiniLM here (STS-B dev, batch 32): int8 3.4x raw sentence-transformers
with Spearman 0.86735 (fp32 0.86716); see benchmarks/RESULTS.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.extras import require

RECIPE = "v2"
#: Sentences the int8 graph is calibrated on (built-in, varied lengths; never user data).
CALIBRATION_SIZE = 256


def _ov() -> Any:
    return require("openvino", extra="openvino")


def cache_root() -> Path:
    from nlu_toolkit.models.embedded import cache_dir

    return cache_dir() / "openvino"


def export_dir(weights_sha256: str, quantize: str | None, head: str) -> Path:
    return cache_root() / f"{weights_sha256[:16]}-{head}-{quantize or 'fp32'}-{RECIPE}"


def export(model: Any, tokenizer: Any, folder: Path, quantize: str | None, *, head: str, model_name: str) -> Path:
    """Export ``model`` to OpenVINO IR in ``folder`` (through a plain fp32 ONNX graph; int8: NNCF), atomically."""
    from nlu_toolkit.engine import onnx_backend
    from nlu_toolkit.io.writers import staged_folder

    ov = _ov()
    with staged_folder(folder) as tmp:
        onnx_path = onnx_backend.export(model, tokenizer, tmp / "onnx", None, head=head, fuse=False)
        limit = min(256, int(getattr(getattr(model, "config", None), "max_position_embeddings", 512) or 512))
        model = ov.Core().read_model(str(onnx_path))
        if quantize == "int8":
            model = _quantize(model, tokenizer, limit)
        ov.save_model(model, str(tmp / "model.xml"))
        shutil.rmtree(tmp / "onnx")
        info = {"model": model_name, "head": head, "quantize": quantize or "fp32", "recipe": RECIPE}
        (tmp / "export.json").write_text(json.dumps({**info, "runtime": "openvino"}), encoding="utf-8")
    onnx_backend.drop_older_recipes(folder)
    return folder / "model.xml"


def _quantize(model: Any, tokenizer: Any, max_length: int) -> Any:
    """Static int8 with NNCF's transformer preset, calibrated on the built-in sentences."""
    nncf = require("nncf", extra="openvino")
    from nlu_toolkit.engine.onnx_backend import _quiet
    from nlu_toolkit.engine.probe import PROBE_SENTENCES, default_texts

    # Paragraphs, single sentences and short fragments: activation ranges from long inputs
    # alone leave short texts (the worst-served by int8) off the calibrated scale.
    words = [s.split() for s in PROBE_SENTENCES]
    fragments = [" ".join(w[:n]) for w in words for n in (1, 3, 6)]
    texts = default_texts(CALIBRATION_SIZE, seed=1) + PROBE_SENTENCES + fragments
    names = [i.get_any_name() for i in model.inputs]
    feeds = []
    for i in range(0, len(texts), 8):
        enc = tokenizer(texts[i : i + 8], padding=True, truncation=True, max_length=max_length, return_tensors="np")
        feeds.append({k: np.asarray(enc[k], dtype=np.int64) for k in names if k in enc})
    # NNCF draws rich progress bars on stdout ("Applying Smooth Quant"), where they would land in
    # the command's results: the library never prints, so they go nowhere.
    sink = io.StringIO()
    with _quiet(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        return nncf.quantize(
            model,
            nncf.Dataset(feeds),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(feeds),
        )


class OpenVinoEncoder:
    """A compiled OpenVINO model with the `onnx_backend.OnnxEncoder` call: padded int64 inputs in, output out."""

    def __init__(self, path: Path, *, quantize: str | None, threads: int | None = None) -> None:
        ov = _ov()
        core = ov.Core()
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        # fp32 stays exact; int8 runs its float ops in bf16 where the CPU has it (1.2x, same Spearman).
        bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        config["INFERENCE_PRECISION_HINT"] = "bf16" if quantize == "int8" and bf16 else "f32"
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.input_names = [i.get_any_name() for i in self.compiled.inputs]
        self.path = path

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        from nlu_toolkit.engine.onnx_backend import feed_for

        feed = feed_for(batch, self.input_names)
        # One request per call: requests are not thread-safe, and servers call from several threads.
        request = self.compiled.create_infer_request()
        return np.asarray(request.infer(feed)[0], dtype=np.float32)
