"""`nlu_toolkit.io.run_manifest`: versions, checksums of weights and inputs, atomic writing, no heavy imports."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from enum import Enum

from nlu_toolkit.io.run_manifest import (
    build_manifest,
    describe_input,
    file_sha256,
    folder_manifest,
    package_versions,
    weight_checksums,
    write_manifest,
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_weight_files_are_safetensors_onnx_and_openvino_pairs(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"st")
    (tmp_path / "1_Dense").mkdir()
    (tmp_path / "1_Dense" / "model.safetensors").write_bytes(b"dense")
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"graph")
    (tmp_path / "openvino.xml").write_bytes(b"<xml/>")
    (tmp_path / "openvino.bin").write_bytes(b"ov")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")  # no .xml beside it: not an OpenVINO weight file
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "model.safetensors").write_bytes(b"old")
    found = {w["file"]: w for w in weight_checksums(tmp_path)}
    assert sorted(found) == [
        "1_Dense/model.safetensors",
        "model.safetensors",
        "onnx/model.onnx",
        "openvino.bin",
        "openvino.xml",
    ]
    assert found["model.safetensors"] == {"file": "model.safetensors", "size": 2, "sha256": _sha(b"st")}


def test_a_changed_file_is_hashed_again(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n")
    first = file_sha256(path)
    path.write_bytes(b"a,b\n1,2\n")
    assert first == _sha(b"a,b\n") and file_sha256(path) == _sha(b"a,b\n1,2\n")


def test_inputs_files_folders_stdin_and_missing(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"hello\n")
    assert describe_input(path) == {
        "path": str(path),
        "resolved": str(path.resolve()),
        "size": 6,
        "sha256": _sha(b"hello\n"),
    }
    assert describe_input("-") == {"path": "-", "sha256": "stdin"}
    assert describe_input(None, b"abc") == {"path": "-", "size": 3, "sha256": _sha(b"abc")}
    folder = describe_input(tmp_path)
    assert folder["kind"] == "folder" and folder["size"] == 6 and len(folder["sha256"]) == 64
    assert describe_input(tmp_path / "nope") == {"path": str(tmp_path / "nope"), "missing": True}


def test_versions_are_of_installed_distributions_only():
    found = package_versions(["numpy", "no-such-distribution-xyz"])
    assert list(found) == ["numpy"] and found["numpy"][0].isdigit()


class Colour(Enum):
    red = "red"


def test_the_manifest_holds_everything_json_ready(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"w")
    data = tmp_path / "d.csv"
    data.write_bytes(b"x\n")
    m = build_manifest(
        "script",
        settings={"colour": Colour.red, "where": tmp_path, "sizes": (1, 2), "other": object},
        seed=5,
        model={"name": "mine", "path": str(model), "revision": None},
        inputs=[data, "-"],
        outputs=[tmp_path / "out.jsonl", None],
    )
    assert m["command"] == "script" and m["seed"] == 5 and m["nlu_toolkit"] and m["python"]
    assert m["settings"]["colour"] == "red" and m["settings"]["where"] == str(tmp_path)
    assert m["settings"]["sizes"] == [1, 2] and isinstance(m["settings"]["other"], str)
    assert m["model"]["name"] == "mine" and "revision" not in m["model"]
    assert m["model"]["weights"] == [{"file": "model.safetensors", "size": 1, "sha256": _sha(b"w")}]
    assert [i["path"] for i in m["inputs"]] == [str(data), "-"]
    assert m["outputs"] == [str(tmp_path / "out.jsonl"), "-"]
    assert m["created_at"].endswith("Z")
    path = write_manifest(m, tmp_path / "run.json")
    assert json.loads(path.read_text(encoding="utf-8")) == m
    assert sorted(os.listdir(tmp_path)) == ["d.csv", "m", "run.json"]  # no temp file left


def test_a_rewritten_folder_keeps_the_earlier_runs(tmp_path):
    first = folder_manifest(tmp_path, {"command": "build"}, command="save", model=None)
    assert first["command"] == "build" and "previous_runs" not in first
    write_manifest(first, tmp_path / "run_manifest.json")
    second = folder_manifest(tmp_path, None, command="save", model=None)
    assert second["command"] == "save" and second["previous_runs"] == [first]
    write_manifest(second, tmp_path / "run_manifest.json")
    third = folder_manifest(tmp_path, None, command="save", model=None, keep=1)
    assert third["previous_runs"] == [{k: v for k, v in second.items() if k != "previous_runs"}]


def test_building_a_manifest_imports_no_torch():
    code = (
        "import sys; from nlu_toolkit import build_manifest; build_manifest('x'); "
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
