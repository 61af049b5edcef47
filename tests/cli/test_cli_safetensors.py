"""Safetensors only through the CLI (issue 13): every command refuses a pickle-only model folder, exit 2,
one line with a conversion hint, nothing written."""

from __future__ import annotations

import shutil

from cli_checks import check_error, check_ok, listing

from nlu_toolkit.models.testing import resave_as_pickle


def _refused(result) -> None:
    line = check_error(result, 2, contains="pickle weights only")
    assert "safetensors" in line


def test_embed_refuses_a_pickle_only_model(nlu, st_pickle, out_dir):
    _refused(nlu("embed", "--model", st_pickle, "a text", "-o", out_dir / "e.jsonl"))
    assert listing(out_dir) == []


def test_zero_shot_classify_refuses_a_pickle_only_model(nlu, st_pickle):
    _refused(nlu("classify", "--model", st_pickle, "--labels", "a,b", "some text"))


def test_similarity_refuses_a_pickle_only_model(nlu, st_pickle):
    _refused(nlu("similarity", "--model", st_pickle, "one text", "another"))


def test_inspect_refuses_a_pickle_only_model(nlu, st_pickle):
    _refused(nlu("inspect", "--model", st_pickle, "some text"))


def test_rerank_refuses_a_pickle_only_cross_encoder(nlu, st_model, ce_pickle, data_dir):
    args = ["embed", "--model", st_model, "--corpus", data_dir / "corpus.jsonl", "-s", "refund", "--rerank", ce_pickle]
    _refused(nlu(*args))


def test_index_build_refuses_pickle_only_models(nlu, st_pickle, st_pickle_other, data_dir, tmp_path):
    # Before: both built, and each passed the other's model check (both "checksums" hashed nothing).
    for i, model in enumerate((st_pickle, st_pickle_other)):
        out = tmp_path / f"idx{i}"
        _refused(nlu("index", "build", data_dir / "corpus.jsonl", "--out", out, "--model", model))
        assert not out.exists()


def test_index_built_with_a_model_that_became_pickle_cannot_be_queried(nlu, st_model, data_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(st_model, model)
    index = tmp_path / "corpus.idx"
    check_ok(nlu("index", "build", data_dir / "corpus.jsonl", "--out", index, "--model", model))
    shutil.rmtree(model)
    resave_as_pickle(st_model, model)
    from nlu_toolkit.models.resolver import clear_cache

    clear_cache()
    _refused(nlu("embed", "--index", index, "-s", "refund"))


def test_models_pull_of_a_hub_model_without_safetensors_is_exit_2(nlu, cls_model, tmp_path, monkeypatch):
    import huggingface_hub

    import nlu_toolkit.models.manage as models_mod

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None, local_dir=None, **kwargs):
        # A repo with pytorch_model.bin only: the safetensors-only patterns fetch its configs, no weights.
        assert "*.bin" not in allow_patterns
        shutil.copytree(cls_model, local_dir, ignore=shutil.ignore_patterns("*.safetensors"))
        return local_dir

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(models_mod, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    result = nlu("models", "pull", "org/legacy", "--to", tmp_path / "models")
    check_error(result, 2, contains="no safetensors weights")
    assert list((tmp_path / "models").iterdir()) == []
