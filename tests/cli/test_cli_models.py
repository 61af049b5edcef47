"""`nlu models list|pull`, `--version` and `--help` in-process; `models verify` is in test_cli_slow.py."""

from __future__ import annotations

import json

import pytest
from cli_checks import check_error, check_ok, jsonl

from nlu_toolkit import __version__


def test_version(nlu):
    result = nlu("--version")
    check_ok(result)
    assert result.stdout.strip() == f"nlu_toolkit {__version__}"


@pytest.mark.parametrize("command", [[], ["classify"], ["ner"], ["qa"], ["models"], ["models", "pull"]])
def test_help(nlu, command):
    result = nlu(*command, "--help")
    check_ok(result)
    assert "Usage" in result.stdout


def test_no_arguments_shows_help(nlu):
    result = nlu()
    assert "classify" in result.stdout and "ner" in result.stdout and "qa" in result.stdout


def test_models_list_json_shows_the_embedded_preset_available(nlu, empty_hf_cache):
    result = nlu("models", "list", "--format", "json")
    check_ok(result)
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) >= {"sentiment", "zero-shot-nli", "ner", "qa", "embedded"}
    assert rows["embedded"]["available"] is True
    assert rows["embedded"]["source"] == "embedded"
    for name in ("sentiment", "ner", "qa", "zero-shot-nli"):
        assert rows[name]["available"] is False and rows[name]["source"] == "hub"


def test_models_list_formats(nlu, empty_hf_cache, out_dir):
    assert len(jsonl(nlu("models", "list").stdout)) >= 5
    table = nlu("models", "list", "--format", "table")
    check_ok(table)
    assert "embedded" in table.stdout and "available" in table.stdout
    target = out_dir / "models.csv"
    check_ok(nlu("models", "list", "-o", target))
    assert target.read_text(encoding="utf-8").startswith("name,model,task")


def test_models_pull_offline(nlu):
    check_error(nlu("models", "pull", "ner"), 2, contains="nlu models pull")


def test_models_pull_to_folder_with_a_fake_hub(nlu, cls_model, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub

    import nlu_toolkit.models.manage as models_mod

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None, local_dir=None, **kwargs):
        shutil.copytree(cls_model, local_dir)
        return local_dir

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(models_mod, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    result = nlu("models", "pull", "sentiment", "org/tiny", "--to", tmp_path / "models", "--format", "json")
    check_ok(result)
    rows = json.loads(result.stdout)
    assert [(r["name"], r["model"]) for r in rows] == [
        ("sentiment", "distilbert/distilbert-base-uncased-finetuned-sst-2-english"),
        ("org/tiny", "org/tiny"),
    ]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "distilbert--distilbert-base-uncased-finetuned-sst-2-english",
        "org--tiny",
    ]
    # A pulled folder is usable with --model.
    check_ok(nlu("classify", "--model", tmp_path / "models" / "org--tiny", "good"))
