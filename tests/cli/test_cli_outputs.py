"""Outputs never overwrite what they should not: inputs, foreign folders, files; checked before any model loads."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest
from cli_checks import check_error, check_ok, jsonl, listing

from nlu_toolkit.io import guard, writers
from nlu_toolkit.io.lock import lock_path


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("good film\nbad film\n", encoding="utf-8")
    return tmp_path


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if a model is loaded: the refusals must come first."""
    import importlib
    import sys

    import nlu_toolkit.models.resolver as resolver

    for name in ("search.index", "tasks.embed", "tasks.classify", "tasks.ner", "tasks.cluster"):
        importlib.import_module(f"nlu_toolkit.{name}")  # bind the real one first, then replace it everywhere

    def boom(*a, **k):
        raise AssertionError("a model was loaded before the output was checked")

    real = resolver.load_model
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("nlu_toolkit") and getattr(module, "load_model", None) is real:
            monkeypatch.setattr(module, "load_model", boom)


def _docs(index: Path) -> int:
    return len((index / "docs.jsonl").read_text(encoding="utf-8").splitlines())


# -- index build --out ---------------------------------------------------------------------


def test_index_build_into_a_foreign_folder_keeps_its_files(nlu, st_model, data_dir, here, no_model_load):
    (here / "mine").mkdir()
    (here / "mine" / "precious.txt").write_text("keep\n")
    for extra in ([], ["--overwrite"]):
        check_error(nlu("index", "build", data_dir / "corpus.jsonl", "--out", "mine", "-m", st_model, *extra), 2)
    assert listing(here / "mine") == ["precious.txt"]
    assert (here / "mine" / "precious.txt").read_text() == "keep\n"


def test_index_build_onto_an_existing_file_keeps_it(nlu, st_model, data_dir, here, no_model_load):
    (here / "notes.txt").write_text("keep\n")
    result = nlu("index", "build", data_dir / "corpus.jsonl", "--out", "notes.txt", "-m", st_model, "--overwrite")
    check_error(result, 2, contains="existing file")
    assert (here / "notes.txt").read_text() == "keep\n"


@pytest.mark.parametrize("out", [".", "./", ".."])
def test_index_build_into_the_current_folder_is_refused_cleanly(nlu, st_model, data_dir, here, out, no_model_load):
    before = listing(here)
    check_error(nlu("index", "build", data_dir / "corpus.jsonl", "--out", out, "-m", st_model, "--overwrite"), 2)
    assert listing(here) == before  # no ..old.* folder left behind


def test_index_build_over_an_index_needs_overwrite(nlu, st_model, here):
    check_ok(nlu("index", "build", "in.txt", "--out", "idx", "-m", st_model))
    (here / "two.txt").write_text("one\n", encoding="utf-8")
    line = check_error(nlu("index", "build", "two.txt", "--out", "idx", "-m", st_model), 2)
    assert "--overwrite" in line
    assert _docs(here / "idx") == 2
    check_ok(nlu("index", "build", "two.txt", "--out", "idx", "-m", st_model, "--overwrite"))
    assert _docs(here / "idx") == 1
    assert listing(here) == ["idx", "in.txt", "two.txt"]  # no temp folder, no lock file


def test_index_build_into_an_empty_folder(nlu, st_model, here):
    (here / "empty").mkdir()
    check_ok(nlu("index", "build", "in.txt", "--out", "empty", "-m", st_model))
    assert "manifest.json" in listing(here / "empty")


# -- -o that is an input -------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["in.txt", "./in.txt", "link.txt"])
def test_classify_output_that_is_the_input_is_refused(nlu, nli_model, here, spelling, no_model_load):
    (here / "link.txt").symlink_to(here / "in.txt")
    result = nlu("classify", "--input", "in.txt", "--labels", "a,b", "-m", nli_model, "-o", spelling)
    check_error(result, 2, contains="also an input")
    assert (here / "in.txt").read_text() == "good film\nbad film\n"


def test_embed_output_that_is_the_input_is_refused(nlu, st_model, here, no_model_load):
    check_error(nlu("embed", "--input", "in.txt", "-m", st_model, "-o", "./in.txt"), 2, contains="also an input")
    assert (here / "in.txt").read_text() == "good film\nbad film\n"


