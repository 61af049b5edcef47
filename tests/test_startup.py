"""Start-up of the first model call (issue 15 item 7): what it must not import, load or compute.

No timing assertions (the machines are shared): the tests check the work itself is not done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

#: Not needed to score a pair with torch; a similarity that imports one of these pays for nothing.
UNNEEDED = (
    "onnx",
    "onnxruntime",
    "openvino",
    "nncf",
    "optimum",
    "transformers.pipelines",
    "nlu_toolkit.bench",
    "nlu_toolkit.search",
    "nlu_toolkit.train",
    "nlu_toolkit.serve",
    "nlu_toolkit.engine.onnx_backend",
    "nlu_toolkit.engine.openvino_backend",
)


def test_similarity_imports_and_computes_only_what_it_needs(st_model, tmp_path):
    """The library's similarity path in a fresh process: no backend, training or serving module imported, the
    packing check not run for a batch that packing saves nothing on, the weights not hashed, the score right."""
    script = textwrap.dedent(
        f"""
        import json, sys
        import nlu_toolkit.models.resolver as resolver
        from nlu_toolkit.tasks.embed import Embedder, pair_scores

        hashed = []
        real = resolver.weights_sha256
        resolver.weights_sha256 = lambda info: hashed.append(info.path) or real(info)
        embedder = Embedder({st_model!r}, normalize=True, backend="auto")
        score = pair_scores(embedder, ["a cat sat"], ["a dog ran"])[0]["score"]
        packer = getattr(embedder._torch_forward, "packer", None)
        print(json.dumps({{
            "imported": [m for m in {list(UNNEEDED)!r} if m in sys.modules],
            "checked": None if packer is None else packer.passes,
            "hashed": hashed,
            "score": score,
        }}))
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NLU_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["imported"] == []
    assert got["checked"] == 0  # two short texts: packing saves no row, so no probe passes
    assert got["hashed"] == []  # nothing benchmarked here: auto runs torch without a checksum
    assert -1.0 <= got["score"] <= 1.0


def test_auto_without_a_benchmark_does_not_hash_the_model(monkeypatch, tmp_path):
    from nlu_toolkit.engine.runtime import resolve_auto

    monkeypatch.setenv("NLU_CACHE", str(tmp_path))

    def checksum() -> str:
        raise AssertionError("the weights were hashed")

    assert resolve_auto("auto", None, task="embed", model_sha=checksum) == ("torch", None)
    assert resolve_auto("auto", "int8", task="embed", model_sha=checksum) == ("torch", None)


def test_auto_with_a_benchmark_still_follows_it(monkeypatch, tmp_path):
    from nlu_toolkit.engine.choice import store
    from nlu_toolkit.engine.runtime import resolve_auto

    monkeypatch.setenv("NLU_CACHE", str(tmp_path))
    store("embed", "abc", {"recommended": "onnx-int8", "usable": ["torch", "onnx-int8"]})
    assert resolve_auto("auto", None, task="embed", model_sha=lambda: "abc") == ("onnx", "int8")
    assert resolve_auto("auto", None, task="embed", model_sha=lambda: "other") == ("torch", None)
    assert json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
