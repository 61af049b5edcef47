"""Without -v, the libraries' chatter stays off stderr: load bars, NNCF's steps, the model card's
"Computing widget examples" bar, the int8 calibration warning (issue 15 item 6).

Each command runs in a fresh process (`subprocess`), as a person runs it: the libraries' switches are
process-wide, so an in-process run after another command could pass for the wrong reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOISE = (
    "Loading weights",
    "Applying Smooth Quant",
    "Statistics collection",
    "Computing widget examples",
    "quantization buckets",
    "it/s]",
    "%|",  # a tqdm bar: "  0%|          | 0/103"
    "\u2588",  # a tqdm bar's full block
    "\r",
)


def nlu_stderr(*args: str, tmp_path: Path, verbose: bool = False) -> str:
    """Run ``python -m nlu_toolkit ARGS`` in a fresh process; assert it succeeded, return its stderr."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NLU_CACHE": os.environ.get("NLU_CACHE", str(tmp_path / "cache"))}
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "TQDM_DISABLE"):
        env.pop(name, None)  # the run must be quiet on its own, not because the test environment is
    argv = [sys.executable, "-m", "nlu_toolkit", *args, *(["-v"] if verbose else [])]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stderr


def assert_quiet(stderr: str) -> None:
    found = [n for n in NOISE if n in stderr]
    assert not found, f"library noise on stderr: {found}\n{stderr[:2000]}"


def test_embed_int8_precision_has_no_calibration_warning(st_model, tmp_path):
    texts = tmp_path / "t.jsonl"
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["one text", "another one", "a third"]))
    out = tmp_path / "e.npy"
    assert_quiet(nlu_stderr("embed", "--model", st_model, "--input", str(texts), "--precision", "int8", "-o", str(out),
                            tmp_path=tmp_path))  # fmt: skip
    assert out.is_file()
    # With -v the warning may show: it is the library's own advice.
    shown = nlu_stderr("embed", "--model", st_model, "--input", str(texts), "--precision", "int8", "-o", str(out),
                       tmp_path=tmp_path, verbose=True)  # fmt: skip
    assert "quantization buckets" in shown


def test_similarity_loads_without_a_bar(st_model, tmp_path):
    assert_quiet(nlu_stderr("similarity", "a b", "c d", "--model", st_model, tmp_path=tmp_path))


@pytest.mark.skipif(
    importlib.util.find_spec("nncf") is None or importlib.util.find_spec("openvino") is None,
    reason="needs the openvino extra",
)
def test_openvino_int8_export_is_quiet(st_model, tmp_path):
    texts = tmp_path / "t.jsonl"
    texts.write_text("".join(json.dumps({"text": f"text number {i}"}) + "\n" for i in range(3)))
    stderr = nlu_stderr("embed", "--model", st_model, "--input", str(texts), "-o", str(tmp_path / "e.npy"),
                        "--backend", "openvino", "--quantize", "int8", tmp_path=tmp_path)  # fmt: skip
    assert_quiet(stderr)


def test_finetune_embedding_saves_without_the_widget_bar(st_model, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    rows = [("hello world", "hi world"), ("a cat", "a kitten"), ("red car", "crimson auto"), ("big house", "large")]
    pairs.write_text("".join(json.dumps({"anchor": a, "positive": p}) + "\n" for a, p in rows))
    stderr = nlu_stderr("finetune", "--task", "embedding", "--model", st_model, "--train", str(pairs),
                        "--output", str(tmp_path / "ft"), "--epochs", "1", "--quiet", tmp_path=tmp_path)  # fmt: skip
    assert_quiet(stderr)
    assert (tmp_path / "ft" / "modules.json").is_file()


@pytest.mark.slow
def test_similarity_with_the_embedded_model_is_quiet(tmp_path):
    assert_quiet(nlu_stderr("similarity", "A man plays guitar.", "Someone plays an instrument.", tmp_path=tmp_path))
