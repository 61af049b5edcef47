"""The model resolver and `nlu_toolkit.models.manage.pull` on tiny models and fake HF caches; nothing touches the network."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nlu_toolkit.models.manage as models_mod
import nlu_toolkit.models.resolver as resolver
from nlu_toolkit.errors import ModelNotAvailable, UsageError
from nlu_toolkit.models.cache import ModelCache
from nlu_toolkit.models.resolver import load_model, locate

HASH = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def fresh_model_cache(monkeypatch):
    """A private model cache, so models loaded from fake hub caches do not leak into other tests."""
    monkeypatch.setattr(resolver, "_CACHE", ModelCache())


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly if the resolver tries the hub."""

    def refuse(*args, **kwargs):
        raise AssertionError("the network was tried")

    monkeypatch.setattr(resolver, "hub_reachable", refuse)
    monkeypatch.setattr(resolver, "download", refuse)
    monkeypatch.setattr(models_mod, "hub_reachable", refuse)


def fake_hub_cache(root: Path, repo_id: str, source: str, revision: str = HASH) -> Path:
    """Lay out ``source``'s files as the HF cache does: models--org--name/{refs/main,snapshots/<hash>/...}."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    shutil.copytree(source, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def test_load_model_caches_per_spec_task_and_device(cls_model, nli_model):
    a = load_model(cls_model, "text-classification", device="cpu")
    b = load_model(cls_model, "text-classification", device="cpu")
    assert a is b
    import torch

    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert load_model(cls_model, "text-classification", device="auto") is a  # auto resolves to cpu
    as_classifier = load_model(nli_model, "text-classification", device="cpu")
    as_zero_shot = load_model(nli_model, "zero-shot", device="cpu")
    assert as_classifier is not as_zero_shot
    assert as_zero_shot is load_model(nli_model, "zero-shot", device="cpu")


def test_tasks_share_loaded_models(cls_model):
    from nlu_toolkit import Classifier

    assert Classifier(cls_model)._scorer.loaded is Classifier(cls_model, top_k=1)._scorer.loaded


def test_local_folder(cls_model, st_model):
    loaded = load_model(cls_model, "text-classification", device="cpu")
    info = loaded.info
    assert info.source == "local"
    assert Path(info.path) == Path(cls_model).resolve()
    assert info.spec == cls_model and info.task == "text-classification"
    assert info.device == "cpu" and info.kind == "transformers" and info.revision is None
    st = load_model(st_model, "sentence-embedding", device="cpu")
    assert st.info.source == "local" and st.info.kind == "sentence-transformers"


def test_wrong_head_is_a_usage_error(cls_model, qa_model):
    with pytest.raises(UsageError, match="question-answering"):
        load_model(cls_model, "question-answering")
    with pytest.raises(UsageError, match="classification"):
        load_model(qa_model, "text-classification")
    with pytest.raises(UsageError, match="unknown task"):
        locate(cls_model, "summarisation")


def test_folder_without_a_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotAvailable, match="cannot load model") as err:
        load_model(str(tmp_path / "empty"), "text-classification")
    assert "config.json" in err.value.hint


def test_path_like_spec_that_is_not_a_folder(tmp_path, no_network):
    for spec in ("./no-such-model", str(tmp_path / "missing"), "a/b/c"):
        with pytest.raises(ModelNotAvailable, match="no model folder"):
            locate(spec, "text-classification")


def test_fake_hub_cache_in_process(cls_model, tmp_path, monkeypatch, fresh_model_cache, no_network):
    import huggingface_hub.constants as constants

    snapshot = fake_hub_cache(tmp_path / "hub", "org/tiny", cls_model)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = load_model("org/tiny", "text-classification", device="cpu")
    assert loaded.info.source == "hub"
    assert loaded.info.revision == HASH
    assert loaded.info.name == "org/tiny"
    assert Path(loaded.info.path).resolve() == snapshot.resolve()
    assert HASH[:10] in loaded.info.describe()
    from nlu_toolkit import classify

    (r,) = classify("good film", model="org/tiny")
    assert r.label in ("NEGATIVE", "POSITIVE")


def test_fake_hub_cache_through_the_environment(cls_model, tmp_path):
    """huggingface_hub reads HF_HUB_CACHE at import: a fresh process with the env set sees the fake cache."""
    fake_hub_cache(tmp_path / "hub", "org/tiny", cls_model)
    code = (
        "from nlu_toolkit.models.resolver import load_model\n"
        "info = load_model('org/tiny', 'text-classification', device='cpu').info\n"
        "print(info.source, info.revision)\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hub", HASH]


def test_uncached_hub_id_offline_fails_at_once(empty_hf_cache, no_network):
    with pytest.raises(ModelNotAvailable) as err:
        load_model("org/not-cached", "token-classification")
    message = str(err.value)
    assert "org/not-cached" in message and "HF_HUB_OFFLINE" in message
    assert "pass model PATH" in message and "nlu models pull org/not-cached" in message
    assert err.value.params == ["model"]  # the CLI shows it as --model


def test_default_model_offline_names_its_preset(empty_hf_cache, no_network):
    with pytest.raises(ModelNotAvailable, match="nlu models pull sentiment") as err:
        load_model(None, "text-classification")
    assert "--labels" in err.value.hint  # the offline alternative
    with pytest.raises(ModelNotAvailable, match="nlu models pull qa"):
        load_model("qa", "question-answering")


def test_unreachable_hub_without_offline_flag(empty_hf_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(resolver, "is_offline", lambda: False)
    monkeypatch.setattr(resolver, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ModelNotAvailable, match="cannot be reached") as err:
        load_model("org/not-cached", "text-classification")
    assert "nlu models pull" in str(err.value)


def test_hub_reachable_is_false_for_a_closed_port(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    assert resolver.hub_reachable(timeout=1.0) is False


def test_pull_offline(no_network):
    with pytest.raises(ModelNotAvailable, match="cannot reach") as err:
        models_mod.pull(["ner"])
    assert "nlu models pull" in err.value.hint


@pytest.fixture
def fake_hub(cls_model, empty_hf_cache, monkeypatch):
    """A reachable fake hub: snapshot_download copies the tiny classifier, into `local_dir` or the HF cache."""
    import huggingface_hub

    real = huggingface_hub.snapshot_download
    calls: list[dict] = []

    def fake_snapshot_download(repo_id, *, revision=None, local_dir=None, local_files_only=False, **kwargs):
        if local_files_only:
            return real(repo_id, revision=revision, local_files_only=True, **kwargs)
        calls.append({"repo_id": repo_id, "local_dir": local_dir, **kwargs})
        if local_dir is not None:
            shutil.copytree(cls_model, local_dir)
            return local_dir
        return str(fake_hub_cache(empty_hf_cache, repo_id, cls_model))

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(models_mod, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    return calls


def test_pull_names_to_folders(fake_hub, tmp_path, fresh_model_cache):
    out = tmp_path / "models"
    out.mkdir()
    rows = models_mod.pull(["ner", "org/tiny", "embedded"], to=out)
    assert [(r["name"], r["model"]) for r in rows] == [("ner", "dslim/bert-base-NER"), ("org/tiny", "org/tiny")]
    assert [Path(r["path"]) for r in rows] == [out / "dslim--bert-base-NER", out / "org--tiny"]
    assert sorted(p.name for p in out.iterdir()) == ["dslim--bert-base-NER", "org--tiny"]
    assert [c["repo_id"] for c in fake_hub] == ["dslim/bert-base-NER", "org/tiny"]
    assert all("*.safetensors" in c["allow_patterns"] and "*.bin" not in c["allow_patterns"] for c in fake_hub)
    info = load_model(str(out / "org--tiny"), "text-classification", device="cpu").info
    assert info.source == "local"


def test_pull_every_hub_preset_into_the_hf_cache(fake_hub, fresh_model_cache):
    from nlu_toolkit.models.presets import PRESETS

    rows = models_mod.pull()
    hub_presets = [p for p in PRESETS.values() if not p.embedded]
    assert [r["name"] for r in rows] == [p.name for p in hub_presets]
    assert all(c["local_dir"] is None for c in fake_hub)
    listed = {r["name"]: r for r in models_mod.list_models()}
    assert all(listed[p.name]["available"] for p in hub_presets)
    assert Path(listed["sentiment"]["path"]).name == HASH
    # the pulled default now loads offline, from the cache
    info = load_model(None, "text-classification", device="cpu").info
    assert info.source == "hub" and info.revision == HASH


def test_pull_unknown_name(fake_hub):
    with pytest.raises(UsageError, match="unknown model 'sentimentt'"):
        models_mod.pull(["sentimentt"])


def test_generation_tasks_check_their_heads(cls_model, gpt2_model, bart_model):
    with pytest.raises(UsageError, match="sequence-to-sequence"):
        load_model(gpt2_model, "summarization")
    with pytest.raises(UsageError, match="causal language-model"):
        load_model(cls_model, "text-generation")
    assert load_model(bart_model, "translation").info.task == "translation"
