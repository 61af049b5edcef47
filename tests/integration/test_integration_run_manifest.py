"""Run manifests from the library: an index folder records what wrote it; `evaluate` and `finetune` results carry one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from nlu_toolkit import SemanticIndex, evaluate, finetune
from nlu_toolkit.search.store import refuse_foreign_entries


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_an_index_folder_holds_a_run_manifest_and_still_loads(st_model, tmp_path):
    folder = tmp_path / "idx"
    with SemanticIndex.build(["good film", "bad film"], st_model) as index:
        index.save(folder, run_info={"command": "my-script", "settings": {"k": 1}, "inputs": ["-"]})
    m = _read(folder / "run_manifest.json")
    assert (
        m["command"] == "my-script" and m["settings"] == {"k": 1} and m["inputs"] == [{"path": "-", "sha256": "stdin"}]
    )
    weights = {w["file"]: w["sha256"] for w in m["model"]["weights"]}
    assert (
        weights["model.safetensors"] == hashlib.sha256((Path(st_model) / "model.safetensors").read_bytes()).hexdigest()
    )
    assert m["model"]["sha256"] == _read(folder / "manifest.json")["model"]["sha256"]
    refuse_foreign_entries(folder)  # the run manifest is the index's own file
    SemanticIndex.update(folder, ["a river"])  # load, add, save: the manifest says so, and keeps the build's
    again = _read(folder / "run_manifest.json")
    assert again["command"] == "SemanticIndex.save" and again["previous_runs"] == [m]
    SemanticIndex.delete_from(folder, [0], run_info={"command": "cleanup", "settings": {"ids": [0]}})
    last = _read(folder / "run_manifest.json")
    assert last["command"] == "cleanup" and [r["command"] for r in last["previous_runs"]] == [
        "my-script",
        again["command"],
    ]
    with SemanticIndex.load(folder) as loaded:
        assert len(loaded) == 2


def test_evaluate_result_carries_the_manifest(cls_model, tmp_path):
    data = tmp_path / "dev.csv"
    data.write_text("text,label\ngood film,POSITIVE\nbad film,NEGATIVE\n", encoding="utf-8")
    result = evaluate("classification", cls_model, data, batch_size=4)
    m = result.manifest
    assert m["command"] == "evaluate" and m["settings"]["batch_size"] == 4 and m["settings"]["task"] == "classification"
    assert m["inputs"][0]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert m["model"]["weights"] and m["model"]["path"] == str(Path(cls_model).resolve())
    assert result.to_dict()["manifest"] == m


def test_finetune_result_carries_the_manifest_it_wrote(st_model, data_dir, tmp_path):
    train = data_dir / "finetune" / "sentiment_train.csv"
    result = finetune("classification", train, tmp_path / "m", model=st_model, max_steps=1, batch_size=4, seed=3)
    assert result.manifest["seed"] == 3 and result.manifest["command"] == "finetune"
    assert result.files["manifest"] == tmp_path / "m" / "run_manifest.json"
    assert _read(tmp_path / "m" / "run_manifest.json") == result.manifest
    assert _read(tmp_path / "m" / "metrics.json")["manifest"] == result.manifest