def test_search_output_inside_the_index_is_refused(nlu, st_model, here):
    check_ok(nlu("index", "build", "in.txt", "--out", "idx", "-m", st_model))
    result = nlu("embed", "--search", "film", "--index", "idx", "-o", "idx/docs.jsonl")
    check_error(result, 2, contains="input")


def test_cluster_plot_of_unknown_type_and_clashing_outputs(nlu, st_model, here, no_model_load):
    check_error(nlu("cluster", "--input", "in.txt", "-m", st_model, "--plot", "map.xyz"), 2, contains="--plot")
    result = nlu("cluster", "--input", "in.txt", "-m", st_model, "-o", "a.jsonl", "--summary", "./a.jsonl")
    check_error(result, 2, contains="same file")
    assert listing(here) == ["in.txt"]


def test_output_folder_missing_or_a_folder(nlu, st_model, here, no_model_load):
    check_error(nlu("embed", "--input", "in.txt", "-m", st_model, "-o", "nope/v.npy"), 2, contains="does not exist")
    (here / "d").mkdir()
    check_error(nlu("ner", "--input", "in.txt", "-m", st_model, "-o", "d"), 2, contains="is a folder")


def test_read_only_output_folder_fails_before_the_job(nlu, nli_model, here, monkeypatch, no_model_load):
    (here / "ro").mkdir()
    real_access = os.access
    monkeypatch.setattr(guard.os, "access", lambda p, m, **k: Path(p).name != "ro" and real_access(p, m, **k))
    result = nlu("classify", "--input", "in.txt", "--labels", "a,b", "-m", nli_model, "-o", "ro/out.jsonl")
    check_error(result, 2, contains="permission denied")
    assert listing(here / "ro") == []


def test_full_disk_is_a_typed_error_and_leaves_nothing(nlu, st_model, here, monkeypatch):
    real = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(writers.os, "fdopen", lambda *a, **k: Full(real(*a, **k)))
    check_error(nlu("embed", "--input", "in.txt", "-m", st_model, "-o", "v.jsonl"), 2, contains="disk is full")
    assert listing(here) == ["in.txt"]


def test_index_save_on_a_full_disk_keeps_the_old_index(nlu, st_model, here, monkeypatch):
    check_ok(nlu("index", "build", "in.txt", "--out", "idx", "-m", st_model))
    before = {p.name: p.read_bytes() for p in (here / "idx").iterdir()}
    import safetensors.numpy

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.numpy, "save_file", full)
    check_error(nlu("index", "add", "idx", "in.txt"), 2, contains="disk is full")
    assert {p.name: p.read_bytes() for p in (here / "idx").iterdir()} == before
    assert listing(here) == ["idx", "in.txt"]


# -- locking and queries -------------------------------------------------------------------


def test_index_add_while_another_writer_holds_the_lock(nlu, st_model, here):
    check_ok(nlu("index", "build", "in.txt", "--out", "idx", "-m", st_model))
    with open(lock_path(here / "idx"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another writer, as far as the command can tell
        check_error(nlu("index", "add", "idx", "in.txt", "--lock-timeout", "0.2"), 1, contains="another process")
    os.unlink(lock_path(here / "idx"))
    check_ok(nlu("index", "add", "idx", "in.txt"))
    assert _docs(here / "idx") == 4
    assert listing(here) == ["idx", "in.txt"]


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_empty_search_query_is_a_usage_error(nlu, st_model, here, query, no_model_load):
    check_error(nlu("embed", "--search", query, "--corpus", "in.txt", "-m", st_model), 2, contains="empty")


def test_search_query_with_a_lone_surrogate_is_refused(nlu, st_model, here, no_model_load):
    check_error(nlu("embed", "--search", "bank\ud800", "--corpus", "in.txt", "-m", st_model), 2)


def test_search_still_works(nlu, st_model, here):
    result = nlu("embed", "--search", "good", "--corpus", "in.txt", "-m", st_model, "-f", "jsonl")
    check_ok(result)
    assert len(jsonl(result.stdout)[0]["hits"]) == 2
